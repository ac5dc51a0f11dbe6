//! The module graph stays acyclic: every `crate::<module>` reference in a file of module `m` names a
//! module of a lower layer than `m` (`crate::LAYERS`). A new cycle, or a reference upwards or
//! sideways, fails here with the file and line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::LAYERS;

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a line names through `crate::`, including `use crate::{a, b::c}`.
fn referenced_modules(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// Which top-level module a source file belongs to (`None`: the crate root or `main.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "layering")).then(|| name.to_owned())
}

#[test]
fn every_module_is_placed_in_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .collect();
    let placed: BTreeSet<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    assert_eq!(declared, placed, "lib.rs modules vs crate::LAYERS");
}

#[test]
fn modules_only_use_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(own) = layer_of(&module) else {
            violations.push(format!(
                "{}: module {module} is in no layer",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for target in referenced_modules(code) {
                if target == module || matches!(target.as_str(), "self" | "super") {
                    continue;
                }
                match layer_of(&target) {
                    Some(layer) if layer < own => {}
                    Some(_) => violations.push(format!(
                        "{}:{}: {module} (layer {own}) uses crate::{target}, which is not below it",
                        file.display(),
                        number + 1
                    )),
                    None => {}
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the module graph must stay acyclic (crate::LAYERS in lib.rs):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_reference_parser_sees_grouped_and_nested_uses() {
    assert_eq!(
        referenced_modules("use crate::{api, gateway::Gateway, http};"),
        ["api", "gateway", "http"]
    );
    assert_eq!(
        referenced_modules("let x = crate::auth::policy::CLI_OWNER; crate::error::internal(e)"),
        ["auth", "error"]
    );
    assert!(referenced_modules("use super::x;").is_empty());
}

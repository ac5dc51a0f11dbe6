//! TSX/JSX → JavaScript for extension UI modules (oxc: parse → semantic → transform → codegen), and a
//! bounded cache of the results keyed by the SHA-256 of the source, so a module is transpiled once.
//!
//! No input can crash the server: [`transpile`] first checks the size and nesting bound
//! (`complexity.rs`), and the cache runs every transpile in a child process (`isolated.rs`), because
//! oxc recurses and a stack overflow aborts the whole process whichever thread it happens on. A
//! refused or crashing module is a `422 module_too_complex` (docs/security.md "Inputs that crash").
//!
//! Not for: finding or serving resources (`ui/module.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use oxc::allocator::Allocator;
use oxc::codegen::{Codegen, CodegenOptions, IndentChar};
use oxc::diagnostics::OxcDiagnostic;
use oxc::parser::Parser;
use oxc::semantic::SemanticBuilder;
use oxc::span::SourceType;
use oxc::transformer::{JsxOptions, JsxRuntime, TransformOptions, Transformer, TypeScriptOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{OnceCell, Semaphore};

use super::complexity;
use super::isolated::transpile_in_child;

/// Why a source does not transpile: the first error diagnostic and where it points, or why it is
/// refused as too large or too deep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyntaxError {
    /// The diagnostic's text, e.g. `Unexpected token`.
    pub message: String,
    /// The diagnostic's help or label text, when it has one.
    pub hint: Option<String>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// Refused for its size or nesting (`module_too_complex`), not for its syntax.
    #[serde(default)]
    pub too_complex: bool,
}

impl SyntaxError {
    /// A `module_too_complex` refusal pointing at byte `offset` of `source`.
    pub fn too_complex(message: impl Into<String>, source: &str, offset: usize) -> Self {
        let (line, column) = line_column(source, offset);
        SyntaxError {
            message: message.into(),
            hint: Some(format!(
                "a module may be at most {} bytes and nest at most {} levels",
                complexity::MAX_MODULE_BYTES,
                complexity::MAX_NESTING
            )),
            line,
            column,
            too_complex: true,
        }
    }
}

/// The JavaScript (without the `sourceURL` comment, which depends on the URI), or the error.
pub type Outcome = Result<String, SyntaxError>;

/// Transpiles `source` as TSX: TypeScript types are stripped (only `import type` imports go; every
/// other import stays as written) and JSX uses the automatic runtime (`react/jsx-runtime`).
///
/// Refuses a source over the size or nesting bound (`complexity.rs`) before parsing. That bound does
/// not make every input safe for the caller's stack; the server calls this only in the child process
/// ([`TranspileCache`]).
pub fn transpile(source: &str) -> Outcome {
    if let Some(refused) = refusal(source) {
        return Err(refused);
    }
    let allocator = Allocator::default();
    let source_type = SourceType::tsx().with_module(true);
    let parsed = Parser::new(&allocator, source, source_type).parse();
    if let Some(error) = parsed.diagnostics.errors().next() {
        return Err(syntax_error(source, error));
    }
    let mut program = parsed.program;
    let semantic = SemanticBuilder::new()
        .with_check_syntax_error(true)
        // The transformer adds scopes, symbols and references.
        .with_excess_capacity(2.0)
        .build(&program);
    if let Some(error) = semantic.diagnostics.errors().next() {
        return Err(syntax_error(source, error));
    }
    let scoping = semantic.semantic.into_scoping();
    let options = TransformOptions {
        typescript: TypeScriptOptions {
            // Imports are resolved by the browser's import map; never elide one that looks unused.
            only_remove_type_imports: true,
            ..TypeScriptOptions::default()
        },
        jsx: JsxOptions {
            runtime: JsxRuntime::Automatic,
            import_source: None, // `react` → `react/jsx-runtime`
            ..JsxOptions::enable()
        },
        ..TransformOptions::default()
    };
    let transformed = Transformer::new(&allocator, Path::new("module.tsx"), &options)
        .build_with_scoping(scoping, &mut program);
    if let Some(error) = transformed.diagnostics.errors().next() {
        return Err(syntax_error(source, error));
    }
    let options = CodegenOptions {
        indent_char: IndentChar::Space,
        indent_width: 2,
        ..CodegenOptions::default()
    };
    Ok(Codegen::new().with_options(options).build(&program).code)
}

/// The `module_too_complex` refusal when `source` is over the size or nesting bound.
fn refusal(source: &str) -> Option<SyntaxError> {
    let e = complexity::check(source).err()?;
    let offset = match e {
        complexity::TooComplex::TooDeep { offset } => offset,
        complexity::TooComplex::TooLarge { .. } => 0,
    };
    Some(SyntaxError::too_complex(e.message(), source, offset))
}

fn syntax_error(source: &str, diagnostic: &OxcDiagnostic) -> SyntaxError {
    let label = diagnostic
        .labels
        .iter()
        .find(|l| l.primary())
        .or_else(|| diagnostic.labels.first());
    let (line, column) = label.map_or((1, 1), |l| line_column(source, l.offset() as usize));
    SyntaxError {
        message: diagnostic.message.to_string(),
        hint: diagnostic
            .help
            .as_deref()
            .or_else(|| label.and_then(|l| l.label()))
            .map(str::to_owned),
        line,
        column,
        too_complex: false,
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `source`.
pub fn line_column(source: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// SHA-256 of a source text: the cache key, and (its first 32 hex digits) the module's ETag.
pub fn source_hash(source: &str) -> [u8; 32] {
    Sha256::digest(source.as_bytes()).into()
}

/// Most entries the cache keeps.
pub const CACHE_ENTRIES: usize = 512;
/// Most bytes of source and output the cache keeps (a manifest may carry up to 1 MiB of modules).
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;

type Cell = Arc<OnceCell<Arc<Outcome>>>;

struct Entry {
    cell: Cell,
    /// Source plus output bytes, known once the cell is filled.
    bytes: usize,
    last_used: u64,
}

#[derive(Default)]
struct Entries {
    map: HashMap<[u8; 32], Entry>,
    bytes: usize,
    clock: u64,
}

impl Entries {
    /// Drops least recently used entries until both bounds hold.
    fn evict(&mut self, max_entries: usize, max_bytes: usize) {
        while self.map.len() > max_entries || (self.bytes > max_bytes && self.map.len() > 1) {
            let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k)
            else {
                return;
            };
            if let Some(e) = self.map.remove(&oldest) {
                self.bytes -= e.bytes;
            }
        }
    }
}

/// Where a transpile runs.
#[derive(Debug, Clone)]
pub enum Transpiler {
    /// `<exe> transpile-module` (`isolated.rs`): the server's own binary.
    ChildProcess(PathBuf),
    /// On a blocking thread of this process: unit tests only (the test binary has no subcommand).
    #[cfg(test)]
    InProcess,
}

impl Transpiler {
    /// The running binary, as a child process.
    pub fn this_binary() -> Self {
        // `/proc/self/exe` still works when the binary was replaced on disk while running.
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
        Transpiler::ChildProcess(exe)
    }

    async fn run(&self, source: Arc<str>) -> Outcome {
        match self {
            Transpiler::ChildProcess(exe) => {
                // Refused before spawning anything when the cheap bound already says no.
                match refusal(&source) {
                    Some(refused) => Err(refused),
                    None => transpile_in_child(exe, &source).await,
                }
            }
            #[cfg(test)]
            Transpiler::InProcess => tokio::task::spawn_blocking(move || transpile(&source))
                .await
                .expect("transpile thread"),
        }
    }
}

/// Transpile results (successes and errors) by source hash, least recently used evicted first.
/// Concurrent requests for the same source share one transpile; at most as many transpiles as
/// there are CPUs run at once.
pub struct TranspileCache {
    entries: Mutex<Entries>,
    max_entries: usize,
    max_bytes: usize,
    transpiler: Transpiler,
    running: Semaphore,
}

impl Default for TranspileCache {
    fn default() -> Self {
        TranspileCache::new(CACHE_ENTRIES, CACHE_BYTES, Transpiler::this_binary())
    }
}

impl TranspileCache {
    pub fn new(max_entries: usize, max_bytes: usize, transpiler: Transpiler) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        TranspileCache {
            entries: Mutex::default(),
            max_entries: max_entries.max(1),
            max_bytes,
            transpiler,
            running: Semaphore::new(cpus),
        }
    }

    /// Number of cached results.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves only bookkeeping behind; keep serving.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached result for `source`, transpiling it (on a blocking thread) on a miss. `uri` only
    /// labels the debug log line, which records the duration and whether it was a hit.
    pub async fn get(&self, uri: &str, source: &Arc<str>) -> Arc<Outcome> {
        let started = Instant::now();
        let key = source_hash(source);
        let cell = {
            let mut entries = self.lock();
            entries.clock += 1;
            let now = entries.clock;
            let entry = entries.map.entry(key).or_insert_with(|| Entry {
                cell: Cell::default(),
                bytes: 0,
                last_used: now,
            });
            entry.last_used = now;
            entry.cell.clone()
        };
        let mut transpiled = false;
        let outcome = cell
            .get_or_init(|| {
                transpiled = true;
                let source = source.clone();
                async move {
                    let _permit = self.running.acquire().await.expect("never closed");
                    Arc::new(self.transpiler.run(source).await)
                }
            })
            .await
            .clone();
        if transpiled {
            let size = source.len() + outcome.as_ref().as_ref().map_or(0, String::len);
            let mut entries = self.lock();
            // The entry may have been evicted meanwhile; then there is nothing to account for.
            if let Some(entry) = entries.map.get_mut(&key)
                && Arc::ptr_eq(&entry.cell, &cell)
            {
                entry.bytes = size;
                entries.bytes += size;
            }
            entries.evict(self.max_entries, self.max_bytes);
        }
        tracing::debug!(
            uri,
            cache = if transpiled { "miss" } else { "hit" },
            ok = outcome.is_ok(),
            micros = started.elapsed().as_micros() as u64,
            "ui module transpiled"
        );
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsx_uses_the_automatic_runtime_and_keeps_imports() {
        let source = r#"import React, { useState } from "react";
import { kv } from "@symphony";
import Other from "@symphony/extension/catalog/list";
export default function Home() {
  const [n] = useState(0);
  return <><h1 className="t">Items {n}</h1><Other /></>;
}
"#;
        let js = transpile(source).unwrap();
        assert!(js.contains("\"react/jsx-runtime\""), "{js}");
        assert!(!js.contains("<h1"), "{js}");
        // `React` is unused after the automatic runtime; it stays anyway (the import map resolves it).
        assert!(
            js.contains("import React, { useState } from \"react\""),
            "{js}"
        );
        assert!(js.contains("from \"@symphony\""), "{js}");
        assert!(
            js.contains("from \"@symphony/extension/catalog/list\""),
            "{js}"
        );
        assert!(!js.contains('\t'), "indented with spaces: {js}");
    }

    #[test]
    fn typescript_types_are_stripped() {
        let source = r#"import type { Item } from "@symphony";
interface Props { items: Item[]; title?: string }
type Id = string;
export function List({ items, title }: Props): JSX.Element {
  const id = "x" as Id;
  return <ul id={id}>{items.map((i: Item) => <li key={i.id}>{i.name}</li>)}</ul>;
}
"#;
        let js = transpile(source).unwrap();
        for ts in [
            "interface",
            "type Id",
            ": Props",
            "as Id",
            ": Item",
            "import type",
            "JSX.Element",
        ] {
            assert!(!js.contains(ts), "{ts:?} left in {js}");
        }
        assert!(js.contains("export function List"), "{js}");
    }

    #[test]
    fn a_syntax_error_points_at_its_line_and_column() {
        let source = "import React from \"react\";\n\nexport default function A() {\n  return <div>{1 +}</div>;\n}\n";
        let e = transpile(source).unwrap_err();
        assert!(!e.message.is_empty());
        assert_eq!((e.line, e.column), (4, 19), "{e:?}");
        assert!(e.message.contains("Unexpected token"), "{e:?}");
    }

    #[test]
    fn an_unclosed_tag_is_an_error_too() {
        let e = transpile("const a = <div>\n  <span>x</div>;\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
    }

    #[test]
    fn line_column_counts_characters_from_one() {
        let s = "ab\ncé\nx";
        assert_eq!(line_column(s, 0), (1, 1));
        assert_eq!(line_column(s, 2), (1, 3));
        assert_eq!(line_column(s, 3), (2, 1));
        // `é` is two bytes: the byte after it is column 3.
        assert_eq!(line_column(s, 6), (2, 3));
        assert_eq!(line_column(s, 7), (3, 1));
        assert_eq!(line_column(s, 99), (3, 2));
    }

    #[tokio::test]
    async fn a_cache_hit_returns_the_same_result_without_transpiling_again() {
        let cache = TranspileCache::new(CACHE_ENTRIES, CACHE_BYTES, Transpiler::InProcess);
        let source: Arc<str> = "export const a = <b/>;".into();
        let first = cache.get("ui://x/a", &source).await;
        let second = cache
            .get("ui://x/a", &Arc::from("export const a = <b/>;"))
            .await;
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(cache.len(), 1);

        let broken: Arc<str> = "export const = ;".into();
        let e1 = cache.get("ui://x/b", &broken).await;
        let e2 = cache.get("ui://x/b", &broken).await;
        assert!(e1.is_err());
        assert!(Arc::ptr_eq(&e1, &e2), "errors are cached too");
        assert_eq!(cache.len(), 2);
    }

    #[tokio::test]
    async fn the_cache_is_bounded_and_evicts_the_least_recently_used() {
        let cache = TranspileCache::new(2, usize::MAX, Transpiler::InProcess);
        let a: Arc<str> = "export const a = 1;".into();
        let b: Arc<str> = "export const b = 2;".into();
        let c: Arc<str> = "export const c = 3;".into();
        let first_a = cache.get("a", &a).await;
        cache.get("b", &b).await;
        cache.get("a", &a).await; // b is now the least recently used
        cache.get("c", &c).await;
        assert_eq!(cache.len(), 2);
        assert!(Arc::ptr_eq(&first_a, &cache.get("a", &a).await));
        let lock = cache.lock();
        assert!(!lock.map.contains_key(&source_hash(&b)));
        assert_eq!(
            lock.bytes,
            lock.map.values().map(|e| e.bytes).sum::<usize>()
        );
    }

    #[tokio::test]
    async fn the_byte_budget_bounds_the_cache() {
        let cache = TranspileCache::new(100, 10, Transpiler::InProcess);
        cache.get("a", &Arc::from("export const a = 1;")).await;
        cache.get("b", &Arc::from("export const b = 2;")).await;
        assert_eq!(cache.len(), 1, "over the budget, only the newest stays");
    }
}

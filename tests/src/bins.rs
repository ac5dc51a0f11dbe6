//! Where the binaries under test are: the workspace's `target/debug` and the real nats-server.

use std::path::{Path, PathBuf};

/// The workspace root (the parent of this package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `<target>/debug`: next to the running test executable when it is there (nextest and cargo test
/// run it from `<target>/debug/deps`), else `$CARGO_TARGET_DIR/debug`, else `<workspace>/target/debug`.
pub fn debug_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent().and_then(Path::parent)
        && dir.file_name().is_some_and(|n| n == "debug")
        && dir.join("symphony").exists()
    {
        return dir.to_path_buf();
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    };
    target.join("debug")
}

/// A workspace binary (`symphony`, `hello`, `catalog`, `rest-ext`).
pub fn binary(name: &str) -> PathBuf {
    let path = debug_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

pub fn symphony() -> PathBuf {
    binary("symphony")
}

pub fn hello() -> PathBuf {
    binary("hello")
}

pub fn catalog() -> PathBuf {
    binary("catalog")
}

/// The REST gateway's Rust fixture extension (`tests/fixtures/rest-ext`).
pub fn rest_ext() -> PathBuf {
    binary("rest-ext")
}

/// A test fixture file under `tests/fixtures/` (e.g. `py_caller/main.py`).
pub fn fixture(relative: &str) -> PathBuf {
    let path = workspace_root()
        .join("tests")
        .join("fixtures")
        .join(relative);
    assert!(path.is_file(), "fixture {} is missing", path.display());
    path
}

/// The project venv's Python (`scripts/bootstrap.sh` installs the Python SDK into it, editable).
pub fn venv_python() -> PathBuf {
    let path = workspace_root().join(".venv").join("bin").join("python");
    assert!(
        path.exists(),
        "{} is missing: run scripts/bootstrap.sh first",
        path.display()
    );
    path
}

/// The real nats-server: `$SYMPHONY_NATS_SERVER`, else `<workspace>/.venv/bin/nats-server` (or the
/// path `scripts/bootstrap.sh` wrote to `.venv/nats-server-path`), else `nats-server` on `PATH`.
pub fn nats_server() -> PathBuf {
    if let Some(p) = std::env::var_os("SYMPHONY_NATS_SERVER").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "SYMPHONY_NATS_SERVER={} does not exist",
            p.display()
        );
        return p;
    }
    let venv = workspace_root().join(".venv");
    let in_venv = venv.join("bin").join("nats-server");
    if in_venv.is_file() {
        return in_venv;
    }
    if let Ok(written) = std::fs::read_to_string(venv.join("nats-server-path")) {
        let p = PathBuf::from(written.trim());
        if p.is_file() {
            return p;
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("nats-server not found: run scripts/bootstrap.sh or set SYMPHONY_NATS_SERVER")
}

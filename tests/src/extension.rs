//! A running extension (`hello`, `catalog`, the fixtures under `tests/fixtures/`) with its own
//! credential directory.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::ManagedChild;

/// How long an extension may take to exit on its own.
pub const EXIT_DEADLINE: Duration = Duration::from_secs(30);

/// Environment variables that must not leak from the test's environment into an extension.
const SCRUBBED_ENV: &[&str] = &[
    "REGISTRATION_TOKEN",
    "SYMPHONY_TOKEN",
    "SYMPHONY_ADDRESS",
    "SYMPHONY_CREDENTIAL_STORE",
    "SYMPHONY_CA_FILE",
    "CIRATA_CONFIG_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "DBUS_SESSION_BUS_ADDRESS",
];

/// One extension process. Dropping it stops the process.
pub struct Extension {
    child: ManagedChild,
    config_dir: PathBuf,
    _logs: TempDir,
}

impl Extension {
    /// Starts `binary` with `SYMPHONY_CREDENTIAL_STORE=file`, `CIRATA_CONFIG_DIR=<config_dir>`
    /// (also `HOME`, so nothing touches the real home), `RUST_LOG=info` unless given, and `env`
    /// (e.g. `REGISTRATION_TOKEN`).
    pub fn spawn(binary: &Path, config_dir: &Path, env: &[(&str, &str)]) -> Extension {
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "extension".into());
        Self::spawn_command(&name, Command::new(binary), config_dir, env)
    }

    /// Starts a Python extension script with the project venv's interpreter (which has the
    /// Python SDK installed), in the same environment as [`spawn`](Extension::spawn). The label is
    /// the script's directory name (`py_caller` for `tests/fixtures/py_caller/main.py`).
    pub fn spawn_python(script: &Path, config_dir: &Path, env: &[(&str, &str)]) -> Extension {
        let name = script
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "python".into());
        let mut cmd = Command::new(crate::bins::venv_python());
        cmd.arg(script).env("PYTHONUNBUFFERED", "1");
        Self::spawn_command(&name, cmd, config_dir, env)
    }

    /// Starts `cmd` (program and arguments set) as an extension named `name` in the logs, with
    /// the environment described at [`spawn`](Extension::spawn).
    pub fn spawn_command(
        name: &str,
        mut cmd: Command,
        config_dir: &Path,
        env: &[(&str, &str)],
    ) -> Extension {
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let run = RUNS.fetch_add(1, Ordering::SeqCst);
        std::fs::create_dir_all(config_dir).expect("create the config dir");
        let logs = tempfile::Builder::new()
            .prefix(&format!("symphony-e2e-{name}-"))
            .tempdir()
            .expect("temp dir for logs");
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd.env("SYMPHONY_CREDENTIAL_STORE", "file")
            .env("CIRATA_CONFIG_DIR", config_dir)
            .env("HOME", config_dir)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = ManagedChild::spawn(&format!("{name}-{run}"), cmd, logs.path());
        Extension {
            child,
            config_dir: config_dir.to_path_buf(),
            _logs: logs,
        }
    }

    /// Starts `binary` with a registration token in `REGISTRATION_TOKEN`.
    pub fn spawn_with_token(binary: &Path, config_dir: &Path, token: &str) -> Extension {
        Self::spawn(binary, config_dir, &[("REGISTRATION_TOKEN", token)])
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.is_running()
    }

    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// Where the SDK's file credential store keeps the permanent token of `prefix`.
    pub fn stored_token_path(config_dir: &Path, prefix: &str) -> PathBuf {
        config_dir.join(format!("{prefix}.token"))
    }

    /// SIGKILL: no disconnect status is published.
    pub async fn kill9(&mut self) -> ExitStatus {
        self.child.kill9();
        self.child.wait(EXIT_DEADLINE).await
    }

    /// SIGTERM and wait (SIGKILL after a grace period).
    pub async fn terminate(&mut self) -> ExitStatus {
        self.child.terminate().await
    }

    /// SIGINT (Ctrl-C) and wait for the exit.
    pub async fn interrupt(&mut self) -> ExitStatus {
        self.child.signal(libc::SIGINT);
        self.child.wait(EXIT_DEADLINE).await
    }

    /// Waits for the process to exit on its own.
    pub async fn wait(&mut self) -> ExitStatus {
        self.child.wait(EXIT_DEADLINE).await
    }

    pub fn stdout(&self) -> String {
        self.child.stdout()
    }

    pub fn stderr(&self) -> String {
        self.child.stderr()
    }

    /// Last lines of its output.
    pub fn logs(&self, n: usize) -> String {
        self.child.tails(n)
    }
}

impl Drop for Extension {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "===== extension {} =====\n{}",
                self.child.label(),
                self.logs(60)
            );
        }
    }
}

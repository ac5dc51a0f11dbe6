//! One child process the harness owns: output captured to files, stopped on drop, never orphaned.
//!
//! Children are spawned with `std::process` from the test's own thread. `PR_SET_PDEATHSIG` fires
//! when the *thread* that forked the child exits, so never spawn from `spawn_blocking` threads
//! (they exit when idle and would take the child with them).

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a SIGTERM may take before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running (or exited) child with its output in `<log_dir>/<label>.{stdout,stderr}.log`.
pub struct ManagedChild {
    label: String,
    child: Child,
    status: Option<ExitStatus>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

/// Sends `sig` to `pid`; false when the process does not exist (any more).
pub fn signal_pid(pid: u32, sig: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Whether a process with this pid exists (and is not a zombie we could see as alive).
pub fn pid_alive(pid: u32) -> bool {
    if !signal_pid(pid, 0) {
        return false;
    }
    // A zombie still answers kill(0); check /proc for state Z.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z"),
        Err(_) => false,
    }
}

fn open_log(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open log {}: {e}", path.display()))
}

/// The last `n` lines of a file (empty when it does not exist).
pub fn tail_file(path: &Path, n: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    // Read at most the last 64 KiB: enough for `n` log lines.
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Makes the child get SIGKILL when the spawning thread (the test) dies (`PR_SET_PDEATHSIG`).
pub fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe system
    // calls (prctl, getppid, _exit); it does not allocate.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

impl ManagedChild {
    /// Spawns `cmd` with stdin closed, stdout/stderr appended to files in `log_dir`, and
    /// `PR_SET_PDEATHSIG(SIGKILL)` so it dies with the test process.
    pub fn spawn(label: &str, mut cmd: Command, log_dir: &Path) -> ManagedChild {
        std::fs::create_dir_all(log_dir).expect("create the log dir");
        let stdout_path = log_dir.join(format!("{label}.stdout.log"));
        let stderr_path = log_dir.join(format!("{label}.stderr.log"));
        cmd.stdin(Stdio::null())
            .stdout(open_log(&stdout_path))
            .stderr(open_log(&stderr_path));
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {label} ({cmd:?}): {e}"));
        ManagedChild {
            label: label.to_owned(),
            child,
            status: None,
            stdout_path,
            stderr_path,
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the child has exited (reaps it).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Sends a signal unless the child has already exited.
    pub fn signal(&mut self, sig: libc::c_int) {
        if self.try_status().is_none() {
            signal_pid(self.pid(), sig);
        }
    }

    /// SIGKILL without waiting.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
    }

    /// Waits up to `deadline` for the child to exit.
    pub async fn wait_for(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.try_status() {
                return Some(s);
            }
            if start.elapsed() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the child to exit on its own; panics (with its output) after `deadline`.
    pub async fn wait(&mut self, deadline: Duration) -> ExitStatus {
        match self.wait_for(deadline).await {
            Some(s) => s,
            None => panic!(
                "{} did not exit within {deadline:?}\n{}",
                self.label,
                self.tails(40)
            ),
        }
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`]; returns the exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        if let Some(s) = self.try_status() {
            return s;
        }
        self.signal(libc::SIGTERM);
        if let Some(s) = self.wait_for(STOP_GRACE).await {
            return s;
        }
        eprintln!("{} ignored SIGTERM; sending SIGKILL", self.label);
        self.kill9();
        self.wait(Duration::from_secs(10)).await
    }

    /// Blocking stop for `Drop`: SIGTERM, up to [`STOP_GRACE`], then SIGKILL and reap.
    pub fn stop_blocking(&mut self) {
        if self.try_status().is_some() {
            return;
        }
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < STOP_GRACE {
            if self.try_status().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        eprintln!("{} ignored SIGTERM; sending SIGKILL", self.label);
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn stdout_path(&self) -> &Path {
        &self.stdout_path
    }

    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// The last `n` lines of stdout and stderr, labelled.
    pub fn tails(&self, n: usize) -> String {
        format!(
            "----- {label} stdout (last {n} lines) -----\n{}\n----- {label} stderr (last {n} lines) -----\n{}\n",
            tail_file(&self.stdout_path, n),
            tail_file(&self.stderr_path, n),
            label = self.label,
        )
    }
}

impl Drop for ManagedChild {
    fn drop(&mut self) {
        self.stop_blocking();
    }
}

/// A readable description of an exit status (`exit 1`, `signal 9`).
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => format!("{status:?}"),
    }
}

//! The [`Supervisor`]: one nats-server child, started, restarted with backoff, stopped.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::host_port;

/// First delay before restarting a child that exited.
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// Largest delay between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A child that ran at least this long restarts after [`INITIAL_BACKOFF`] again.
const BACKOFF_RESET_UPTIME: Duration = Duration::from_secs(30);
/// How long [`Supervisor::stop`] waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How many log lines a readiness error shows.
const LOG_TAIL_LINES: usize = 20;

/// Restart delays: 200 ms doubling up to 5 s, back to 200 ms after 30 s of uptime.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self {
            next: INITIAL_BACKOFF,
        }
    }

    /// The delay before restarting a child that ran for `uptime`; advances the sequence.
    fn after_exit(&mut self, uptime: Duration) -> Duration {
        if uptime >= BACKOFF_RESET_UPTIME {
            self.next = INITIAL_BACKOFF;
        }
        self.after_failed_spawn()
    }

    /// The delay before the next attempt when spawning failed; advances the sequence.
    fn after_failed_spawn(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        delay
    }
}

/// What the supervising task needs to (re)spawn the child.
#[derive(Debug)]
struct ChildSpec {
    binary: PathBuf,
    config_path: PathBuf,
    log_path: PathBuf,
    pid_path: PathBuf,
}

/// State shared between the [`Supervisor`] handle and its task.
#[derive(Debug, Default)]
struct Shared {
    /// Pid of the running child; 0 while none runs.
    pid: AtomicU32,
    /// How many times the child was restarted.
    restarts: AtomicU64,
}

/// Owns one nats-server child process and keeps it running.
///
/// When the child exits on its own it is restarted (200 ms doubling up to 5 s between attempts,
/// reset after 30 s of uptime), each time with a `tracing::warn!`. [`Supervisor::stop`] ends it
/// with SIGTERM, then SIGKILL after 10 s. Dropping the handle without `stop` also stops the child
/// (in the background, if the runtime is still running; otherwise `kill_on_drop` kills it).
#[derive(Debug)]
pub struct Supervisor {
    shared: Arc<Shared>,
    log_path: PathBuf,
    /// Length of the log when this supervisor started: what comes after is this run's.
    log_start: u64,
    stop_tx: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// nats-server could not listen: another process holds one of its ports.
#[derive(Debug, thiserror::Error)]
#[error("nats-server cannot listen: {line}")]
pub struct PortTaken {
    /// nats-server's own log line.
    pub line: String,
}

/// The first line of `log_path` after byte `from` saying a port is taken, if any.
fn port_taken(log_path: &Path, from: u64) -> Option<String> {
    let text = std::fs::read(log_path).ok()?;
    let from = usize::try_from(from).unwrap_or(usize::MAX).min(text.len());
    String::from_utf8_lossy(&text[from..])
        .lines()
        .find(|l| l.contains("address already in use"))
        .map(|l| l.trim().to_owned())
}

impl Supervisor {
    /// Starts `binary -c config_path`, output appended to `log_path`, its pid written to
    /// `pid_path` (rewritten on every restart, removed on stop). Returns once the process has been
    /// spawned; use [`Supervisor::wait_ready`] to wait until it accepts clients.
    pub async fn start(
        binary: PathBuf,
        config_path: PathBuf,
        log_path: PathBuf,
        pid_path: PathBuf,
    ) -> anyhow::Result<Supervisor> {
        for path in [&log_path, &pid_path] {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("could not create directory {}", dir.display()))?;
            }
        }
        let log_start = std::fs::metadata(&log_path).map_or(0, |m| m.len());
        let spec = ChildSpec {
            binary,
            config_path,
            log_path,
            pid_path,
        };
        let shared = Arc::new(Shared::default());
        let child = spawn_child(&spec, &shared).with_context(|| {
            format!(
                "could not start {} -c {} (log: {})",
                spec.binary.display(),
                spec.config_path.display(),
                spec.log_path.display()
            )
        })?;
        let log_path = spec.log_path.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(supervise(child, spec, Arc::clone(&shared), stop_rx));
        Ok(Supervisor {
            shared,
            log_path,
            log_start,
            stop_tx,
            task,
        })
    }

    /// Pid of the running child, `None` between an exit and its restart.
    pub fn pid(&self) -> Option<u32> {
        match self.shared.pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// How many times the child has been restarted after exiting on its own.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::SeqCst)
    }

    /// The log file the child's stdout and stderr are appended to.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Waits until a TCP client on `host:port` receives nats-server's `INFO ` greeting.
    ///
    /// Fails after `timeout` with an error naming the log file and showing its last lines.
    pub async fn wait_ready(&self, host: &str, port: u16, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last_error;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let attempt = remaining.min(Duration::from_secs(2));
            match tokio::time::timeout(attempt, probe_info(host, port)).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => last_error = e.to_string(),
                Err(_) => last_error = format!("no INFO line within {attempt:?}"),
            }
            // A taken port never frees itself for this run: say so now, typed, not after `timeout`.
            if let Some(line) = port_taken(&self.log_path, self.log_start) {
                return Err(PortTaken { line }.into());
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            tokio::time::sleep(remaining.min(Duration::from_millis(50))).await;
        }
        anyhow::bail!(
            "nats-server is not ready on {} after {timeout:?} (last error: {last_error}); \
             its log is {}, ending with:\n{}",
            host_port(host, port),
            self.log_path.display(),
            log_tail(&self.log_path, LOG_TAIL_LINES)
        )
    }

    /// Stops the child (SIGTERM, SIGKILL after 10 s) and the restarting; returns once it is reaped.
    pub async fn stop(self) {
        let Supervisor { stop_tx, task, .. } = self;
        // Ignored error: the task has already finished (it only ends when told to stop).
        let _ = stop_tx.send(true);
        if let Err(e) = task.await {
            tracing::error!(error = %e, "nats-server supervisor task failed");
        }
    }
}

/// Spawns one child per `spec`, records its pid (shared state and pid file).
fn spawn_child(spec: &ChildSpec, shared: &Shared) -> std::io::Result<Child> {
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log_path)?;
    let now = symphony_protocol::time::now_unix();
    writeln!(
        log,
        "=== symphony: starting {} -c {} (unix time {now}) ===",
        spec.binary.display(),
        spec.config_path.display()
    )?;

    let mut cmd = Command::new(&spec.binary);
    cmd.arg("-c")
        .arg(&spec.config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group, so a terminal's Ctrl-C reaches only us and we stop it in order
        // (instead of it dying first and being restarted while we shut down).
        .process_group(0)
        .kill_on_drop(true);
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id();
        // SAFETY: the closure runs in the forked child before exec, so it must only make
        // async-signal-safe calls and must not allocate: prctl(2) and getppid(2) are plain system
        // calls, and the error values are built from raw OS error codes without allocating.
        // PR_SET_PDEATHSIG fires when the *thread* that forked exits; we spawn from tokio runtime
        // threads, which live as long as the runtime, and `kill_on_drop` covers runtime shutdown.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                ) == -1
                {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl; then nobody would kill us.
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    let child = cmd.spawn()?;
    let pid = child.id().unwrap_or(0);
    shared.pid.store(pid, Ordering::SeqCst);
    if let Err(e) = std::fs::write(&spec.pid_path, format!("{pid}\n")) {
        tracing::warn!(
            path = %spec.pid_path.display(),
            error = %e,
            "could not write the nats-server pid file"
        );
    }
    Ok(child)
}

/// The supervising task: restarts the child when it exits, stops it when told to (or when the
/// [`Supervisor`] handle is dropped, which closes the channel).
async fn supervise(
    mut child: Child,
    spec: ChildSpec,
    shared: Arc<Shared>,
    mut stop_rx: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new();
    let mut started = Instant::now();
    loop {
        tokio::select! {
            status = child.wait() => {
                shared.pid.store(0, Ordering::SeqCst);
                let uptime = started.elapsed();
                let mut delay = backoff.after_exit(uptime);
                let status = match status {
                    Ok(status) => status.to_string(),
                    Err(e) => format!("unknown ({e})"),
                };
                tracing::warn!(
                    %status,
                    uptime_ms = uptime.as_millis() as u64,
                    restart_in_ms = delay.as_millis() as u64,
                    log = %spec.log_path.display(),
                    "nats-server exited unexpectedly; restarting it"
                );
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = stop_rx.changed() => {
                            remove_pid_file(&spec.pid_path);
                            return;
                        }
                    }
                    match spawn_child(&spec, &shared) {
                        Ok(new_child) => {
                            child = new_child;
                            started = Instant::now();
                            let restarts = shared.restarts.fetch_add(1, Ordering::SeqCst) + 1;
                            tracing::warn!(
                                pid = child.id().unwrap_or(0),
                                restarts,
                                "nats-server restarted"
                            );
                            break;
                        }
                        Err(e) => {
                            delay = backoff.after_failed_spawn();
                            tracing::warn!(
                                error = %e,
                                binary = %spec.binary.display(),
                                retry_in_ms = delay.as_millis() as u64,
                                "could not restart nats-server"
                            );
                        }
                    }
                }
            }
            // A send or the handle being dropped (an error) both mean: stop.
            _ = stop_rx.changed() => {
                terminate(&mut child).await;
                shared.pid.store(0, Ordering::SeqCst);
                remove_pid_file(&spec.pid_path);
                return;
            }
        }
    }
}

/// SIGTERM, wait up to [`STOP_GRACE`], then SIGKILL; the child is reaped in every case.
async fn terminate(child: &mut Child) {
    let Some(pid) = child.id() else {
        return; // already reaped
    };
    let Ok(raw_pid) = libc::pid_t::try_from(pid) else {
        let _ = child.kill().await;
        return;
    };
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own unreaped child (`id()`
    // returns None once it was reaped), so the pid cannot have been reused by another process.
    unsafe {
        libc::kill(raw_pid, libc::SIGTERM);
    }
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(Ok(status)) => tracing::debug!(pid, %status, "nats-server stopped"),
        Ok(Err(e)) => tracing::warn!(pid, error = %e, "could not wait for nats-server"),
        Err(_) => {
            tracing::warn!(
                pid,
                "nats-server did not stop within {STOP_GRACE:?} of SIGTERM; killing it"
            );
            if let Err(e) = child.kill().await {
                tracing::warn!(pid, error = %e, "could not kill nats-server");
            }
        }
    }
}

fn remove_pid_file(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(
            path = %path.display(),
            error = %e,
            "could not remove the nats-server pid file"
        );
    }
}

/// Connects to `host:port` and reads the first line, which must be nats-server's `INFO {...}`.
async fn probe_info(host: &str, port: u16) -> std::io::Result<()> {
    let stream = TcpStream::connect((host, port)).await?;
    let mut reader = BufReader::new(stream).take(64 * 1024);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).await?;
    if line.starts_with(b"INFO ") {
        Ok(())
    } else {
        let shown = String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("expected an INFO line, got {shown:?}"),
        ))
    }
}

/// The last `n` lines of the log file, indented, or why it could not be read.
fn log_tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                return "  (the log is empty)".into();
            }
            lines[lines.len().saturating_sub(n)..]
                .iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Err(e) => format!("  (could not read the log: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::embedded::config::{quote, quote_path};
    use crate::bus::embedded::{find_nats_server, free_port};

    #[test]
    fn backoff_doubles_caps_and_resets_after_long_uptime() {
        let mut b = Backoff::new();
        let short = Duration::from_secs(1);
        let delays: Vec<u64> = (0..7)
            .map(|_| b.after_exit(short).as_millis() as u64)
            .collect();
        assert_eq!(delays, [200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(b.after_exit(BACKOFF_RESET_UPTIME), INITIAL_BACKOFF);
        assert_eq!(b.after_failed_spawn(), Duration::from_millis(400));
    }

    #[test]
    fn log_tail_shows_last_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("nats.log");
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&log, text).unwrap();
        let tail = log_tail(&log, 3);
        assert_eq!(tail, "  line 28\n  line 29\n  line 30");
        assert!(log_tail(&tmp.path().join("missing.log"), 3).contains("could not read"));
    }

    fn process_exists(pid: u32) -> bool {
        // SAFETY: signal 0 only checks whether the process exists; no signal is sent.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }

    /// The nats-server binary, or `None` (the test is skipped) when there is none.
    fn nats_binary() -> Option<PathBuf> {
        find_nats_server(None)
            .inspect_err(|e| eprintln!("skipping: {e}"))
            .ok()
    }

    /// A minimal config in `dir` listening on 127.0.0.1:`port`, with JetStream.
    fn write_config(dir: &Path, port: u16) -> PathBuf {
        let config_path = dir.join("nats.conf");
        std::fs::write(
            &config_path,
            format!(
                "listen: {}\njetstream {{ store_dir: {} }}\n",
                quote(&host_port("127.0.0.1", port)),
                quote_path(&dir.join("js"))
            ),
        )
        .unwrap();
        config_path
    }

    /// A port another process holds is reported as `PortTaken` (not after the whole wait), and
    /// only this run's log counts: an old line about a taken port does not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_taken_port_is_reported_as_such() {
        let Some(binary) = nats_binary() else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        let config_path = write_config(tmp.path(), port);
        let log_path = tmp.path().join("nats.log");
        std::fs::write(&log_path, "an earlier run: bind: address already in use\n").unwrap();
        assert_eq!(
            port_taken(&log_path, 0).as_deref(),
            Some("an earlier run: bind: address already in use")
        );
        let start = std::fs::metadata(&log_path).unwrap().len();
        assert_eq!(
            port_taken(&log_path, start),
            None,
            "an earlier run's line does not count"
        );

        let sup = Supervisor::start(binary, config_path, log_path, tmp.path().join("nats.pid"))
            .await
            .unwrap();
        let err = sup
            .wait_ready("127.0.0.1", port, Duration::from_secs(60))
            .await
            .unwrap_err();
        let taken = err.downcast_ref::<PortTaken>().expect("a PortTaken error");
        assert!(taken.line.contains(&port.to_string()), "{}", taken.line);
        sup.stop().await;
        drop(holder);
    }

    /// Start → ready → SIGKILL → restarted and ready again → stop leaves no process.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn supervisor_restarts_a_killed_server_and_stops_it() {
        let Some(binary) = nats_binary() else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let port = free_port("127.0.0.1").unwrap();
        let config_path = write_config(tmp.path(), port);
        let log_path = tmp.path().join("logs/nats.log");
        let pid_path = tmp.path().join("nats.pid");
        let generous = Duration::from_secs(60);

        let sup = Supervisor::start(binary, config_path, log_path.clone(), pid_path.clone())
            .await
            .unwrap();
        sup.wait_ready("127.0.0.1", port, generous).await.unwrap();
        let first = sup.pid().expect("a running child");
        let written: u32 = std::fs::read_to_string(&pid_path)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(written, first);

        // SAFETY: sends SIGKILL to the child we just started.
        assert_eq!(
            unsafe { libc::kill(first as libc::pid_t, libc::SIGKILL) },
            0
        );
        let deadline = Instant::now() + generous;
        let second = loop {
            match sup.pid() {
                Some(pid) if pid != first => break pid,
                _ => {
                    assert!(Instant::now() < deadline, "nats-server was not restarted");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        sup.wait_ready("127.0.0.1", port, generous).await.unwrap();
        assert_eq!(sup.restarts(), 1);
        assert!(!process_exists(first), "the killed child was not reaped");
        let written: u32 = std::fs::read_to_string(&pid_path)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(written, second);

        sup.stop().await;
        assert!(!process_exists(second), "nats-server still runs after stop");
        assert!(!pid_path.exists(), "pid file left behind");
        let log = std::fs::read_to_string(&log_path).unwrap();
        assert_eq!(log.matches("=== symphony: starting").count(), 2, "{log}");
    }

    #[tokio::test]
    async fn wait_ready_error_names_the_log() {
        let tmp = tempfile::tempdir().unwrap();
        let log_path = tmp.path().join("nats.log");
        let pid_path = tmp.path().join("nats.pid");
        // `/bin/sh -c <file>` runs the "config" as a script: it prints a line and exits, so the
        // supervisor keeps restarting it and nothing ever listens on the port.
        let script = tmp.path().join("fake.sh");
        std::fs::write(&script, "echo fake server failed to start\nexit 1\n").unwrap();
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let sup = Supervisor::start(PathBuf::from("/bin/sh"), script, log_path.clone(), pid_path)
            .await
            .unwrap();
        let port = free_port("127.0.0.1").unwrap();
        let err = sup
            .wait_ready("127.0.0.1", port, Duration::from_secs(2))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(&log_path.display().to_string()), "{err}");
        assert!(err.contains("fake server failed to start"), "{err}");
        sup.stop().await;
    }
}

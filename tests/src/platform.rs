//! A running `symphony serve` in a temp data dir, plus the CLI and HTTP calls tests make against it.

use crate::OfKey;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context as _, bail};
use symphony_protocol::Token;
use symphony_protocol::messages::{ApiKey, ExtensionState, ExtensionView, PortsFile};
use tempfile::TempDir;

use crate::keyconn::KeyConn;
use crate::poll::{DEFAULT_DEADLINE, SERVER_START_DEADLINE, eventually};
use crate::process::{ManagedChild, signal_pid, tail_file};
use crate::{bins, http_client, init_crypto};

/// How long one CLI call may take.
const CLI_DEADLINE: Duration = Duration::from_secs(60);

/// How to start `symphony serve`.
#[derive(Debug, Clone, Default)]
pub struct PlatformOptions {
    /// `--heartbeat` (e.g. `1s`).
    pub heartbeat: Option<String>,
    /// `--status-ttl` (e.g. `3s`).
    pub status_ttl: Option<String>,
    /// External mode: `--nats-url a,b,c` (no embedded nats-server). The data dir must already hold
    /// an identity (`symphony init`), so pass `data_dir` too.
    pub nats_urls: Vec<String>,
    /// Use this data dir instead of a fresh temp one (the caller keeps it alive).
    pub data_dir: Option<PathBuf>,
    /// `--nats-port` of the embedded nats-server (default: a free one), e.g. to watch it while
    /// the server starts again on the same data dir.
    pub nats_port: Option<u16>,
    /// More `serve` arguments.
    pub extra_args: Vec<String>,
    /// `SYMPHONY_ADMIN_PASSWORD` for the first start (user `admin`). `None`: the server generates
    /// one and prints it once to its stderr.
    pub admin_password: Option<String>,
    /// `--host` (default `127.0.0.1`). `0.0.0.0` listens on every interface, so the server is also
    /// reachable as `127.0.0.2` (a loopback address that a self-signed certificate does not name).
    pub host: Option<String>,
}

impl PlatformOptions {
    /// Short heartbeat and status TTL, so status tests finish in seconds.
    pub fn fast() -> Self {
        PlatformOptions::default().heartbeat("1s").status_ttl("3s")
    }

    pub fn heartbeat(mut self, d: &str) -> Self {
        self.heartbeat = Some(d.to_owned());
        self
    }

    pub fn status_ttl(mut self, d: &str) -> Self {
        self.status_ttl = Some(d.to_owned());
        self
    }

    /// Sets `SYMPHONY_ADMIN_PASSWORD` (the password of user `admin`, created on the first start).
    pub fn admin_password(mut self, password: &str) -> Self {
        self.admin_password = Some(password.to_owned());
        self
    }

    /// `--host <host>` instead of `127.0.0.1`.
    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }

    /// `--tls-self-signed`: HTTPS, `tls://` NATS and `wss://`, with a local CA in
    /// `<data dir>/tls/ca.pem` that the harness then trusts (docs/protocol.md §10).
    ///
    /// Run such tests with `#[tokio::test(flavor = "multi_thread")]`: the harness's client speaks
    /// HTTP/2 over TLS, and the server's graceful shutdown waits for it to answer a PING, which a
    /// current-thread runtime blocked in `Drop` cannot do (the stop would take the full grace).
    pub fn tls_self_signed(self) -> Self {
        self.arg("--tls-self-signed")
    }

    /// One more `serve` argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_owned());
        self
    }

    pub fn external(mut self, data_dir: &Path, nats_urls: Vec<String>) -> Self {
        self.data_dir = Some(data_dir.to_path_buf());
        self.nats_urls = nats_urls;
        self
    }
}

/// One `symphony serve` process. Dropping it stops the server (and so its nats-server child).
pub struct Platform {
    server: ManagedChild,
    pub ports: PortsFile,
    data_dir: PathBuf,
    http: reqwest::Client,
    /// The CA the server's certificate chains to (`ports.json` `tls_ca`), when it serves TLS.
    tls_ca: Option<PathBuf>,
    _tmp: TempDir,
}

/// Runs `symphony <args>` to completion (killed after a deadline).
pub async fn run_symphony<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let mut cmd = tokio::process::Command::new(bins::symphony());
    cmd.args(&args)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    crate::process::die_with_parent(cmd.as_std_mut());
    match tokio::time::timeout(CLI_DEADLINE, cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("run symphony {args:?}: {e}"),
        Err(_) => panic!("symphony {args:?} did not finish within {CLI_DEADLINE:?}"),
    }
}

/// Runs `symphony <args>`, asserts success, returns stdout.
pub async fn run_symphony_ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = run_symphony(&args).await;
    assert!(
        out.status.success(),
        "symphony {args:?} failed ({})\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("CLI stdout is UTF-8")
}

/// `symphony init --data-dir <dir>`: creates the identity for external mode.
pub async fn init_data_dir(dir: &Path) {
    std::fs::create_dir_all(dir).expect("create the data dir");
    run_symphony_ok([
        OsStr::new("init"),
        OsStr::new("--data-dir"),
        dir.as_os_str(),
    ])
    .await;
}

/// A CLI that "prints ONLY the token": stdout must be exactly one parsable token.
fn token_from_stdout(stdout: &str, what: &str) -> String {
    let token = stdout.trim();
    assert!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "{what} must print only the token; stdout was {stdout:?}"
    );
    if let Err(e) = Token::parse(token) {
        panic!("{what} printed {token:?}, which is not a token: {e}");
    }
    token.to_owned()
}

/// The key id of a token.
pub fn key_id_of(token: &str) -> String {
    Token::parse(token)
        .unwrap_or_else(|e| panic!("not a token ({e})"))
        .key_id
        .to_string()
}

/// A `PortsFile` of zeros until the real one is read, built from its required fields only (so
/// fields the protocol adds with a default do not break the harness).
fn placeholder_ports() -> PortsFile {
    serde_json::from_value(serde_json::json!({
        "http": 0, "nats": 0, "websocket": 0, "http_url": "", "nats_url": "", "pid": 0
    }))
    .expect("the required fields of ports.json")
}

impl Platform {
    /// Starts `symphony serve` on free loopback ports and waits for `ports.json`.
    pub async fn start(opts: PlatformOptions) -> Platform {
        init_crypto();
        let tmp = tempfile::Builder::new()
            .prefix("symphony-e2e-")
            .tempdir()
            .expect("create a temp dir");
        let data_dir = opts
            .data_dir
            .clone()
            .unwrap_or_else(|| tmp.path().join("data"));
        std::fs::create_dir_all(&data_dir).expect("create the data dir");
        let mut cmd = Command::new(bins::symphony());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--host", opts.host.as_deref().unwrap_or("127.0.0.1")])
            .args(["--http", "0"]);
        if opts.nats_urls.is_empty() {
            let nats_port = opts.nats_port.unwrap_or(0).to_string();
            cmd.args(["--nats-port", nats_port.as_str(), "--ws-port", "0"])
                .arg("--nats-server")
                .arg(bins::nats_server());
        } else {
            cmd.arg("--nats-url").arg(opts.nats_urls.join(","));
        }
        if let Some(h) = &opts.heartbeat {
            cmd.args(["--heartbeat", h]);
        }
        if let Some(t) = &opts.status_ttl {
            cmd.args(["--status-ttl", t]);
        }
        cmd.args(&opts.extra_args);
        if let Some(password) = &opts.admin_password {
            cmd.env("SYMPHONY_ADMIN_PASSWORD", password);
        }
        cmd.env(
            "RUST_LOG",
            std::env::var("SYMPHONY_TEST_LOG").unwrap_or_else(|_| "info".into()),
        );
        let server = ManagedChild::spawn("symphony-serve", cmd, &tmp.path().join("logs"));
        let mut platform = Platform {
            server,
            ports: placeholder_ports(),
            data_dir,
            http: http_client(),
            tls_ca: None,
            _tmp: tmp,
        };
        platform.ports = platform.wait_for_ports().await;
        if let Some(ca) = platform.ports.tls_ca.clone() {
            let ca = PathBuf::from(ca);
            platform.http = crate::http_client_trusting(&ca);
            platform.tls_ca = Some(ca);
        }
        platform
    }

    async fn wait_for_ports(&mut self) -> PortsFile {
        let path = self.data_dir.join("ports.json");
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.server.try_status() {
                panic!(
                    "symphony serve exited ({}) before writing {}\n{}",
                    crate::process::describe(status),
                    path.display(),
                    self.logs(60)
                );
            }
            if let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(ports) = serde_json::from_str::<PortsFile>(&text)
            {
                return ports;
            }
            if start.elapsed() > SERVER_START_DEADLINE {
                panic!(
                    "symphony serve did not write {} within {SERVER_START_DEADLINE:?}\n{}",
                    path.display(),
                    self.logs(60)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `http://127.0.0.1:<port>` (`https://` when the server serves TLS): where this test reaches
    /// the server. (`ports.http_url` is the server's own idea of its URL; with `--public-url` it
    /// may name another host.)
    pub fn http_url(&self) -> String {
        let scheme = if self.tls_ca.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.ports.http)
    }

    /// The HTTP client the harness uses for this server (no proxies, short connect timeout; with
    /// TLS it also trusts the server's CA).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The PEM CA the server's certificate chains to (`ports.json` `tls_ca`), when it serves TLS.
    pub fn tls_ca(&self) -> Option<&Path> {
        self.tls_ca.as_deref()
    }

    pub fn nats_url(&self) -> &str {
        &self.ports.nats_url
    }

    /// Pid of the `symphony serve` process.
    pub fn server_pid(&self) -> u32 {
        self.server.pid()
    }

    /// The `symphony serve` process.
    pub fn server(&mut self) -> &mut ManagedChild {
        &mut self.server
    }

    /// Server output and the embedded nats-server's logs (last `n` lines each).
    pub fn logs(&self, n: usize) -> String {
        let mut out = self.server.tails(n);
        if let Ok(entries) = std::fs::read_dir(self.data_dir.join("nats")) {
            for entry in entries.flatten() {
                let p = entry.path();
                if p.extension().is_some_and(|e| e == "log") {
                    out.push_str(&format!(
                        "----- {} (last {n} lines) -----\n{}\n",
                        p.display(),
                        tail_file(&p, n)
                    ));
                }
            }
        }
        out
    }

    // ----- CLI -----

    /// `symphony <args> --data-dir <data dir>`, raw output.
    pub async fn cli_output(&self, args: &[&str]) -> Output {
        let mut all: Vec<OsString> = args.iter().map(OsString::from).collect();
        all.push("--data-dir".into());
        all.push(self.data_dir.clone().into_os_string());
        run_symphony(all).await
    }

    /// `symphony <args> --data-dir <data dir>`; asserts success and returns stdout.
    pub async fn cli(&self, args: &[&str]) -> String {
        let out = self.cli_output(args).await;
        assert!(
            out.status.success(),
            "symphony {args:?} failed ({})\nstdout: {}\nstderr: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.logs(20)
        );
        String::from_utf8(out.stdout).expect("CLI stdout is UTF-8")
    }

    /// `symphony token create --registration`: a fresh registration token.
    pub async fn token_create_registration(&self) -> String {
        self.token_create_registration_with(&[]).await
    }

    /// `symphony token create --registration <extra…>` (e.g. `--expires 1s`).
    pub async fn token_create_registration_with(&self, extra: &[&str]) -> String {
        let mut args = vec!["token", "create", "--registration"];
        args.extend_from_slice(extra);
        let out = self.cli(&args).await;
        token_from_stdout(&out, "symphony token create --registration")
    }

    /// `symphony key create --capability <c>… [--prefix P] [--bucket B]…`.
    pub async fn key_create(
        &self,
        caps: &[&str],
        prefix: Option<&str>,
        buckets: &[&str],
    ) -> String {
        let mut args: Vec<&str> = Vec::new();
        for c in caps {
            args.extend(["--capability", c]);
        }
        if let Some(p) = prefix {
            args.extend(["--prefix", p]);
        }
        for b in buckets {
            args.extend(["--bucket", b]);
        }
        self.key_create_with(&args).await
    }

    /// `symphony key create <args…>`.
    pub async fn key_create_with(&self, args: &[&str]) -> String {
        let mut all = vec!["key", "create"];
        all.extend_from_slice(args);
        let out = self.cli(&all).await;
        token_from_stdout(&out, "symphony key create")
    }

    /// `symphony extension list --json`.
    pub async fn extensions(&self) -> Vec<ExtensionView> {
        self.try_extensions()
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", self.logs(20)))
    }

    /// `symphony extension list --json`, errors instead of panics (for polling).
    pub async fn try_extensions(&self) -> anyhow::Result<Vec<ExtensionView>> {
        let out = self.cli_output(&["extension", "list", "--json"]).await;
        if !out.status.success() {
            bail!(
                "symphony extension list failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "`symphony extension list --json` is not [ExtensionView]: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The view of one extension from `symphony extension list --json`.
    pub async fn try_extension(&self, prefix: &str) -> anyhow::Result<ExtensionView> {
        self.try_extensions()
            .await?
            .into_iter()
            .find(|v| v.prefix == prefix)
            .with_context(|| format!("extension {prefix:?} is not listed"))
    }

    /// Polls `symphony extension list` until `prefix` satisfies `check`.
    pub async fn wait_extension<F>(&self, prefix: &str, what: &str, check: F) -> ExtensionView
    where
        F: Fn(&ExtensionView) -> anyhow::Result<()>,
    {
        eventually(what, DEFAULT_DEADLINE, || async {
            let view = self.try_extension(prefix).await?;
            check(&view).with_context(|| format!("view: {}", summarize(&view)))?;
            Ok(view)
        })
        .await
    }

    /// Waits until `prefix` is `OK` with an `ok` instance whose id is `instance_id`.
    pub async fn wait_instance_ok(&self, prefix: &str, instance_id: &str) -> ExtensionView {
        self.wait_extension(
            prefix,
            &format!("{prefix} OK with instance {instance_id}"),
            |v| {
                anyhow::ensure!(v.state == ExtensionState::Ok, "state is {:?}", v.state);
                anyhow::ensure!(
                    v.instances.iter().any(|i| i.of_key(instance_id)
                        && i.state == symphony_protocol::messages::InstanceState::Ok),
                    "no ok instance {instance_id}"
                );
                Ok(())
            },
        )
        .await
    }

    // ----- HTTP -----

    /// `<http_url>/api/v1<path>`.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.http_url())
    }

    /// `GET /api/v1<path>`, optionally with `Authorization: Bearer <token>`.
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.api_url(path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.logs(20)))
    }

    /// `GET /api/v1<path>` without panicking on transport errors (for polling while NATS restarts).
    pub async fn try_get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self.http.get(self.api_url(path)).send().await?)
    }

    /// `GET /api/v1/apikey` with the token.
    pub async fn apikey(&self, token: &str) -> reqwest::Response {
        self.get("/apikey", Some(token)).await
    }

    /// Exchanges a token for its API key; panics unless the server answers 200 with an `ApiKey`.
    pub async fn exchange(&self, token: &str) -> ApiKey {
        let resp = self.apikey(token).await;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "GET /api/v1/apikey: HTTP {status}: {body}"
        );
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET /api/v1/apikey is not an ApiKey ({e}): {body}"))
    }

    /// Exchanges the token and connects to NATS as that key (JWT + nonce signature + inbox prefix),
    /// trusting the server's CA when it serves TLS.
    pub async fn connect_as(&self, token: &str) -> KeyConn {
        let key = self.exchange(token).await;
        let urls = key.nats_urls.clone();
        match KeyConn::try_connect_with_ca(key, &urls, self.tls_ca()).await {
            Ok(c) => c,
            Err(e) => panic!("connect to {urls:?} as a key: {e}\n{}", self.logs(20)),
        }
    }

    /// The token of a key the CLI made for extension `prefix` (named `name`): pub and sub on its own
    /// prefix plus `extra` capabilities.
    pub async fn extension_key(&self, name: &str, prefix: &str, extra: &[&str]) -> String {
        let own = format!("sub:extensions.{prefix}.>");
        let own_pub = format!("pub:extensions.{prefix}.>");
        let mut args = vec![
            "--capability",
            own.as_str(),
            "--capability",
            own_pub.as_str(),
            "--prefix",
            prefix,
            "--name",
            name,
        ];
        for c in extra {
            args.extend(["--capability", c]);
        }
        self.key_create_with(&args).await
    }

    /// An extension `prefix` registered directly with [`Platform::extension_key`], declaring a
    /// bucket `<prefix>_data`.
    pub async fn registered_extension(&self, name: &str, prefix: &str, extra: &[&str]) -> KeyConn {
        let conn = self
            .connect_as(&self.extension_key(name, prefix, extra).await)
            .await;
        let _: symphony_protocol::messages::RegisterReply = conn
            .request_json(
                &conn.register_subject(),
                &crate::manifest::with_buckets(name, prefix, &[&format!("{prefix}_data")]),
            )
            .await
            .unwrap_or_else(|e| panic!("{prefix} registers: {e:?}"));
        conn
    }

    /// `GET /api/v1/extensions/{prefix}` with an api key token.
    pub async fn extension_http(&self, prefix: &str, token: &str) -> ExtensionView {
        let resp = self
            .get(&format!("/extensions/{prefix}"), Some(token))
            .await;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "GET /extensions/{prefix}: HTTP {status}: {body}"
        );
        serde_json::from_str(&body).unwrap_or_else(|e| {
            panic!("GET /extensions/{prefix} is not an ExtensionView ({e}): {body}")
        })
    }

    // ----- embedded nats-server -----

    /// `<data-dir>/nats/nats-server.pid`.
    pub fn nats_pid_path(&self) -> PathBuf {
        self.data_dir.join("nats").join("nats-server.pid")
    }

    /// The embedded nats-server's pid, when the pid file exists.
    pub fn nats_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.nats_pid_path())
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// SIGKILLs the embedded nats-server; returns the pid it had.
    pub fn kill_nats(&self) -> u32 {
        let pid = self
            .nats_pid()
            .unwrap_or_else(|| panic!("no pid in {}", self.nats_pid_path().display()));
        assert!(signal_pid(pid, libc::SIGKILL), "kill -9 {pid} failed");
        pid
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "===== symphony serve (data dir {}) =====\n{}",
                self.data_dir.display(),
                self.logs(80)
            );
        }
        // `server` stops in its own Drop, before the temp dir is removed.
    }
}

/// A one-line summary of a view for error messages.
pub fn summarize(v: &ExtensionView) -> String {
    let instances: Vec<String> = v
        .instances
        .iter()
        .map(|i| {
            format!(
                "{}:{:?}@{} pid {}",
                i.instance_id, i.state, i.updated_at, i.pid
            )
        })
        .collect();
    format!(
        "{} {:?} instances [{}]",
        v.prefix,
        v.state,
        instances.join(", ")
    )
}

//! The CLI's HTTP side: an `/api/v1` client that signs in, shows progress and turns the server's
//! `{code, message, hint}` errors into messages that name the cause and the fix; and the commands that
//! manage sign-ins (`symphony login`, `symphony credential …`).
//!
//! Not for: what the signed-in user does with the API (`remote.rs`), nor bootstrap administration of a
//! local data dir (`admin.rs`).

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use symphony_protocol::Address;

use super::credentials::{Credential, CredentialStore, Storage};
use super::{CredentialListArgs, CredentialRemoveArgs, LoginArgs, RemoteArgs};

/// How long one request may take, and how long connecting may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Signing out while forgetting a credential is a courtesy: never wait long for it.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// Error codes that mean the stored session token no longer works.
const SESSION_GONE: &[&str] = &[
    "session_expired",
    "invalid_token",
    "token_expired",
    "token_revoked",
    "missing_token",
];

/// A spinner on stderr while a request runs; nothing when stderr is not a terminal.
pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    pub fn start(message: impl Into<String>) -> Spinner {
        if !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
            bar.set_style(style);
        }
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(100));
        Spinner(Some(bar))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

/// The platform's error body, read loosely so codes newer than this CLI still print.
#[derive(Deserialize)]
struct ServerError {
    code: String,
    message: String,
    #[serde(default)]
    hint: Option<String>,
}

/// A client of one instance's `/api/v1`, anonymous or as a stored sign-in.
pub struct ApiClient {
    http: reqwest::Client,
    /// `https://host[:port]`, no trailing slash.
    base: String,
    session: Option<Credential>,
}

impl ApiClient {
    /// An anonymous client for `base`, trusting `ca_file` in addition to the system roots.
    pub fn new(base: &str, ca_file: Option<&Path>) -> anyhow::Result<ApiClient> {
        // reqwest is built without a crypto provider; building a client without one panics.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("symphony-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the CA file {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
            if certs.is_empty() {
                bail!("{} holds no PEM certificate", path.display());
            }
            builder = builder.tls_certs_merge(certs);
        }
        if is_loopback(base) {
            // A proxy from the environment cannot reach this machine's loopback.
            builder = builder.no_proxy();
        }
        Ok(ApiClient {
            http: builder.build().context("cannot set up the HTTP client")?,
            base: base.trim_end_matches('/').to_owned(),
            session: None,
        })
    }

    /// The client of a stored sign-in: its address, its CA file (unless `--ca-file` overrides it),
    /// its token as bearer.
    pub fn signed_in(remote: &RemoteArgs) -> anyhow::Result<ApiClient> {
        let cred = CredentialStore::from_env()?.get(remote.credential.as_deref())?;
        let ca_file = remote.ca_file.clone().or_else(|| cred.ca_file.clone());
        let mut client = ApiClient::new(&cred.address, ca_file.as_deref())?;
        client.session = Some(cred);
        Ok(client)
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `method /api/v1<path>` with an optional JSON body; the reply parsed as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        progress: &str,
    ) -> anyhow::Result<T> {
        let bytes = self.send(method.clone(), path, body, progress).await?;
        serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "unexpected reply to {method} {}/api/v1{path}: is this a Symphony server of a matching version?",
                self.base
            )
        })
    }

    /// Like [`call`](Self::call) for replies without a body (204).
    pub async fn call_no_reply(
        &self,
        method: Method,
        path: &str,
        progress: &str,
    ) -> anyhow::Result<()> {
        self.send(method, path, None, progress).await.map(|_| ())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        progress: &str,
    ) -> anyhow::Result<bytes::Bytes> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(cred) = &self.session {
            request = request.bearer_auth(&cred.token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let _spinner = Spinner::start(progress);
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        if status.is_success() {
            return Ok(bytes);
        }
        Err(self.http_error(status, &url, &bytes))
    }

    /// A non-2xx reply: the server's message and code, its hint, and for a dead session what to do.
    fn http_error(&self, status: reqwest::StatusCode, url: &str, body: &[u8]) -> anyhow::Error {
        let Ok(err) = serde_json::from_slice::<ServerError>(body) else {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(200).collect();
            return anyhow!(
                "{url} answered HTTP {status}: {}\nhint: is {} a Symphony server? Check the address.",
                text.trim(),
                self.base
            );
        };
        if status == reqwest::StatusCode::UNAUTHORIZED
            && let Some(cred) = &self.session
            && SESSION_GONE.contains(&err.code.as_str())
        {
            return anyhow!(
                "your session ended ({}): run `symphony login --address {} --name {}` again",
                err.message,
                cred.address,
                cred.name
            );
        }
        match err.hint {
            Some(hint) => anyhow!("{} ({})\nhint: {hint}", err.message, err.code),
            None => anyhow!("{} ({})", err.message, err.code),
        }
    }

    /// No HTTP reply at all: which of the usual causes it is.
    fn transport_error(&self, e: reqwest::Error) -> anyhow::Error {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        let lower = detail.to_lowercase();
        if e.is_timeout() {
            anyhow!(
                "{} did not answer within {}s: check the address and that the server is running",
                self.base,
                REQUEST_TIMEOUT.as_secs()
            )
        } else if lower.contains("certificate") || lower.contains("unknownissuer") {
            anyhow!(
                "cannot verify the TLS certificate of {} ({detail})\nhint: if the server uses a private CA, \
                 pass --ca-file CA.pem or set SYMPHONY_CA_FILE",
                self.base
            )
        } else {
            anyhow!(
                "cannot reach {} ({detail})\nhint: check the address and that the server is running",
                self.base
            )
        }
    }
}

/// `symphony key list | head` ends quietly when `head` closes the pipe, as other Unix tools do,
/// instead of panicking in `println!`. Only for one-shot commands: their sockets use `MSG_NOSIGNAL`.
pub fn die_quietly_on_closed_stdout() {
    // SAFETY: called at startup before any other thread writes; restores the default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn is_loopback(base: &str) -> bool {
    let Ok(url) = url::Url::parse(base) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The name a login is stored under by default: the host, with the port when the address has one.
pub fn default_credential_name(base: &str) -> String {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    rest.trim_end_matches('/').to_owned()
}

/// `POST /api/v1/login`'s reply.
#[derive(Deserialize)]
struct LoginReply {
    token: String,
    username: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    idle_timeout_secs: u64,
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let address = Address::resolve(&args.address, Some(&args.address))?;
    let base = address.http_base.clone();
    if address.is_plaintext() {
        eprintln!(
            "warning: {base} is plain http: your password and session token travel unencrypted; \
             use https outside a trusted network"
        );
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_credential_name(&base));
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("--name {name:?}: a credential name needs at least one character and no spaces");
    }
    let store = CredentialStore::from_env()?;
    // Refuse before the password is typed, not after the server has opened a session.
    if !args.insecure_storage
        && let Err(reason) = store.keyring_available()
    {
        return Err(store.no_keyring_error(&reason));
    }
    let ca_file = args.ca_file.as_deref().map(absolute).transpose()?;
    let client = ApiClient::new(&base, ca_file.as_deref())?;
    let username = read_username(&args)?;
    let password = read_password(&args)?;
    let reply: LoginReply = client
        .call(
            Method::POST,
            "/login",
            Some(json!({"username": username, "password": password})),
            &format!("Signing in to {base}"),
        )
        .await?;
    let cred = Credential {
        name: name.clone(),
        address: base.clone(),
        username: reply.username.clone(),
        token: reply.token,
        ca_file,
    };
    let storage = match store.save(&cred, args.insecure_storage) {
        Ok(s) => s,
        Err(e) => {
            // Do not leave an unusable session open on the server.
            let _ = logout(&cred).await;
            return Err(e);
        }
    };
    let place = match storage {
        Storage::Keyring => "the OS credential store".to_owned(),
        Storage::File => format!("{} (mode 0600)", store.index_path().display()),
    };
    let roles = if reply.roles.is_empty() {
        "no roles".to_owned()
    } else {
        format!("roles: {}", reply.roles.join(", "))
    };
    eprintln!(
        "Logged in to {base} as {} ({roles}).\nSaved as {name:?} in {place}; commands use it unless \
         --credential names another.",
        reply.username
    );
    if reply.idle_timeout_secs > 0 {
        eprintln!(
            "The session ends after {} without use.",
            humantime::format_duration(Duration::from_secs(reply.idle_timeout_secs))
        );
    }
    Ok(())
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("bad path {}", path.display()))
}

fn read_username(args: &LoginArgs) -> anyhow::Result<String> {
    if let Some(u) = &args.username {
        return Ok(u.clone());
    }
    if args.password_stdin {
        bail!("--password-stdin needs --username (stdin carries the password)");
    }
    if !std::io::stdin().is_terminal() {
        bail!("no --username given and stdin is not a terminal: pass --username NAME");
    }
    eprint!("Username: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let username = line.trim().to_owned();
    if username.is_empty() {
        bail!("no user name given");
    }
    Ok(username)
}

fn read_password(args: &LoginArgs) -> anyhow::Result<String> {
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from stdin")?;
        // One trailing line break is how `echo` and files end; anything else is the password.
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        text.to_owned()
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ").context("cannot read the password")?
    } else {
        bail!("stdin is not a terminal: pipe the password in with --password-stdin");
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}

/// Ends the session on the server; failures are the caller's to ignore.
async fn logout(cred: &Credential) -> anyhow::Result<()> {
    let mut client = ApiClient::new(&cred.address, cred.ca_file.as_deref())?;
    client.session = Some(cred.clone());
    tokio::time::timeout(
        LOGOUT_TIMEOUT,
        client.call_no_reply(Method::POST, "/logout", "Signing out"),
    )
    .await
    .map_err(|_| anyhow!("no answer within {}s", LOGOUT_TIMEOUT.as_secs()))?
}

pub fn credential_list(args: CredentialListArgs) -> anyhow::Result<()> {
    let list = CredentialStore::from_env()?.list()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if list.is_empty() {
        eprintln!("no stored sign-ins: run `symphony login --address URL`");
        return Ok(());
    }
    let rows: Vec<[String; 4]> = list
        .iter()
        .map(|c| {
            let mark = if c.default { " (default)" } else { "" };
            [
                format!("{}{mark}", c.name),
                c.address.clone(),
                c.username.clone(),
                c.storage.as_str().to_owned(),
            ]
        })
        .collect();
    print_table(&["NAME", "ADDRESS", "USER", "STORAGE"], &rows);
    Ok(())
}

pub async fn credential_remove(args: CredentialRemoveArgs) -> anyhow::Result<()> {
    let removed = CredentialStore::from_env()?.remove(&args.name)?;
    report_removed(&args.name, removed.as_ref()).await;
    Ok(())
}

pub async fn credential_clear() -> anyhow::Result<()> {
    let store = CredentialStore::from_env()?;
    let names: Vec<String> = store.list()?.into_iter().map(|c| c.name).collect();
    if names.is_empty() {
        eprintln!("no stored sign-ins");
        return Ok(());
    }
    for name in names {
        let removed = store.remove(&name)?;
        report_removed(&name, removed.as_ref()).await;
    }
    Ok(())
}

/// Signs out (best effort) and says what happened.
async fn report_removed(name: &str, cred: Option<&Credential>) {
    let outcome = match cred {
        Some(cred) => match logout(cred).await {
            Ok(()) => format!("signed out of {}", cred.address),
            Err(e) => format!(
                "could not sign out of {} ({}); the session ends by itself when idle",
                cred.address,
                e.to_string().lines().next().unwrap_or_default()
            ),
        },
        None => "its token could not be read, so it was not signed out".to_owned(),
    };
    eprintln!("removed {name:?}: {outcome}");
}

/// Prints left-aligned columns sized to their content.
pub fn print_table<const N: usize>(headers: &[&str; N], rows: &[[String; N]]) {
    let mut widths: [usize; N] = std::array::from_fn(|i| headers[i].chars().count());
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let text: Vec<String> = cells
            .zip(widths.iter())
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_host_and_port() {
        assert_eq!(
            default_credential_name("https://symphony.example.com"),
            "symphony.example.com"
        );
        assert_eq!(
            default_credential_name("http://127.0.0.1:8080"),
            "127.0.0.1:8080"
        );
        assert_eq!(default_credential_name("https://[::1]:8443"), "[::1]:8443");
    }

    #[test]
    fn loopback_addresses_skip_proxies() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://localhost:8080"));
        assert!(is_loopback("https://[::1]:8443"));
        assert!(!is_loopback("https://symphony.example.com"));
    }

    fn client_with_session() -> ApiClient {
        let mut c = ApiClient::new("http://127.0.0.1:1", None).unwrap();
        c.session = Some(Credential {
            name: "local".into(),
            address: "http://127.0.0.1:1".into(),
            username: "admin".into(),
            token: "t".into(),
            ca_file: None,
        });
        c
    }

    #[test]
    fn server_errors_print_message_code_and_hint() {
        let c = ApiClient::new("http://127.0.0.1:1", None).unwrap();
        let e = c.http_error(
            reqwest::StatusCode::UNAUTHORIZED,
            "http://127.0.0.1:1/api/v1/login",
            br#"{"code":"invalid_credentials","message":"wrong username or password"}"#,
        );
        assert_eq!(
            e.to_string(),
            "wrong username or password (invalid_credentials)"
        );
        let e = c.http_error(
            reqwest::StatusCode::TOO_MANY_REQUESTS,
            "u",
            br#"{"code":"too_many_attempts","message":"slow down","hint":"wait 4 s"}"#,
        );
        assert_eq!(
            e.to_string(),
            "slow down (too_many_attempts)\nhint: wait 4 s"
        );
        let e = c.http_error(reqwest::StatusCode::NOT_FOUND, "u", b"<html>nope</html>");
        assert!(e.to_string().contains("Symphony server"), "{e}");
    }

    #[test]
    fn a_dead_session_says_to_log_in_again() {
        let e = client_with_session().http_error(
            reqwest::StatusCode::UNAUTHORIZED,
            "u",
            br#"{"code":"session_expired","message":"the session has ended","hint":"sign in again"}"#,
        );
        let text = e.to_string();
        assert!(text.starts_with("your session ended"), "{text}");
        assert!(
            text.contains("symphony login --address http://127.0.0.1:1"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_names_the_address() {
        // Port 1 on loopback: nothing listens there.
        let c = ApiClient::new("http://127.0.0.1:1", None).unwrap();
        let e = c
            .call::<serde_json::Value>(Method::GET, "/ping", None, "pinging")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot reach http://127.0.0.1:1"), "{e}");
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let e = ApiClient::new("https://x", Some(Path::new("/nonexistent/ca.pem")))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}

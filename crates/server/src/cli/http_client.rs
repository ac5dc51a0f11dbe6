//! The CLI's HTTP client of an instance's `/api/v1`: anonymous or as a stored sign-in, with progress
//! shown, and the server's `{code, message, hint}` errors turned into messages that name the cause
//! and the fix.
//!
//! Not for: what the signed-in user does with the API (`remote.rs`), nor managing sign-ins
//! (`login.rs`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::RemoteArgs;
use super::credentials::{Credential, CredentialStore};
use super::terminal::Spinner;

/// How long one request may take, and how long connecting may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Error codes that mean the stored session token no longer works.
const SESSION_GONE: &[&str] = &[
    "session_expired",
    "invalid_token",
    "token_expired",
    "token_revoked",
    "missing_token",
];

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
    pub(super) session: Option<Credential>,
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

    /// `method /api/v1<path>` with `headers` and a raw body (sent as JSON when it parses as JSON,
    /// else as bytes); the reply's content type and bytes. Errors as [`call`](Self::call)'s.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
        progress: &str,
    ) -> anyhow::Result<(String, bytes::Bytes)> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(cred) = &self.session {
            request = request.bearer_auth(&cred.token);
        }
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = body {
            let kind = if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
                "application/json"
            } else {
                "application/octet-stream"
            };
            request = request
                .header(reqwest::header::CONTENT_TYPE, kind)
                .body(body);
        }
        let _spinner = Spinner::start(progress);
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        if status.is_success() {
            return Ok((content_type, bytes));
        }
        Err(self.http_error(status, &url, &bytes))
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

#[cfg(test)]
mod tests {
    use super::*;

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

//! End-to-end test harness: starts the real `symphony` server (with its embedded nats-server, or
//! against an external nats-server cluster the harness starts), real extensions (`hello`,
//! `catalog`), and connects to NATS as a key the way an SDK does.
//!
//! Not for: unit tests of pure logic (those live beside the code in each crate).
//!
//! Every process the harness starts is owned by a guard whose `Drop` stops it (SIGTERM, then
//! SIGKILL), and each child also gets `PR_SET_PDEATHSIG`, so nothing outlives a panicking test.
//! Each child's stdout/stderr goes to a file in a temp dir; their tails are printed when a test
//! fails.
//!
//! The contract under test is `docs/protocol.md`; the shared types come from `symphony-protocol`.

pub mod bins;
pub mod cluster;
pub mod extension;
pub mod keyconn;
pub mod manifest;
pub mod platform;
pub mod poll;
pub mod process;
pub mod rest;
pub mod users;

pub use cluster::NatsCluster;
pub use extension::Extension;
pub use keyconn::{KeyConn, Violations};
pub use platform::{Platform, PlatformOptions};
pub use poll::{DEFAULT_DEADLINE, eventually};
pub use process::ManagedChild;
pub use rest::RestReply;

/// Installs the rustls crypto provider reqwest needs (the workspace builds it without one).
pub fn init_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one already; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An HTTP client for the loopback server: no proxies, short connect timeout.
pub fn http_client() -> reqwest::Client {
    init_crypto();
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("build the reqwest client")
}

/// [`http_client`] that also trusts the PEM CA in `ca_pem` (a `--tls-self-signed` server's
/// `<data dir>/tls/ca.pem`); host names are still checked.
pub fn http_client_trusting(ca_pem: &std::path::Path) -> reqwest::Client {
    init_crypto();
    let pem = std::fs::read(ca_pem).unwrap_or_else(|e| panic!("read {}: {e}", ca_pem.display()));
    let cert = reqwest::Certificate::from_pem(&pem)
        .unwrap_or_else(|e| panic!("{} is not a PEM certificate: {e}", ca_pem.display()));
    reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(cert)
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("build the reqwest client")
}

/// An error and its sources, joined with `: ` (reqwest and async-nats keep the TLS reason in a
/// source, not in the top-level message).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The `code` of a JSON error body (`{"code": …}`), parsed with the protocol's type.
pub async fn error_body(resp: reqwest::Response) -> symphony_protocol::ErrorBody {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("HTTP {status}: body is not an ErrorBody ({e}): {text}"))
}

/// Unix seconds of an RFC 3339 timestamp from a payload, to compare with
/// `symphony_protocol::time::now_unix()` (panics if it is not one).
pub fn parse_rfc3339(s: &str) -> i64 {
    symphony_protocol::time::parse_rfc3339(s).unwrap_or_else(|| panic!("{s:?} is not RFC 3339"))
}

/// Which key an instance runs with: instances have ids of their own (docs/protocol.md §12.1), so
/// tests that know a token find its instances by the status's `key_id`.
pub trait OfKey {
    /// Whether this instance runs with key `key` (its id as text).
    fn of_key(&self, key: impl AsRef<str>) -> bool;
}

impl OfKey for symphony_protocol::messages::InstanceStatus {
    fn of_key(&self, key: impl AsRef<str>) -> bool {
        self.key_id
            .as_ref()
            .is_some_and(|k| k.as_str() == key.as_ref())
    }
}

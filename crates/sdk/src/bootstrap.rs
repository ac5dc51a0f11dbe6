//! From a token to a NATS connection: token resolution, the API-key exchange over HTTP, provisioning a
//! permanent key from a registration token over NATS, and the operator-mode NATS connect.
//!
//! Tokens and nkey seeds are never logged; logs name the key id and where a token came from.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::{ConnectOptions, Event};
use symphony_protocol::error::decode_reply;
use symphony_protocol::messages::{ApiKey, KeyKind, ProvisionReply, ProvisionRequest};
use symphony_protocol::{Address, ErrorBody, ErrorCode, KeyId, Token, subjects};
use tokio::sync::watch;

use crate::credentials::{CredentialStore, SavedIn};
use crate::error::{Error, Result, TokenSource};

/// Env var with a token (API key or registration).
pub(crate) const TOKEN_ENV: &str = "SYMPHONY_TOKEN";
/// Env var with a registration token.
pub(crate) const REGISTRATION_TOKEN_ENV: &str = "REGISTRATION_TOKEN";
/// Env var overriding the address encoded in the token.
pub(crate) const ADDRESS_ENV: &str = "SYMPHONY_ADDRESS";
/// How long provisioning and registration wait for the server.
pub(crate) const SERVICE_TIMEOUT: Duration = Duration::from_secs(10);
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// A token and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) from: TokenSource,
    pub(crate) token: String,
}

/// The tokens to try, in order. An explicit token is the only candidate; otherwise the stored token,
/// `SYMPHONY_TOKEN`, then `REGISTRATION_TOKEN`. Blank values and repeats are dropped.
pub(crate) fn candidates(
    explicit: Option<&str>,
    stored: Option<String>,
    env_token: Option<String>,
    env_registration: Option<String>,
) -> Vec<Candidate> {
    if let Some(token) = explicit.map(str::trim).filter(|t| !t.is_empty()) {
        return vec![Candidate {
            from: TokenSource::Explicit,
            token: token.to_owned(),
        }];
    }
    let mut out: Vec<Candidate> = Vec::new();
    for (from, token) in [
        (TokenSource::Stored, stored),
        (TokenSource::EnvSymphony, env_token),
        (TokenSource::EnvRegistration, env_registration),
    ] {
        let Some(token) = token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) else {
            continue;
        };
        if !out.iter().any(|c| c.token == token) {
            out.push(Candidate { from, token });
        }
    }
    out
}

/// Whether a failed candidate is skipped in favour of the next one: only a stored token that Symphony no
/// longer accepts (revoked, expired, from another instance) or that is damaged. Explicit and environment
/// tokens are the user's intent, so their failures are reported.
pub(crate) fn falls_through(from: TokenSource, err: &Error) -> bool {
    from == TokenSource::Stored
        && matches!(
            err,
            Error::Rejected { status: 401, .. } | Error::MalformedToken { .. }
        )
}

/// What the extension declares for provisioning.
pub(crate) struct ProvisionInput<'a> {
    pub(crate) request: ProvisionRequest,
    pub(crate) store: &'a CredentialStore,
}

/// A token Symphony accepted, with the API key it exchanged for.
pub(crate) struct Credentials {
    pub(crate) token: String,
    pub(crate) from: TokenSource,
    pub(crate) address: Address,
    pub(crate) api_key: ApiKey,
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Finds a working token, provisions a permanent key when it is a registration token, and returns the
/// permanent key's credentials.
pub(crate) async fn resolve(
    explicit: Option<&str>,
    input: ProvisionInput<'_>,
) -> Result<Credentials> {
    let address_override = env_value(ADDRESS_ENV);
    let stored = if explicit.is_some() {
        None
    } else {
        input.store.load().await
    };
    let list = candidates(
        explicit,
        stored,
        env_value(TOKEN_ENV),
        env_value(REGISTRATION_TOKEN_ENV),
    );
    let mut last_err = None;
    let mut accepted = None;
    for candidate in list {
        match exchange(
            &candidate.token,
            candidate.from,
            address_override.as_deref(),
            None,
        )
        .await
        {
            Ok((address, api_key)) => {
                accepted = Some(Credentials {
                    token: candidate.token,
                    from: candidate.from,
                    address,
                    api_key,
                });
                break;
            }
            Err(e) if falls_through(candidate.from, &e) => {
                tracing::warn!(error = %e, "skipping the stored token; trying SYMPHONY_TOKEN / REGISTRATION_TOKEN");
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    let creds = match (accepted, last_err) {
        (Some(c), _) => c,
        (None, Some(e)) => return Err(e),
        (None, None) => return Err(Error::NoToken),
    };
    tracing::info!(key_id = %creds.api_key.id, kind = ?creds.api_key.kind, from = %creds.from, "token accepted");
    if creds.api_key.kind != KeyKind::Registration {
        return Ok(creds);
    }

    let reply = provision(&creds, &input.request).await?;
    tracing::info!(key_id = %reply.id, "provisioned a permanent API key");
    match input.store.save(&reply.token).await {
        Ok(SavedIn::Keyring) => {
            tracing::info!("stored the permanent token in the OS credential store")
        }
        Ok(SavedIn::File(path)) => {
            tracing::info!(path = %path.display(), "stored the permanent token in a file")
        }
        Err(e) => tracing::error!(
            error = %e,
            key_id = %reply.id,
            "could not store the permanent token; this run continues, but the next start needs SYMPHONY_TOKEN \
             (revoke key {} and create a new one) or a new registration token",
            reply.id
        ),
    }
    let (address, api_key) = exchange(
        &reply.token,
        TokenSource::Provisioned,
        address_override.as_deref(),
        None,
    )
    .await?;
    Ok(Credentials {
        token: reply.token,
        from: TokenSource::Provisioned,
        address,
        api_key,
    })
}

fn warn_plaintext_once(base: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            address = base,
            "Symphony is reached over plain http: the token travels unencrypted; use https outside a trusted network"
        );
    }
}

fn http_client(url: &str) -> Result<reqwest::Client> {
    // reqwest is built with `rustls-no-provider`: without a process-wide provider, building panics.
    // An error here only means another part of the process installed one first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .user_agent(concat!("cirata-symphony-rust/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file() {
        let pem = std::fs::read(&path).map_err(|e| ca_file_error(&path, &e.to_string()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| ca_file_error(&path, &e.to_string()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|source| Error::Unreachable {
        url: url.to_owned(),
        source,
    })
}

/// `SYMPHONY_CA_FILE`: a PEM CA trusted in addition to the system roots (HTTPS and NATS TLS).
fn ca_file() -> Option<std::path::PathBuf> {
    std::env::var_os("SYMPHONY_CA_FILE")
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

fn ca_file_error(path: &std::path::Path, why: &str) -> Error {
    Error::Invalid(
        symphony_protocol::ErrorBody::new(
            ErrorCode::InvalidAddress,
            format!("SYMPHONY_CA_FILE {} cannot be used: {why}", path.display()),
        )
        .with_hint(
            "point SYMPHONY_CA_FILE at the PEM file of the CA that issued Symphony's certificate",
        ),
    )
}

/// Code for an error reply that carried no JSON error body.
fn code_for_status(status: u16) -> ErrorCode {
    match status {
        401 => ErrorCode::InvalidToken,
        403 => ErrorCode::WrongTokenKind,
        404 => ErrorCode::NotFound,
        503 => ErrorCode::NotReady,
        _ => ErrorCode::Internal,
    }
}

/// `GET /api/v1/apikey` with the token: for a new instance, or for `instance` (a renewal keeps the
/// instance id, docs/protocol.md §12.1).
pub(crate) async fn exchange(
    token: &str,
    from: TokenSource,
    address_override: Option<&str>,
    instance: Option<&KeyId>,
) -> Result<(Address, ApiKey)> {
    let parsed = Token::parse(token).map_err(|reason| Error::MalformedToken { from, reason })?;
    let address = Address::resolve(&parsed.origin, address_override)?;
    if address.is_plaintext() {
        warn_plaintext_once(&address.http_base);
    }
    let url = match instance {
        Some(i) => format!("{}/api/v1/apikey?instance={i}", address.http_base),
        None => format!("{}/api/v1/apikey", address.http_base),
    };
    let unreachable = |source| Error::Unreachable {
        url: url.clone(),
        source,
    };
    let response = http_client(&url)?
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(unreachable)?;
    if !(200..300).contains(&status) {
        let body = serde_json::from_slice::<ErrorBody>(&body).unwrap_or_else(|_| {
            let text = String::from_utf8_lossy(&body);
            let snippet: String = text.chars().take(200).collect();
            ErrorBody::new(code_for_status(status), format!("{url}: {snippet}"))
        });
        return Err(Error::Rejected { from, status, body });
    }
    let api_key: ApiKey = serde_json::from_slice(&body).map_err(|e| Error::UnexpectedReply {
        what: url.clone(),
        detail: e.to_string(),
    })?;
    if api_key.id != parsed.key_id {
        return Err(Error::UnexpectedReply {
            what: url,
            detail: format!(
                "the API key is {} but the token names {}",
                api_key.id, parsed.key_id
            ),
        });
    }
    Ok((address, api_key))
}

/// Trades a registration key for a permanent one: `cirata.services.registry.provision.<K>`.
async fn provision(creds: &Credentials, request: &ProvisionRequest) -> Result<ProvisionReply> {
    let nc = connect_nats(
        &KeyCell::fixed(creds.api_key.clone()),
        &creds.address,
        format!("{}-provision", request.prefix),
        None,
    )
    .await?;
    let subject = subjects::provision(&creds.api_key.id);
    let reply = request_json(&nc, &subject, request, SERVICE_TIMEOUT).await;
    // The registration connection has done its job; its errors do not matter any more.
    let _ = nc.drain().await;
    decode_reply::<ProvisionReply>(&reply?).map_err(Error::Provision)
}

/// Sends `body` as JSON and returns the raw reply payload.
pub(crate) async fn request_json<T: serde::Serialize>(
    nc: &async_nats::Client,
    subject: &str,
    body: &T,
    timeout: Duration,
) -> Result<bytes::Bytes> {
    let payload = serde_json::to_vec(body).expect("protocol payloads always serialize");
    let request = async_nats::Request::new()
        .payload(payload.into())
        .timeout(Some(timeout));
    nc.send_request(subject.to_owned(), request)
        .await
        .map(|m| m.payload)
        .map_err(|e| Error::from_request(subject, timeout, e))
}

/// Logs connection events and, when `reconnected` is given, bumps it each time the connection comes back
/// after a disconnect (the first connect does not count).
fn event_handler(
    name: String,
    reconnected: Option<watch::Sender<u64>>,
    cell: Option<Arc<KeyCell>>,
) -> impl Fn(Event) -> std::future::Ready<()> + Send + Sync + 'static {
    let was_disconnected = Arc::new(AtomicBool::new(false));
    move |event| {
        match &event {
            Event::Disconnected => {
                if let Some(cell) = &cell {
                    cell.trouble.notify_one();
                }
                was_disconnected.store(true, Ordering::SeqCst);
                tracing::warn!(connection = %name, "disconnected from NATS; reconnecting");
            }
            Event::Connected => {
                if was_disconnected.swap(false, Ordering::SeqCst) {
                    tracing::info!(connection = %name, "reconnected to NATS");
                    if let Some(tx) = &reconnected {
                        tx.send_modify(|n| *n += 1);
                    }
                }
            }
            Event::Closed => tracing::info!(connection = %name, "NATS connection closed"),
            // Every failed reconnect attempt reports an IO error; the disconnect was already logged.
            Event::ClientError(_) if was_disconnected.load(Ordering::SeqCst) => {
                tracing::debug!(connection = %name, "NATS: {event}")
            }
            Event::ServerError(_) | Event::ClientError(_) | Event::SlowConsumer(_) => {
                tracing::warn!(connection = %name, "NATS: {event}")
            }
            Event::LameDuckMode | Event::Draining => {
                tracing::info!(connection = %name, "NATS: {event}")
            }
        }
        std::future::ready(())
    }
}

/// The credentials a connection authenticates with, renewed in place: every (re)connect signs with the
/// JWT in here, so a renewed JWT (a new exchange of the token, docs/protocol.md §9.3) is used from the next
/// connect on.
pub(crate) struct KeyCell {
    /// The accepted token and where it came from (for renewals); `None`: never renewed (a registration
    /// connection).
    token: Option<(String, TokenSource)>,
    address_override: Option<String>,
    current: std::sync::Mutex<ApiKey>,
    /// Signalled when a connection made with these credentials lost the server (its JWT may have been
    /// revoked by a capability edit, or expired): the renewal exchanges the token again.
    pub(crate) trouble: tokio::sync::Notify,
}

impl std::fmt::Debug for KeyCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCell").finish_non_exhaustive()
    }
}

impl KeyCell {
    /// Credentials that are renewed by exchanging `token` again.
    pub(crate) fn renewable(api_key: ApiKey, token: String, from: TokenSource) -> Arc<KeyCell> {
        Arc::new(KeyCell {
            token: Some((token, from)),
            address_override: env_value(ADDRESS_ENV),
            current: std::sync::Mutex::new(api_key),
            trouble: tokio::sync::Notify::new(),
        })
    }

    /// Credentials used as they are.
    pub(crate) fn fixed(api_key: ApiKey) -> Arc<KeyCell> {
        Arc::new(KeyCell {
            token: None,
            address_override: None,
            current: std::sync::Mutex::new(api_key),
            trouble: tokio::sync::Notify::new(),
        })
    }

    pub(crate) fn api_key(&self) -> ApiKey {
        self.current.lock().expect("key cell lock").clone()
    }

    /// How long after the last exchange to exchange again (`None`: the JWT does not expire).
    pub(crate) fn renew_after(&self) -> Option<Duration> {
        self.current
            .lock()
            .expect("key cell lock")
            .renew_after_secs
            .map(Duration::from_secs)
    }

    /// Exchanges the token again; the next connect uses the new JWT.
    pub(crate) async fn renew(&self) -> Result<()> {
        let Some((token, from)) = &self.token else {
            return Ok(());
        };
        let instance = self.api_key().instance_id;
        let (_, api_key) = exchange(
            token,
            *from,
            self.address_override.as_deref(),
            instance.as_ref(),
        )
        .await?;
        *self.current.lock().expect("key cell lock") = api_key;
        Ok(())
    }

    /// The `CONNECT` credentials for `nonce`.
    fn auth(&self, nonce: &[u8]) -> std::result::Result<async_nats::Auth, async_nats::AuthError> {
        let key = self.api_key();
        let key_pair = nkeys::KeyPair::from_seed(&key.seed).map_err(async_nats::AuthError::new)?;
        let mut auth = async_nats::Auth::new();
        auth.jwt = Some(key.jwt);
        auth.signature = Some(key_pair.sign(nonce).map_err(async_nats::AuthError::new)?);
        Ok(auth)
    }
}

/// Connects with the key's user JWT (the current one of `cell` at every connect), signing the server nonce
/// with its nkey seed, and with the key's inbox prefix (the only inbox its permissions allow). Fails at once
/// if no server is reachable; once connected, reconnects forever.
pub(crate) async fn connect_nats(
    cell: &Arc<KeyCell>,
    address: &Address,
    connection_name: String,
    reconnected: Option<watch::Sender<u64>>,
) -> Result<async_nats::Client> {
    let api_key = cell.api_key();
    nkeys::KeyPair::from_seed(&api_key.seed).map_err(|_| Error::UnexpectedReply {
        what: "the API key".into(),
        detail: "its nkey seed is not a valid user seed".into(),
    })?;
    let urls: Vec<String> = api_key
        .nats_urls
        .iter()
        .map(|u| address.nats_url(u))
        .collect();
    if urls.is_empty() {
        return Err(Error::UnexpectedReply {
            what: "the API key".into(),
            detail: "it lists no NATS URLs".into(),
        });
    }
    let signer = cell.clone();
    let options = ConnectOptions::with_auth_callback(move |nonce| {
        let auth = signer.auth(&nonce);
        async move { auth }
    })
    .custom_inbox_prefix(&api_key.inbox_prefix)
    .name(&connection_name)
    .max_reconnects(None)
    .event_callback(event_handler(
        connection_name.clone(),
        reconnected,
        Some(cell.clone()),
    ));
    let options = match ca_file() {
        Some(path) => options.add_root_certificates(path),
        None => options,
    };
    options
        .connect(urls.as_slice())
        .await
        .map_err(|source| Error::Connect {
            urls: urls.join(", "),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(list: &[Candidate]) -> Vec<(TokenSource, &str)> {
        list.iter().map(|c| (c.from, c.token.as_str())).collect()
    }

    #[test]
    fn explicit_token_is_the_only_candidate() {
        let list = candidates(
            Some(" x "),
            Some("s".into()),
            Some("e".into()),
            Some("r".into()),
        );
        assert_eq!(tokens(&list), vec![(TokenSource::Explicit, "x")]);
    }

    #[test]
    fn stored_then_symphony_token_then_registration_token() {
        let list = candidates(None, Some("s".into()), Some("e".into()), Some("r".into()));
        assert_eq!(
            tokens(&list),
            vec![
                (TokenSource::Stored, "s"),
                (TokenSource::EnvSymphony, "e"),
                (TokenSource::EnvRegistration, "r")
            ]
        );
        let list = candidates(None, None, None, Some("r".into()));
        assert_eq!(tokens(&list), vec![(TokenSource::EnvRegistration, "r")]);
    }

    #[test]
    fn blanks_and_repeats_are_dropped() {
        let list = candidates(
            Some("  "),
            Some("s".into()),
            Some(" s ".into()),
            Some("".into()),
        );
        assert_eq!(tokens(&list), vec![(TokenSource::Stored, "s")]);
        assert!(candidates(None, None, None, None).is_empty());
    }

    #[test]
    fn only_a_stored_token_that_symphony_refuses_falls_through() {
        let rejected = |status| Error::Rejected {
            from: TokenSource::Stored,
            status,
            body: ErrorBody::new(ErrorCode::TokenRevoked, "revoked"),
        };
        assert!(falls_through(TokenSource::Stored, &rejected(401)));
        assert!(falls_through(
            TokenSource::Stored,
            &Error::MalformedToken {
                from: TokenSource::Stored,
                reason: symphony_protocol::TokenError::Shape
            }
        ));
        assert!(!falls_through(TokenSource::Stored, &rejected(503)));
        assert!(!falls_through(TokenSource::EnvSymphony, &rejected(401)));
        assert!(!falls_through(TokenSource::Explicit, &rejected(401)));
        assert!(!falls_through(TokenSource::Stored, &Error::NoToken));
    }

    #[tokio::test]
    async fn only_a_connect_after_a_disconnect_counts_as_a_reconnect() {
        let (tx, rx) = watch::channel(0u64);
        let handle = event_handler("t".into(), Some(tx), None);
        handle(Event::Connected).await;
        assert_eq!(*rx.borrow(), 0);
        handle(Event::Disconnected).await;
        handle(Event::ClientError(async_nats::ClientError::Other(
            "io".into(),
        )))
        .await;
        handle(Event::Connected).await;
        assert_eq!(*rx.borrow(), 1);
        handle(Event::Connected).await;
        assert_eq!(*rx.borrow(), 1);
        handle(Event::Disconnected).await;
        handle(Event::Connected).await;
        assert_eq!(*rx.borrow(), 2);
    }

    #[test]
    fn error_replies_without_json_get_a_code_from_the_status() {
        assert_eq!(code_for_status(401), ErrorCode::InvalidToken);
        assert_eq!(code_for_status(502), ErrorCode::Internal);
    }

    #[tokio::test]
    async fn malformed_and_misaddressed_tokens_fail_before_any_io() {
        let e = exchange("garbage", TokenSource::EnvSymphony, None, None)
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            Error::MalformedToken {
                from: TokenSource::EnvSymphony,
                ..
            }
        ));
        let token =
            Token::generate("http://127.0.0.1:1", symphony_protocol::KeyId::generate()).encode();
        let e = exchange(&token, TokenSource::Explicit, Some("ftp://nope"), None)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidAddress(_)), "{e}");
    }
}

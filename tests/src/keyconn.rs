//! A NATS connection as one key, the way an SDK connects, with the server's permission
//! violations collected so tests can assert what nats-server refused.
//!
//! How denial is asserted without timing: nats-server handles one connection's operations in
//! order and answers each refused PUB/SUB with `-ERR 'Permissions Violation for … "<subject>"'`.
//! [`KeyConn::checkpoint`] publishes to a sentinel subject no key may use and returns every server
//! error that arrived before the sentinel's own violation. So "denied" = the violation for the
//! subject is among them, and "allowed" = nothing arrived before the sentinel.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Event, ServerError, Subscriber};
use futures::StreamExt as _;
use serde::de::DeserializeOwned;
use symphony_protocol::error::decode_reply;
use symphony_protocol::messages::ApiKey;
use symphony_protocol::{ErrorBody, KeyId};
use tokio::sync::mpsc;

/// How long to wait for the sentinel's violation.
const CHECKPOINT_DEADLINE: Duration = Duration::from_secs(10);
/// Request timeout of key connections (registration may create buckets on a cluster).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Server errors (and other connection events) reported by async-nats' event callback.
pub struct Violations {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Violations {
    /// Waits for the next event.
    pub async fn next(&mut self, deadline: Duration) -> Option<Event> {
        tokio::time::timeout(deadline, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Events received so far, without waiting.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(ev) = self.rx.try_recv() {
            out.push(ev);
        }
        out
    }
}

/// The server error text of an event, if it is one.
pub fn server_error_text(ev: &Event) -> Option<String> {
    match ev {
        Event::ServerError(ServerError::Other(s)) => Some(s.clone()),
        Event::ServerError(other) => Some(other.to_string()),
        _ => None,
    }
}

/// Whether `text` is nats-server's violation for `op` ("publish" or "subscription") to `subject`.
pub fn is_violation_for(text: &str, op: &str, subject: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("permissions violation")
        && lower.contains(&op.to_lowercase())
        && text.contains(&format!("\"{subject}\""))
}

/// A client connected as one key.
pub struct KeyConn {
    pub client: Client,
    pub key: ApiKey,
    pub violations: Violations,
}

impl KeyConn {
    /// Connects to the key's `nats_urls`; panics on failure.
    pub async fn connect(key: ApiKey) -> KeyConn {
        let urls = key.nats_urls.clone();
        Self::connect_to(key, &urls).await
    }

    /// Connects to `urls` as the key; panics on failure.
    pub async fn connect_to(key: ApiKey, urls: &[String]) -> KeyConn {
        match Self::try_connect_to(key, urls).await {
            Ok(c) => c,
            Err(e) => panic!("connect to {urls:?} as a key: {e}"),
        }
    }

    /// Connects to `urls` with the key's JWT, signing the nonce with its seed, using its inbox prefix.
    pub async fn try_connect_to(
        key: ApiKey,
        urls: &[String],
    ) -> Result<KeyConn, async_nats::ConnectError> {
        Self::try_connect_with_ca(key, urls, None).await
    }

    /// [`try_connect_to`](KeyConn::try_connect_to), trusting the PEM CA `ca` (in addition to the
    /// system roots) for `tls://` URLs, the way an SDK does with `SYMPHONY_CA_FILE`.
    pub async fn try_connect_with_ca(
        key: ApiKey,
        urls: &[String],
        ca: Option<&Path>,
    ) -> Result<KeyConn, async_nats::ConnectError> {
        let kp = Arc::new(nkeys::KeyPair::from_seed(&key.seed).expect("the key's seed is an nkey"));
        let (tx, rx) = mpsc::unbounded_channel();
        let options = async_nats::ConnectOptions::with_jwt(key.jwt.clone(), move |nonce| {
            let kp = kp.clone();
            async move { kp.sign(&nonce).map_err(async_nats::AuthError::new) }
        })
        .custom_inbox_prefix(key.inbox_prefix.clone())
        .event_callback(move |ev| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(ev);
            }
        })
        .name("symphony-tests")
        .connection_timeout(Duration::from_secs(5))
        .request_timeout(Some(REQUEST_TIMEOUT));
        let options = match ca {
            Some(ca) => options.add_root_certificates(ca.to_path_buf()),
            None => options,
        };
        let client = options.connect(urls.to_vec()).await?;
        Ok(KeyConn {
            client,
            key,
            violations: Violations { rx },
        })
    }

    /// The key id.
    pub fn key_id(&self) -> &KeyId {
        &self.key.id
    }

    /// The instance id of this exchange (docs/protocol.md §12.1).
    pub fn instance_id(&self) -> &KeyId {
        self.key
            .instance_id
            .as_ref()
            .expect("the exchange names an instance")
    }

    /// `cirata.services.registry.register.<K>.<I>` of this connection's instance.
    pub fn register_subject(&self) -> String {
        symphony_protocol::subjects::register(self.key_id(), self.instance_id())
    }

    /// Publishes to a sentinel subject (denied for every key) and returns the texts of all server
    /// errors that arrived before its violation. Panics if the sentinel is never refused (the
    /// connection died, or the key may publish anywhere).
    pub async fn checkpoint(&mut self) -> Vec<String> {
        let sentinel = format!("cirata.extensions.zz_sentinel.{}", KeyId::generate());
        self.client
            .publish(sentinel.clone(), "".into())
            .await
            .expect("publish the sentinel");
        self.client.flush().await.expect("flush");
        let mut before = Vec::new();
        let start = std::time::Instant::now();
        loop {
            let left = CHECKPOINT_DEADLINE.saturating_sub(start.elapsed());
            let Some(ev) = self.violations.next(left).await else {
                panic!(
                    "nats-server never refused the sentinel publish to {sentinel:?} (connection \
                     state {:?}); errors seen: {before:?}",
                    self.client.connection_state()
                );
            };
            if let Some(text) = server_error_text(&ev) {
                if text.contains(&sentinel) {
                    return before;
                }
                before.push(text);
            }
        }
    }

    /// Asserts that nothing done on this connection since the last checkpoint was refused.
    pub async fn assert_no_violations(&mut self, context: &str) {
        let errors = self.checkpoint().await;
        assert!(
            errors.is_empty(),
            "{context}: nats-server refused something: {errors:?}"
        );
    }

    fn assert_violation(errors: &[String], op: &str, subject: &str) {
        assert!(
            errors.iter().any(|e| is_violation_for(e, op, subject)),
            "expected nats-server to refuse {op} to {subject:?}; server errors were {errors:?}"
        );
    }

    /// Publishes to `subject` and asserts nats-server refused it.
    pub async fn assert_publish_denied(&mut self, subject: &str) {
        self.client
            .publish(subject.to_owned(), "{}".into())
            .await
            .expect("publish");
        let errors = self.checkpoint().await;
        Self::assert_violation(&errors, "publish", subject);
    }

    /// Subscribes to `subject` and asserts nats-server refused it; returns the (dead) subscriber so
    /// the caller can also check that nothing arrives on it.
    pub async fn assert_subscribe_denied(&mut self, subject: &str) -> Subscriber {
        let sub = self
            .client
            .subscribe(subject.to_owned())
            .await
            .expect("subscribe (client side)");
        let errors = self.checkpoint().await;
        Self::assert_violation(&errors, "subscription", subject);
        sub
    }

    /// Subscribes to `subject` and asserts nats-server accepted it.
    pub async fn assert_subscribe_allowed(&mut self, subject: &str) -> Subscriber {
        let sub = self
            .client
            .subscribe(subject.to_owned())
            .await
            .expect("subscribe");
        self.assert_no_violations(&format!("subscribe {subject}"))
            .await;
        sub
    }

    /// Publishes to `subject` and asserts nats-server accepted it.
    pub async fn assert_publish_allowed(&mut self, subject: &str, payload: &[u8]) {
        self.client
            .publish(subject.to_owned(), payload.to_vec().into())
            .await
            .expect("publish");
        self.assert_no_violations(&format!("publish {subject}"))
            .await;
    }

    /// Asserts that `sub` holds no message after a round trip on this connection. Any message the
    /// server routed to it before the PONG arrives before the flush returns, so this does not
    /// depend on timing; the short wait only drains the client's channel.
    pub async fn assert_nothing_received(&self, sub: &mut Subscriber, context: &str) {
        self.client.flush().await.expect("flush");
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
            panic!(
                "{context}: a refused subscription received a message on {}",
                msg.subject
            );
        }
    }

    /// A JSON request; `Err` is the typed `{"error": …}` reply. Panics on transport errors.
    pub async fn request_json<T: DeserializeOwned>(
        &self,
        subject: &str,
        body: &serde_json::Value,
    ) -> Result<T, ErrorBody> {
        let payload = serde_json::to_vec(body).expect("encode");
        self.request_bytes(subject, payload).await
    }

    /// A request with a raw payload; `Err` is the typed `{"error": …}` reply.
    pub async fn request_bytes<T: DeserializeOwned>(
        &self,
        subject: &str,
        payload: Vec<u8>,
    ) -> Result<T, ErrorBody> {
        let msg = self
            .client
            .request(subject.to_owned(), payload.into())
            .await
            .unwrap_or_else(|e| panic!("request {subject}: {e}"));
        decode_reply(&msg.payload)
    }
}

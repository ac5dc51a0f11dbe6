//! A live connection to Symphony, which [`Session::open`] makes: the token it accepted, the NATS client,
//! the instance id, and what registration answered (docs/protocol.md §5.2); plus registering again and
//! closing.

use std::time::Duration;

use async_nats::jetstream;
use symphony_protocol::error::decode_reply;
use symphony_protocol::messages::RegisterReply;
use symphony_protocol::time::now_rfc3339;
use symphony_protocol::{KeyId, Manifest, subjects};
use tokio::sync::watch;

use crate::bootstrap::{self, ProvisionInput, SERVICE_TIMEOUT};
use crate::credentials::CredentialStore;
use crate::declare::Declarations;
use crate::error::{Error, Result};

/// How long closing waits for the connection to drain.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// A connection registered with Symphony.
pub(crate) struct Session {
    nc: async_nats::Client,
    token: String,
    instance_id: KeyId,
    registered: RegisterReply,
    reconnected: watch::Receiver<u64>,
    started_at: String,
    /// The platform's public caller-signing key, from the exchange (docs/protocol.md §7.3).
    caller_key: Option<String>,
}

/// `cirata.services.registry.register.<K>` with the manifest.
async fn register(
    nc: &async_nats::Client,
    key: &KeyId,
    manifest: &Manifest,
) -> Result<RegisterReply> {
    let subject = subjects::register(key);
    let reply = bootstrap::request_json(nc, &subject, manifest, SERVICE_TIMEOUT).await?;
    decode_reply::<RegisterReply>(&reply).map_err(Error::Registration)
}

/// What registration accepted but will not serve (OpenAPI operations no endpoint serves).
fn log_warnings(reply: &RegisterReply) {
    for warning in &reply.warnings {
        tracing::warn!(prefix = %reply.prefix, "registered with a warning: {warning}");
    }
}

impl Session {
    /// Finds a token (`explicit` first), exchanges it for the API key, provisions a permanent key first if
    /// it is a registration token, connects to NATS and registers `manifest` (so declared buckets exist
    /// before handlers run).
    pub(crate) async fn open(
        declarations: &Declarations,
        explicit: Option<&str>,
        manifest: &Manifest,
    ) -> Result<Session> {
        let prefix = declarations.prefix();
        let store = CredentialStore::from_env(prefix);
        let creds = bootstrap::resolve(
            explicit,
            ProvisionInput {
                request: declarations.provision_request(),
                store: &store,
            },
        )
        .await?;
        let instance_id = creds.api_key.id.clone();
        let (reconnect_tx, reconnected) = watch::channel(0u64);
        let nc = bootstrap::connect_nats(
            &creds.api_key,
            &creds.address,
            format!("{prefix}-{instance_id}"),
            Some(reconnect_tx),
        )
        .await?;
        let registered = match register(&nc, &instance_id, manifest).await {
            Ok(r) => r,
            Err(e) => {
                let _ = nc.drain().await;
                return Err(e);
            }
        };
        tracing::info!(
            %prefix,
            instance_id = %instance_id,
            buckets = registered.buckets.len(),
            "registered with Symphony"
        );
        log_warnings(&registered);
        Ok(Session {
            caller_key: creds.api_key.caller_signing_key.clone(),
            nc,
            token: creds.token,
            instance_id,
            registered,
            reconnected,
            started_at: now_rfc3339(),
        })
    }

    /// Registers `manifest` again (a changed declaration, new endpoints, or after a reconnect).
    pub(crate) async fn register(&mut self, manifest: &Manifest) -> Result<()> {
        self.registered = register(&self.nc, &self.instance_id, manifest).await?;
        log_warnings(&self.registered);
        Ok(())
    }

    /// Completes when the connection has come back after a disconnect (`Err` once it never can).
    pub(crate) async fn reconnected(&mut self) -> Result<(), watch::error::RecvError> {
        self.reconnected.changed().await
    }

    pub(crate) fn nats(&self) -> &async_nats::Client {
        &self.nc
    }

    /// The platform's public caller-signing key (`None` from a server that does not sign callers).
    pub(crate) fn caller_key(&self) -> Option<&str> {
        self.caller_key.as_deref()
    }

    /// The permanent token in use. A secret.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    pub(crate) fn instance_id(&self) -> &KeyId {
        &self.instance_id
    }

    /// When the session was opened (RFC 3339), the status's `started_at`.
    pub(crate) fn started_at(&self) -> &str {
        &self.started_at
    }

    /// How often to publish the status, as registration said (at least 1 s).
    pub(crate) fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.registered.heartbeat_secs.max(1))
    }

    /// Opens a key-value bucket on the connection.
    pub(crate) async fn kv(&self, bucket: &str) -> Result<jetstream::kv::Store> {
        jetstream::new(self.nc.clone())
            .get_key_value(bucket)
            .await
            .map_err(|e| Error::KeyValue {
                bucket: bucket.to_owned(),
                detail: e.to_string(),
            })
    }

    /// Drains the connection (replies in flight still go out), waiting at most a few seconds.
    pub(crate) async fn close(self) {
        match tokio::time::timeout(DRAIN_GRACE, self.nc.drain()).await {
            Ok(Ok(())) => tracing::debug!("connection drained"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not drain the connection"),
            Err(_) => tracing::warn!("the connection did not drain within {DRAIN_GRACE:?}"),
        }
    }
}

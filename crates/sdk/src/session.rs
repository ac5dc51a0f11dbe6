//! A live connection to Symphony, which [`Session::open`] makes: the token it accepted, the NATS client,
//! the instance id, and what registration answered (docs/protocol.md §5.2); plus registering again and
//! closing.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use futures::FutureExt;
use symphony_protocol::error::decode_reply;
use symphony_protocol::messages::RegisterReply;
use symphony_protocol::time::now_rfc3339;
use symphony_protocol::{KeyId, Manifest, subjects};
use tokio::sync::watch;

use crate::bootstrap::{self, KeyCell, ProvisionInput, SERVICE_TIMEOUT};
use crate::credentials::CredentialStore;
use crate::declare::Declarations;
use crate::error::{Error, Result};
use crate::service::Registry;

/// How long closing waits for the connection to drain.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// A connection registered with Symphony.
pub(crate) struct Session {
    nc: async_nats::Client,
    /// Exchanges the token again before the JWT expires, or after the connection lost the server.
    renewal: tokio::task::JoinHandle<()>,
    /// The connection the services moved to at the last renewal (none yet: they are on `nc`).
    services: Arc<std::sync::Mutex<Option<async_nats::Client>>>,
    token: String,
    key_id: KeyId,
    instance_id: KeyId,
    registered: RegisterReply,
    reconnected: watch::Receiver<u64>,
    started_at: String,
    /// The platform's public caller-signing key, from the exchange (docs/protocol.md §7.3).
    caller_key: Option<String>,
}

/// `cirata.services.registry.register.<K>.<I>` with the manifest.
async fn register(
    nc: &async_nats::Client,
    key: &KeyId,
    instance: &KeyId,
    manifest: &Manifest,
) -> Result<RegisterReply> {
    let subject = subjects::register(key, instance);
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
        registry: &Arc<Registry>,
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
        // A server older than instance ids answers none: the key id serves as one.
        let instance_id = creds
            .api_key
            .instance_id
            .clone()
            .unwrap_or_else(|| creds.api_key.id.clone());
        let key_id = creds.api_key.id.clone();
        let (reconnect_tx, reconnected) = watch::channel(0u64);
        let cell = KeyCell::renewable(creds.api_key.clone(), creds.token.clone(), creds.from);
        let name = format!("{prefix}-{instance_id}");
        let nc = bootstrap::connect_nats(&cell, &creds.address, name.clone(), Some(reconnect_tx))
            .await?;
        let services = Arc::default();
        let renewal = tokio::spawn(renew(Renewal {
            cell,
            address: creds.address.clone(),
            name,
            nc: nc.clone(),
            registry: registry.clone(),
            services: Arc::clone(&services),
            reconnected: reconnected.clone(),
        }));
        let registered = match register(&nc, &key_id, &instance_id, manifest).await {
            Ok(r) => r,
            Err(e) => {
                renewal.abort();
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
            renewal,
            services,
            token: creds.token,
            key_id,
            instance_id,
            registered,
            reconnected,
            started_at: now_rfc3339(),
        })
    }

    /// Registers `manifest` again (a changed declaration, new endpoints, or after a reconnect).
    pub(crate) async fn register(&mut self, manifest: &Manifest) -> Result<()> {
        self.registered = register(&self.nc, &self.key_id, &self.instance_id, manifest).await?;
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

    pub(crate) fn key_id(&self) -> &KeyId {
        &self.key_id
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
        self.renewal.abort();
        let services = self.services.lock().expect("services lock").take();
        if let Some(services) = services {
            let _ = tokio::time::timeout(DRAIN_GRACE, services.drain()).await;
        }
        match tokio::time::timeout(DRAIN_GRACE, self.nc.drain()).await {
            Ok(Ok(())) => tracing::debug!("connection drained"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not drain the connection"),
            Err(_) => tracing::warn!("the connection did not drain within {DRAIN_GRACE:?}"),
        }
    }
}

/// What the renewal works with.
struct Renewal {
    cell: Arc<KeyCell>,
    address: symphony_protocol::Address,
    name: String,
    nc: async_nats::Client,
    registry: Arc<Registry>,
    services: Arc<std::sync::Mutex<Option<async_nats::Client>>>,
    /// Bumped each time the session's connection is back after a disconnect.
    reconnected: watch::Receiver<u64>,
}

/// How long a renewal waits for the session's connection to come back from its deliberate reconnect.
const RECONNECT_WAIT: Duration = Duration::from_secs(10);

/// Longest wait before a failed exchange is tried again.
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Keeps the session's JWT fresh (docs/protocol.md §9.3). When `renew_after_secs` has passed: exchanges the
/// token again, moves the services to a new connection made with the new JWT (both serve during the
/// handover, so no request finds nobody listening) and reconnects the session's connection with it (it
/// serves no request by then). When a connection lost the server (a capability edit revokes the JWTs issued
/// before it; an expired JWT): exchanges again, and the reconnect, which is already under way, uses the new
/// JWT.
async fn renew(r: Renewal) {
    let mut retry: Option<Duration> = None;
    loop {
        let wait = retry.or_else(|| r.cell.renew_after());
        let scheduled = tokio::select! {
            () = sleep_or_forever(wait) => retry.is_none(),
            () = r.cell.trouble.notified() => false,
        };
        if let Err(e) = r.cell.renew().await {
            let next = retry.map_or(Duration::from_secs(1), |d| (d * 2).min(RETRY_MAX));
            tracing::warn!(error = %e, retry_in = ?next, "could not renew the NATS credentials");
            retry = Some(next);
            continue;
        }
        retry = None;
        if !scheduled {
            tracing::info!("NATS credentials renewed after a disconnect");
            continue;
        }
        if let Err(e) = hand_over(&r).await {
            tracing::warn!(error = %e, "could not move the services to the renewed credentials");
        }
        // Nothing listens on the session's connection any more: reconnect it with the new JWT.
        let _ = r.nc.flush().await;
        let mut reconnected = r.reconnected.clone();
        reconnected.mark_unchanged();
        if let Err(e) = r.nc.force_reconnect().await {
            tracing::warn!(error = %e, "could not reconnect with the renewed credentials");
        } else if tokio::time::timeout(RECONNECT_WAIT, reconnected.changed())
            .await
            .is_ok()
        {
            // That disconnect was this renewal's own, not trouble: forget it, or the loop would
            // exchange the token again at once and time the next renewal from a JWT no connection
            // uses.
            let _ = r.cell.trouble.notified().now_or_never();
        }
        tracing::info!("NATS credentials renewed");
    }
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Moves the services to a new connection with the renewed JWT and closes the one they leave (not the
/// session's).
async fn hand_over(r: &Renewal) -> Result<()> {
    if !r.registry.has_services() {
        return Ok(());
    }
    let fresh = bootstrap::connect_nats(&r.cell, &r.address, r.name.clone(), None).await?;
    let moved = r.registry.move_to(&fresh).await;
    let previous = r.services.lock().expect("services lock").replace(fresh);
    moved?;
    if let Some(previous) = previous {
        let _ = tokio::time::timeout(DRAIN_GRACE, previous.drain()).await;
    }
    Ok(())
}

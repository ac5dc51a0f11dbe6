//! An extension's life: connect (token → key → NATS → registration), run (register with endpoints,
//! heartbeat with the health of `health.rs`, re-register after reconnects), and a graceful shutdown on
//! SIGINT/SIGTERM.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream;
use symphony_protocol::error::decode_reply;
use symphony_protocol::messages::{InstanceState, InstanceStatus, RegisterReply};
use symphony_protocol::{KeyId, Manifest, PROTOCOL_VERSION, subjects};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::bootstrap::{self, ProvisionInput, SERVICE_TIMEOUT};
use crate::client::Client;
use crate::credentials::CredentialStore;
use crate::error::{Error, Result};
use crate::extension::{Extension, sdk_info};
use crate::health::Publisher;

/// How long shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Retry interval for a registration that failed after a reconnect.
const REREGISTER_RETRY: Duration = Duration::from_secs(2);

/// A live connection and what registration told us.
pub(crate) struct Session {
    pub(crate) nc: async_nats::Client,
    pub(crate) token: String,
    pub(crate) instance_id: KeyId,
    pub(crate) registered: RegisterReply,
    reconnected: watch::Receiver<u64>,
    started_at: String,
}

pub(crate) fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `len` bytes; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
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

impl Extension {
    fn session(&self, what: &'static str) -> &Session {
        match &self.session {
            Some(s) => s,
            None => panic!("{}", Error::NotConnected { what }),
        }
    }

    /// Whether [`connect`](Extension::connect) has succeeded (and [`run`](Extension::run) has not ended).
    ///
    /// ```
    /// assert!(!cirata_symphony::Extension::new("Catalog", "catalog").is_connected());
    /// ```
    pub fn is_connected(&self) -> bool {
        self.session.is_some()
    }

    /// Finds a token, exchanges it for the API key, provisions a permanent key first if it is a registration
    /// token, connects to NATS and registers the manifest (so declared buckets exist before handlers run).
    /// Does nothing when already connected. [`run`](Extension::run) calls it when needed.
    ///
    /// Token order: [`with_token`](Extension::with_token); the OS credential store or
    /// `<config>/<prefix>.token` from an earlier provisioning (skipped with a warning if Symphony rejects
    /// it); `SYMPHONY_TOKEN`; `REGISTRATION_TOKEN`. Never reads stdin.
    ///
    /// ```no_run
    /// # async fn demo() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Catalog", "catalog");
    /// ext.connect().await?;
    /// println!("instance {}", ext.instance_id());
    /// # Ok(()) }
    /// ```
    pub async fn connect(&mut self) -> Result<()> {
        if self.session.is_some() {
            return Ok(());
        }
        self.check_valid()?;
        let store = CredentialStore::from_env(&self.prefix);
        let creds = bootstrap::resolve(
            self.explicit_token.as_deref(),
            ProvisionInput {
                request: self.provision_request(),
                store: &store,
            },
        )
        .await?;
        let instance_id = creds.api_key.id.clone();
        let (reconnect_tx, reconnected) = watch::channel(0u64);
        let nc = bootstrap::connect_nats(
            &creds.api_key,
            &creds.address,
            format!("{}-{instance_id}", self.prefix),
            Some(reconnect_tx),
        )
        .await?;
        let registered = match register(&nc, &instance_id, &self.manifest()).await {
            Ok(r) => r,
            Err(e) => {
                let _ = nc.drain().await;
                return Err(e);
            }
        };
        tracing::info!(
            prefix = %self.prefix,
            instance_id = %instance_id,
            buckets = registered.buckets.len(),
            "registered with Symphony"
        );
        self.session = Some(Session {
            nc,
            token: creds.token,
            instance_id,
            registered,
            reconnected,
            started_at: now_rfc3339(),
        });
        Ok(())
    }

    /// Registers the current manifest again when connected (a changed declaration shows at once);
    /// does nothing otherwise.
    pub(crate) async fn register_again(&mut self) -> Result<()> {
        if self.session.is_none() {
            return Ok(());
        }
        let manifest = self.manifest();
        let session = self.session.as_mut().expect("checked above");
        session.registered = register(&session.nc, &session.instance_id, &manifest).await?;
        tracing::debug!(prefix = %self.prefix, "registered again");
        Ok(())
    }

    /// The NATS connection.
    ///
    /// # Panics
    /// Before [`connect`](Extension::connect) succeeds.
    ///
    /// ```no_run
    /// # async fn demo(ext: &cirata_symphony::Extension) {
    /// let sub = ext.nats().subscribe("cirata.symphony.enforcement").await;
    /// # }
    /// ```
    pub fn nats(&self) -> &async_nats::Client {
        &self.session("nats()").nc
    }

    /// A JetStream context on the connection.
    ///
    /// # Panics
    /// Before [`connect`](Extension::connect) succeeds.
    ///
    /// ```no_run
    /// # async fn demo(ext: &cirata_symphony::Extension) {
    /// let js = ext.jetstream();
    /// # }
    /// ```
    pub fn jetstream(&self) -> jetstream::Context {
        jetstream::new(self.session("jetstream()").nc.clone())
    }

    /// Request/reply and publish helpers (0.5 s default timeout).
    ///
    /// # Panics
    /// Before [`connect`](Extension::connect) succeeds.
    ///
    /// ```no_run
    /// # async fn demo(ext: &cirata_symphony::Extension) -> cirata_symphony::Result<()> {
    /// ext.client().publish("extensions.catalog.changed", "{}").await?;
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> Client {
        Client::new(self.session("client()").nc.clone())
    }

    /// Opens a declared key-value bucket.
    ///
    /// ```no_run
    /// # async fn demo(ext: &cirata_symphony::Extension) -> cirata_symphony::Result<()> {
    /// let kv = ext.kv("catalog_items").await?;
    /// kv.put("item:1", "{}".into()).await.ok();
    /// # Ok(()) }
    /// ```
    pub async fn kv(&self, bucket: &str) -> Result<jetstream::kv::Store> {
        let session = self
            .session
            .as_ref()
            .ok_or(Error::NotConnected { what: "kv()" })?;
        jetstream::new(session.nc.clone())
            .get_key_value(bucket)
            .await
            .map_err(|e| Error::KeyValue {
                bucket: bucket.to_owned(),
                detail: e.to_string(),
            })
    }

    /// This instance's id (the key id of its token).
    ///
    /// # Panics
    /// Before [`connect`](Extension::connect) succeeds.
    ///
    /// ```no_run
    /// # fn demo(ext: &cirata_symphony::Extension) { println!("{}", ext.instance_id()); }
    /// ```
    pub fn instance_id(&self) -> &str {
        self.session("instance_id()").instance_id.as_str()
    }

    /// Runs until SIGINT or SIGTERM: connects if needed, registers with the endpoints added so far,
    /// publishes the instance status every `heartbeat_secs` (re-registering after a reconnect), and on the
    /// signal publishes `disconnected`, stops the services and drains the connection.
    ///
    /// The status carries the health ([`set_health`](Extension::set_health)); `run()` holds the extension,
    /// so tasks and handlers change it through a [`HealthHandle`](crate::HealthHandle) taken before.
    ///
    /// ```no_run
    /// # async fn demo() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Hello World", "hello");
    /// ext.run().await
    /// # }
    /// ```
    pub async fn run(&mut self) -> Result<()> {
        self.connect().await?;
        let signal = shutdown_signal()?;
        self.run_until(signal).await
    }

    /// Like [`run`](Extension::run), but stops when `shutdown` completes instead of on a signal.
    ///
    /// ```no_run
    /// # async fn demo(mut ext: cirata_symphony::Extension) -> cirata_symphony::Result<()> {
    /// ext.run_until(tokio::time::sleep(std::time::Duration::from_secs(60))).await
    /// # }
    /// ```
    pub async fn run_until<F: Future<Output = ()>>(&mut self, shutdown: F) -> Result<()> {
        self.connect().await?;
        let manifest = self.manifest();
        let session = self.session.as_mut().expect("connected above");
        session.registered = register(&session.nc, &session.instance_id, &manifest).await?;
        let endpoints: usize = manifest.endpoints.iter().map(|s| s.endpoints.len()).sum();
        tracing::info!(prefix = %self.prefix, endpoints, "running");

        let js = jetstream::new(session.nc.clone());
        let base = self.status_base().expect("connected above");
        self.health.start(Publisher { js, base }).await;
        self.health.publish().await;
        tokio::pin!(shutdown);
        let mut needs_register = false;
        let mut next_beat = Instant::now() + self.heartbeat();
        loop {
            let session = self.session.as_mut().expect("connected above");
            tokio::select! {
                () = &mut shutdown => break,
                Ok(()) = session.reconnected.changed() => {
                    tracing::info!("re-registering after reconnect");
                    needs_register = true;
                }
                () = tokio::time::sleep_until(next_beat) => {}
            }
            if needs_register {
                let manifest = self.manifest();
                let session = self.session.as_mut().expect("connected above");
                match register(&session.nc, &session.instance_id, &manifest).await {
                    Ok(reply) => {
                        session.registered = reply;
                        needs_register = false;
                    }
                    Err(e) => tracing::warn!(error = %e, "re-registration failed; retrying"),
                }
            }
            if !needs_register {
                self.health.publish().await;
            }
            next_beat = Instant::now()
                + if needs_register {
                    REREGISTER_RETRY.min(self.heartbeat())
                } else {
                    self.heartbeat()
                };
        }

        tracing::info!("shutting down");
        self.health.stop().await;
        self.registry.stop_all(SHUTDOWN_GRACE).await;
        tracing::debug!("services stopped");
        if let Some(session) = self.session.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, session.nc.drain()).await {
                Ok(Ok(())) => tracing::debug!("connection drained"),
                Ok(Err(e)) => tracing::warn!(error = %e, "could not drain the connection"),
                Err(_) => tracing::warn!("the connection did not drain within {SHUTDOWN_GRACE:?}"),
            }
        }
        Ok(())
    }

    fn heartbeat(&self) -> Duration {
        let secs = self
            .session
            .as_ref()
            .map_or(30, |s| s.registered.heartbeat_secs);
        Duration::from_secs(secs.max(1))
    }

    /// The fields of this instance's status that do not change while it runs.
    fn status_base(&self) -> Option<InstanceStatus> {
        let session = self.session.as_ref()?;
        Some(InstanceStatus {
            v: PROTOCOL_VERSION,
            prefix: self.prefix.clone(),
            instance_id: session.instance_id.clone(),
            name: self.name.clone(),
            state: InstanceState::Ok,
            sdk: sdk_info(),
            started_at: session.started_at.clone(),
            updated_at: now_rfc3339(),
            host: hostname(),
            pid: std::process::id(),
            message: None,
        })
    }
}

/// Completes on SIGINT or SIGTERM.
fn shutdown_signal() -> Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).map_err(Error::Signal)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(Error::Signal)?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_seconds() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z'), "{t}");
        assert_eq!(t.len(), "2026-11-23T10:00:00Z".len(), "{t}");
    }

    #[test]
    fn hostname_is_known() {
        assert!(!hostname().is_empty());
    }

    #[test]
    fn the_lifecycle_futures_can_be_spawned() {
        fn assert_send<T: Send>(_: &T) {}
        let mut ext = Extension::new("Catalog", "catalog");
        assert_send(&ext.connect());
        assert_send(&ext.run());
        assert_send(&ext.run_until(std::future::pending()));
        assert_send(&ext.add_endpoints("s", "1.0.0", "", Default::default()));
        assert_send(&ext.update_resource("ui://catalog/x", "text/markdown", ""));
    }

    #[test]
    #[should_panic(expected = "call `ext.connect().await?`")]
    fn accessors_before_connect_say_what_to_do() {
        let ext = Extension::new("Catalog", "catalog");
        let _ = ext.nats();
    }
}

//! An instance's health (docs/protocol.md §5.3) and the writer of its status: the `state` and `message`
//! set through a [`HealthHandle`] (the extension's [`set_health`](crate::Extension::set_health) uses one
//! too), and every status the instance publishes (heartbeats, the status after a reconnect, the one a
//! health change publishes at once), one at a time through the handle, so an older health can never land
//! after a newer one.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream;
use symphony_protocol::messages::{InstanceState, InstanceStatus};
use symphony_protocol::time::now_rfc3339;
use symphony_protocol::{KeyId, PROTOCOL_VERSION, subjects};

use crate::declare::sdk_info;
use crate::error::Error;

/// How long a status publish waits for its JetStream ack.
const STATUS_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// What a running instance reports about itself: the `state` of its status (docs/protocol.md §5.3).
///
/// The extension view (§5.4) turns `Warning` when some live instance reports `warning` or `error`, and
/// `Error` when every live instance reports `error`. `disconnected` is not a health: the SDK publishes it
/// itself on shutdown.
///
/// ```
/// use cirata_symphony::{Error, Health};
/// assert_eq!("warning".parse::<Health>().unwrap(), Health::Warning);
/// assert_eq!(Health::Error.as_str(), "error");
/// assert!(matches!("degraded".parse::<Health>(), Err(Error::InvalidHealth { .. })));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Health {
    /// Running normally (the default).
    #[default]
    Ok,
    /// Running, but something needs attention.
    Warning,
    /// Running, but failing at its work. The instance stays live: the gateway still routes to it.
    Error,
}

impl Health {
    /// The wire name: `ok`, `warning` or `error`.
    ///
    /// ```
    /// assert_eq!(cirata_symphony::Health::Warning.as_str(), "warning");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Warning => "warning",
            Health::Error => "error",
        }
    }

    pub(crate) fn state(self) -> InstanceState {
        match self {
            Health::Ok => InstanceState::Ok,
            Health::Warning => InstanceState::Warning,
            Health::Error => InstanceState::Error,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Health {
    type Err = Error;

    /// `ok`, `warning` or `error` (exactly, as on the wire); anything else is
    /// [`Error::InvalidHealth`].
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "ok" => Ok(Health::Ok),
            "warning" => Ok(Health::Warning),
            "error" => Ok(Health::Error),
            other => Err(Error::InvalidHealth {
                state: other.to_owned(),
            }),
        }
    }
}

/// The health and its message as stored: a message only with `warning` or `error`, never empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Report {
    health: Health,
    message: Option<String>,
}

impl Report {
    fn new(health: Health, message: Option<&str>) -> Self {
        let message = match health {
            Health::Ok => None,
            Health::Warning | Health::Error => {
                message.filter(|m| !m.trim().is_empty()).map(str::to_owned)
            }
        };
        Report { health, message }
    }
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

/// Where statuses go while the extension runs: the JetStream context and the fixed fields of the
/// instance's status.
pub(crate) struct Publisher {
    js: jetstream::Context,
    base: InstanceStatus,
}

impl Publisher {
    /// Publishes through `js` the status of instance `instance_id` of extension `name` (`prefix`), which
    /// started at `started_at` (RFC 3339) and is a member of the work partitioning when `partitioning`.
    pub(crate) fn new(
        js: jetstream::Context,
        prefix: &str,
        name: &str,
        key_id: KeyId,
        instance_id: KeyId,
        started_at: String,
        partitioning: bool,
    ) -> Self {
        let base = InstanceStatus {
            v: PROTOCOL_VERSION,
            prefix: prefix.to_owned(),
            instance_id,
            name: name.to_owned(),
            state: InstanceState::Ok,
            sdk: sdk_info(),
            started_at,
            updated_at: now_rfc3339(),
            host: hostname(),
            pid: std::process::id(),
            message: None,
            key_id: Some(key_id),
            partitioning,
        };
        Publisher { js, base }
    }
}

/// The health of one extension, shared by the extension, its handles and its run loop.
#[derive(Default)]
struct HealthShared {
    /// The current health; never held across an `.await`.
    report: Mutex<Report>,
    /// Present while `run()` runs; its lock orders the publishes.
    publisher: tokio::sync::Mutex<Option<Publisher>>,
}

impl HealthShared {
    fn report(&self) -> Report {
        self.report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stores the health, then publishes it when the extension runs.
    async fn set(&self, health: Health, message: Option<&str>) {
        let report = Report::new(health, message);
        let changed = {
            let mut current = self.report.lock().unwrap_or_else(PoisonError::into_inner);
            let changed = *current != report;
            *current = report;
            changed
        };
        if changed {
            tracing::info!(%health, message = message.unwrap_or_default(), "health changed");
        }
        self.publish().await;
    }

    /// Starts publishing: `run()` calls this once registered.
    async fn start(&self, publisher: Publisher) {
        *self.publisher.lock().await = Some(publisher);
    }

    /// Publishes the current health, when the extension runs. Failures are logged, not returned.
    async fn publish(&self) {
        let publisher = self.publisher.lock().await;
        if let Some(p) = publisher.as_ref() {
            let report = self.report();
            publish_status(p, report.health.state(), report.message).await;
        }
    }

    /// Publishes `disconnected` and stops publishing: a health set later is stored, not published.
    async fn stop(&self) {
        let publisher = self.publisher.lock().await.take();
        if let Some(p) = publisher {
            publish_status(&p, InstanceState::Disconnected, None).await;
        }
    }
}

/// Publishes a status through JetStream and waits for the ack; failures are logged, not returned.
async fn publish_status(p: &Publisher, state: InstanceState, message: Option<String>) {
    let status = InstanceStatus {
        state,
        message,
        updated_at: now_rfc3339(),
        ..p.base.clone()
    };
    let subject = subjects::status_subject(&status.prefix, &status.instance_id);
    let payload = serde_json::to_vec(&status).expect("status always serializes");
    let result = async {
        let ack =
            p.js.publish(subject.clone(), payload.into())
                .await
                .map_err(|e| e.to_string())?;
        tokio::time::timeout(STATUS_ACK_TIMEOUT, ack)
            .await
            .map_err(|_| "no ack in time".to_owned())?
            .map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(_) => tracing::debug!(%subject, ?state, "status published"),
        Err(e) => tracing::warn!(%subject, error = %e, "could not publish the instance status"),
    }
}

/// A cheap, cloneable handle on an extension's health, for tasks and endpoint handlers while
/// [`Extension::run`](crate::Extension::run) holds the extension (`run()` takes `&mut self`, so nothing
/// else can call [`Extension::set_health`](crate::Extension::set_health) then). Get it with
/// [`Extension::health_handle`](crate::Extension::health_handle) before `run()`; every handle and the
/// extension share one health.
///
/// ```no_run
/// use cirata_symphony::{Extension, HandlerError, Health, Request, ServiceConfig};
///
/// # async fn demo() -> cirata_symphony::Result<()> {
/// let mut ext = Extension::new("Catalog", "catalog");
/// ext.add_capability("sub", "extensions.catalog.>", "Everything of catalog")?;
/// ext.connect().await?;
/// let health = ext.health_handle();
///
/// // From a task:
/// let watcher = health.clone();
/// tokio::spawn(async move {
///     watcher.set(Health::Warning, Some("disk 91% full")).await;
/// });
///
/// // From a handler:
/// let svc = ext.add_endpoints(ServiceConfig::new("catalog", "1.0.0")).await?;
/// let group = svc.add_group("cirata.extensions.catalog");
/// group
///     .add_endpoint("list", move |_req: Request| {
///         let health = health.clone();
///         async move {
///             health.set(Health::Ok, None).await;
///             Ok::<_, HandlerError>("[]")
///         }
///     })
///     .await?;
/// ext.run().await
/// # }
/// ```
#[derive(Clone)]
pub struct HealthHandle {
    shared: Arc<HealthShared>,
}

impl fmt::Debug for HealthHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.shared.report();
        f.debug_struct("HealthHandle")
            .field("health", &report.health)
            .field("message", &report.message)
            .finish()
    }
}

impl HealthHandle {
    /// A handle on a new health ([`Health::Ok`]); its clones share it.
    pub(crate) fn new() -> Self {
        HealthHandle {
            shared: Arc::default(),
        }
    }

    /// Starts publishing through `publisher`: the run loop calls this once registered.
    pub(crate) async fn start(&self, publisher: Publisher) {
        self.shared.start(publisher).await;
    }

    /// Publishes the current health while publishing is started (a heartbeat). Failures are logged.
    pub(crate) async fn publish(&self) {
        self.shared.publish().await;
    }

    /// Publishes `disconnected` and stops publishing: a health set later is stored, not published.
    pub(crate) async fn stop(&self) {
        self.shared.stop().await;
    }

    /// Sets the instance's health: the `state` (and `message`) of its status (docs/protocol.md §5.3).
    /// The health is stored; while the extension runs ([`run`](crate::Extension::run)), the status is
    /// published at once and every later heartbeat carries it. Before `run()` the first status `run()`
    /// publishes carries it. On shutdown the SDK still publishes `disconnected`.
    ///
    /// `message` says why (shown in the extension view as `instance <id>: <message>`); it is sent with
    /// [`Health::Warning`] and [`Health::Error`] only, and a blank one is dropped. A state read from text
    /// is checked by [`Health::from_str`] (`ok`, `warning` or `error`; else [`Error::InvalidHealth`]).
    ///
    /// Never fails: a publish that fails is logged, and the next heartbeat carries the health.
    ///
    /// ```
    /// use cirata_symphony::{Extension, Health};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let health = Extension::new("Catalog", "catalog").health_handle();
    /// health.set(Health::Warning, Some("disk 91% full")).await;
    /// assert_eq!(health.get(), (Health::Warning, Some("disk 91% full".to_owned())));
    /// # }
    /// ```
    pub async fn set(&self, health: Health, message: Option<&str>) {
        self.shared.set(health, message).await;
    }

    /// The health set last and its message ([`Health::Ok`] and `None` until one is set).
    ///
    /// ```
    /// use cirata_symphony::{Extension, Health};
    /// let handle = Extension::new("Catalog", "catalog").health_handle();
    /// assert_eq!(handle.get(), (Health::Ok, None));
    /// ```
    pub fn get(&self) -> (Health, Option<String>) {
        let report = self.shared.report();
        (report.health, report.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ok_warning_and_error_parse() {
        for h in [Health::Ok, Health::Warning, Health::Error] {
            assert_eq!(h.as_str().parse::<Health>().unwrap(), h);
            assert_eq!(h.to_string(), h.as_str());
        }
        for bad in ["disconnected", "OK", "Warning", "degraded", "", " ok"] {
            let e = bad.parse::<Health>().unwrap_err();
            assert!(
                matches!(&e, Error::InvalidHealth { state } if state == bad),
                "{bad:?}: {e:?}"
            );
            let text = e.to_string();
            assert!(
                text.contains("ok, warning or error"),
                "says what is allowed: {text}"
            );
        }
        assert!(
            "disconnected"
                .parse::<Health>()
                .unwrap_err()
                .to_string()
                .contains("shutdown"),
            "explains disconnected"
        );
    }

    #[test]
    fn the_state_maps_to_the_wire() {
        assert_eq!(Health::Ok.state(), InstanceState::Ok);
        assert_eq!(Health::Warning.state(), InstanceState::Warning);
        assert_eq!(Health::Error.state(), InstanceState::Error);
    }

    #[tokio::test]
    async fn a_message_goes_with_warning_and_error_only() {
        let handle = HealthHandle::new();
        let clone = handle.clone();
        assert_eq!(handle.get(), (Health::Ok, None));

        clone.set(Health::Warning, Some("disk 91% full")).await;
        assert_eq!(
            handle.get(),
            (Health::Warning, Some("disk 91% full".to_owned())),
            "clones share one health"
        );
        handle.set(Health::Error, Some("  ")).await;
        assert_eq!(
            clone.get(),
            (Health::Error, None),
            "a blank message is dropped"
        );
        handle.set(Health::Ok, Some("ignored")).await;
        assert_eq!(clone.get(), (Health::Ok, None), "ok has no message");
    }

    #[tokio::test]
    async fn a_health_set_before_or_after_the_run_is_only_stored() {
        let handle = HealthHandle::new();
        // No publisher yet (before run()) and after stop(): nothing to publish to, nothing fails.
        handle.publish().await;
        handle.stop().await;
        handle.set(Health::Warning, Some("later")).await;
        assert_eq!(handle.get(), (Health::Warning, Some("later".to_owned())));
    }

    #[test]
    fn handles_can_move_into_tasks() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>(_: &T) {}
        fn assert_send<T: Send>(_: &T) {}
        let handle = HealthHandle::new();
        assert_send_sync(&handle);
        assert_send(&handle.set(Health::Warning, None));
        assert_send(&handle.publish());
    }

    #[test]
    fn hostname_is_known() {
        assert!(!hostname().is_empty());
    }
}

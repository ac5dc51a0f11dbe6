//! An instance's health (docs/protocol.md §5.3): the `state` and `message` of its status, set by the
//! extension with [`Extension::set_health`] or, while [`Extension::run`] holds the extension, through a
//! [`HealthHandle`]. Every status the instance publishes (heartbeats, the status after a reconnect, the
//! one a health change publishes at once) goes through [`HealthShared::publish`], one at a time, so an
//! older health can never land after a newer one.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream;
use symphony_protocol::messages::{InstanceState, InstanceStatus};
use symphony_protocol::subjects;

use crate::error::Error;
use crate::extension::Extension;

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

/// Where statuses go while the extension runs: the JetStream context and the fixed fields of the
/// instance's status.
pub(crate) struct Publisher {
    pub(crate) js: jetstream::Context,
    pub(crate) base: InstanceStatus,
}

/// The health of one extension, shared by the extension, its handles and its run loop.
#[derive(Default)]
pub(crate) struct HealthShared {
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
    pub(crate) async fn start(&self, publisher: Publisher) {
        *self.publisher.lock().await = Some(publisher);
    }

    /// Publishes the current health, when the extension runs. Failures are logged, not returned.
    pub(crate) async fn publish(&self) {
        let publisher = self.publisher.lock().await;
        if let Some(p) = publisher.as_ref() {
            let report = self.report();
            publish_status(p, report.health.state(), report.message).await;
        }
    }

    /// Publishes `disconnected` and stops publishing: a health set later is stored, not published.
    pub(crate) async fn stop(&self) {
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
        updated_at: crate::lifecycle::now_rfc3339(),
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
/// [`Extension::run`] holds the extension (`run()` takes `&mut self`, so nothing else can call
/// [`Extension::set_health`] then). Get it with [`Extension::health_handle`] before `run()`; every
/// handle and the extension share one health.
///
/// ```no_run
/// use cirata_symphony::{Extension, HandlerError, Health, Request};
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
/// let svc = ext.add_endpoints("catalog", "1.0.0", "", Default::default()).await?;
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
    /// Same as [`Extension::set_health`].
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

impl Extension {
    /// Sets this instance's health: the `state` (and `message`) of its status (docs/protocol.md §5.3).
    /// The health is stored; while the extension runs ([`run`](Extension::run)), the status is published
    /// at once and every later heartbeat carries it. Before `run()` the first status `run()` publishes
    /// carries it. On shutdown the SDK still publishes `disconnected`.
    ///
    /// `message` says why (shown in the extension view as `instance <id>: <message>`); it is sent with
    /// [`Health::Warning`] and [`Health::Error`] only, and a blank one is dropped. A state read from text
    /// is checked by [`Health::from_str`] (`ok`, `warning` or `error`; else
    /// [`Error::InvalidHealth`]).
    ///
    /// Never fails: a publish that fails is logged, and the next heartbeat carries the health. While
    /// `run()` holds the extension, use a [`HealthHandle`] (from [`health_handle`](Extension::health_handle)).
    ///
    /// ```no_run
    /// use cirata_symphony::{Extension, Health};
    /// # async fn demo() -> cirata_symphony::Result<()> {
    /// let mut ext = Extension::new("Catalog", "catalog");
    /// ext.set_health(Health::Warning, Some("disk 91% full")).await;
    /// ext.run().await
    /// # }
    /// ```
    pub async fn set_health(&self, health: Health, message: Option<&str>) {
        self.health.set(health, message).await;
    }

    /// The health set last and its message ([`Health::Ok`] and `None` until one is set).
    ///
    /// ```
    /// use cirata_symphony::{Extension, Health};
    /// assert_eq!(Extension::new("Catalog", "catalog").health(), (Health::Ok, None));
    /// ```
    pub fn health(&self) -> (Health, Option<String>) {
        self.health_handle().get()
    }

    /// A cloneable handle that sets this extension's health from tasks and endpoint handlers while
    /// [`run`](Extension::run) holds the extension. See [`HealthHandle`].
    ///
    /// ```
    /// use cirata_symphony::{Extension, Health};
    /// let ext = Extension::new("Catalog", "catalog");
    /// let handle = ext.health_handle();
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// handle.set(Health::Error, Some("database unreachable")).await;
    /// # });
    /// assert_eq!(ext.health(), (Health::Error, Some("database unreachable".to_owned())));
    /// ```
    pub fn health_handle(&self) -> HealthHandle {
        HealthHandle {
            shared: Arc::clone(&self.health),
        }
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
        let ext = Extension::new("Catalog", "catalog");
        let handle = ext.health_handle();
        assert_eq!(ext.health(), (Health::Ok, None));

        ext.set_health(Health::Warning, Some("disk 91% full")).await;
        assert_eq!(
            handle.get(),
            (Health::Warning, Some("disk 91% full".to_owned()))
        );
        handle.set(Health::Error, Some("  ")).await;
        assert_eq!(
            ext.health(),
            (Health::Error, None),
            "a blank message is dropped"
        );
        handle.set(Health::Ok, Some("ignored")).await;
        assert_eq!(ext.health(), (Health::Ok, None), "ok has no message");
    }

    #[test]
    fn handles_can_move_into_tasks() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>(_: &T) {}
        fn assert_send<T: Send>(_: &T) {}
        let ext = Extension::new("Catalog", "catalog");
        let handle = ext.health_handle();
        assert_send_sync(&handle);
        assert_send(&handle.set(Health::Warning, None));
        assert_send(&ext.set_health(Health::Warning, None));
    }
}

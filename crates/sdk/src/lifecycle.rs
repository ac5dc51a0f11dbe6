//! An extension's run: register with the endpoints started so far, heartbeat the status with the health of
//! `health.rs`, register again after reconnects, and shut down gracefully (`disconnected`, services
//! stopped, connection drained) on SIGINT/SIGTERM or a given future.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream;
use symphony_protocol::Manifest;
use tokio::time::Instant;

use crate::declare::Declarations;
use crate::error::{Error, Result};
use crate::health::{HealthHandle, Publisher};
use crate::partition::{Membership, WorkPartitioner};
use crate::service::Registry;
use crate::session::Session;

/// How long shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Retry interval for a registration that failed after a reconnect.
const REREGISTER_RETRY: Duration = Duration::from_secs(2);

/// What a run works on, borrowed from the extension for as long as it runs.
pub(crate) struct Run<'a> {
    pub(crate) declarations: &'a Declarations,
    pub(crate) registry: &'a Registry,
    pub(crate) health: &'a HealthHandle,
    pub(crate) partitioner: &'a WorkPartitioner,
    /// Connected when the run starts; closed and emptied when it ends.
    pub(crate) session: &'a mut Option<Session>,
}

impl Run<'_> {
    /// Runs until `shutdown` completes. Fails only when serving the instance handlers and commands,
    /// joining the work partitioning or the first registration fails (the session is kept then); a failed
    /// registration after a reconnect is retried.
    pub(crate) async fn until<F: Future<Output = ()>>(self, shutdown: F) -> Result<()> {
        let Run {
            declarations,
            registry,
            health,
            partitioner,
            session: slot,
        } = self;
        let manifest = || registry.manifest(declarations);
        let session = slot.as_mut().ok_or(Error::NotConnected { what: "run()" })?;
        registry
            .serve_listeners(declarations.prefix(), session.instance_id(), session.nats())
            .await?;
        // The buckets exist before the status says `partitioning`, so the server finds the view's.
        let membership = if partitioner.is_enabled() {
            Some(
                Membership::start(partitioner, session.nats(), session.instance_id().as_str())
                    .await?,
            )
        } else {
            None
        };
        let first = manifest();
        if let Err(e) = session.register(&first).await {
            if let Some(membership) = membership {
                membership.leave().await;
            }
            return Err(e);
        }
        let endpoints: usize = first.endpoints.iter().map(|s| s.endpoints.len()).sum();
        tracing::info!(prefix = %declarations.prefix(), endpoints, "running");

        let publisher = Publisher::new(
            jetstream::new(session.nats().clone()),
            declarations.prefix(),
            declarations.name(),
            session.key_id().clone(),
            session.instance_id().clone(),
            session.started_at().to_owned(),
            membership.is_some(),
        );
        health.start(publisher).await;
        health.publish().await;
        heartbeat(session, health, manifest, shutdown).await;

        tracing::info!("shutting down");
        if let Some(membership) = membership {
            membership.leave().await;
        }
        health.stop().await;
        registry.stop_all(SHUTDOWN_GRACE).await;
        tracing::debug!("services stopped");
        if let Some(session) = slot.take() {
            session.close().await;
        }
        Ok(())
    }
}

/// Publishes the status every heartbeat and registers again after a reconnect (retrying a failure every
/// 2 s, at most every heartbeat, without a status in between), until `shutdown` completes.
async fn heartbeat<F: Future<Output = ()>>(
    session: &mut Session,
    health: &HealthHandle,
    manifest: impl Fn() -> Manifest,
    shutdown: F,
) {
    tokio::pin!(shutdown);
    let mut needs_register = false;
    let mut next_beat = Instant::now() + session.heartbeat();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Ok(()) = session.reconnected() => {
                tracing::info!("re-registering after reconnect");
                needs_register = true;
            }
            () = tokio::time::sleep_until(next_beat) => {}
        }
        if needs_register {
            match session.register(&manifest()).await {
                Ok(()) => needs_register = false,
                Err(e) => tracing::warn!(error = %e, "re-registration failed; retrying"),
            }
        }
        if !needs_register {
            health.publish().await;
        }
        next_beat = Instant::now()
            + if needs_register {
                REREGISTER_RETRY.min(session.heartbeat())
            } else {
                session.heartbeat()
            };
    }
}

/// Completes on SIGINT or SIGTERM.
pub(crate) fn shutdown_signal() -> Result<impl Future<Output = ()>> {
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

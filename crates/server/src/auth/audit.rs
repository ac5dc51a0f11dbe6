//! The audit trail: one JetStream stream (`SYMPHONY_AUDIT`) of sign-ins, failures, key creation and
//! revocation, provisioning and administration.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use symphony_protocol::subjects::{AUDIT_STREAM, AUDIT_SUBJECT_PREFIX};
use symphony_protocol::time::now_rfc3339;

pub use symphony_protocol::rest::{AuditAction, AuditEvent};

/// An event of `action` by `actor` on `target`, now.
pub fn event(action: AuditAction, actor: &str, target: &str) -> AuditEvent {
    AuditEvent::new(now_rfc3339(), action, actor, target)
}

#[derive(Clone)]
pub struct Audit {
    js: jetstream::Context,
}

impl Audit {
    /// Creates (or updates) the stream: 90 days, file storage.
    pub async fn init(js: jetstream::Context, replicas: usize) -> anyhow::Result<Audit> {
        js.create_or_update_stream(stream::Config {
            name: AUDIT_STREAM.into(),
            description: Some("Symphony audit trail".into()),
            subjects: vec![format!("{AUDIT_SUBJECT_PREFIX}.>")],
            max_age: Duration::from_secs(90 * 24 * 3600),
            num_replicas: replicas,
            allow_direct: true,
            ..Default::default()
        })
        .await?;
        Ok(Audit { js })
    }

    /// Uses the existing stream (CLI use).
    pub fn open(js: jetstream::Context) -> Audit {
        Audit { js }
    }

    /// Records an event and waits for JetStream to acknowledge it; failures are logged as errors and
    /// counted (`symphony_audit_write_failures_total` at `GET /metrics`), never fatal.
    pub async fn record(&self, event: AuditEvent) {
        let subject = format!("{AUDIT_SUBJECT_PREFIX}.{}", event.action);
        let payload = serde_json::to_vec(&event).unwrap_or_default();
        let acked = match self.js.publish(subject, payload.into()).await {
            Ok(ack) => ack.await.map(|_| ()).map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = acked {
            crate::metrics::AUDIT_WRITE_FAILURES.increment();
            tracing::error!(error = %e, action = %event.action, "cannot write the audit trail");
        }
    }

    /// The newest `limit` events, newest first.
    pub async fn recent(&self, limit: usize) -> anyhow::Result<Vec<AuditEvent>> {
        let stream = self.js.get_stream(AUDIT_STREAM).await?;
        let info = stream.get_info().await?;
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let mut out = Vec::new();
        let mut seq = last;
        while seq >= first && seq > 0 && out.len() < limit {
            if let Ok(msg) = stream.direct_get(seq).await
                && let Ok(event) = serde_json::from_slice::<AuditEvent>(&msg.payload)
            {
                out.push(event);
            }
            seq -= 1;
        }
        Ok(out)
    }
}

//! Request and reply payloads of the HTTP API and the NATS services (docs/protocol.md §2, §5).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::capability::{Capability, CapabilitySummary};
use crate::manifest::{Manifest, SdkInfo};
use crate::token::KeyId;

/// The two kinds of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// A permanent key an extension or client runs with.
    ApiKey,
    /// A single-use key that may only provision an `ApiKey`.
    Registration,
}

/// `GET /api/v1/apikey`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: KeyId,
    /// The instance this exchange is for: the JWT's `jti` (docs/protocol.md §12.1). Absent from
    /// servers older than instance ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<KeyId>,
    pub kind: KeyKind,
    pub name: String,
    pub prefix: Option<String>,
    pub jwt: String,
    pub seed: String,
    pub nats_urls: Vec<String>,
    pub inbox_prefix: String,
    pub capabilities: CapabilitySummary,
    /// When the token itself expires (RFC 3339), if ever.
    pub expires_at: Option<String>,
    /// The platform's public caller-signing nkey: `Symphony-Caller-Signature` verifies against it
    /// (docs/protocol.md §7.3). Absent from servers that do not sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_signing_key: Option<String>,
    /// When `jwt` expires (RFC 3339): nats-server closes a connection whose JWT has expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_expires_at: Option<String>,
    /// Exchange the token again after this many seconds and move the connection to the new JWT
    /// (docs/protocol.md §9.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_after_secs: Option<u64>,
}

/// `cirata.services.registry.provision.<K>` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionRequest {
    pub v: u32,
    pub name: String,
    pub prefix: String,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    #[serde(default)]
    pub buckets: Vec<String>,
}

/// `cirata.services.registry.provision.<K>` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionReply {
    pub token: String,
    pub id: KeyId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketReply {
    pub name: String,
    pub replicas: usize,
}

/// `cirata.services.registry.register.<K>` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterReply {
    pub prefix: String,
    pub instance_id: KeyId,
    pub heartbeat_secs: u64,
    pub status_ttl_secs: u64,
    pub buckets: Vec<BucketReply>,
    /// What registration accepted but will not serve (OpenAPI operations no endpoint serves); the
    /// SDKs log each as a warning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// `cirata.services.cluster.info` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub replicas: usize,
    pub cluster_size: usize,
}

/// What an instance reports about itself (docs/protocol.md §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// Running normally.
    Ok,
    /// Running, but something needs attention (`message` says what).
    Warning,
    /// Running, but failing at its work (`message` says what). Still live: it is routed to.
    Error,
    /// Gone: published by the instance on a graceful shutdown, or written by the server when
    /// nats-server reports that the instance's connection closed.
    Disconnected,
}

impl InstanceState {
    /// Whether an instance in this state is live (counted, shown and routed to): all but
    /// `disconnected`.
    pub fn is_live(self) -> bool {
        self != InstanceState::Disconnected
    }
}

/// What each instance publishes to `$KV.symphony_status.<P>.<K>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub v: u32,
    pub prefix: String,
    pub instance_id: KeyId,
    pub name: String,
    pub state: InstanceState,
    #[serde(default)]
    pub sdk: SdkInfo,
    pub started_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub pid: u32,
    /// Why the instance is in `warning` or `error`, or (written by the server) why it is
    /// `disconnected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The key the instance runs with (counted for it only when the instance id verifies against
    /// it, docs/protocol.md §12.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<KeyId>,
    /// The instance takes part in work partitioning (§12.4).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partitioning: bool,
}

/// The state of an extension as the UI shows it (docs/protocol.md §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExtensionState {
    #[serde(rename = "OK")]
    Ok,
    Warning,
    Error,
    /// Registered, but no live instance.
    Inactive,
}

/// One instance as the server observed it: its latest status and how long ago nats-server stored
/// that status (the time since its last heartbeat, on the platform's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedInstance {
    pub status: InstanceStatus,
    pub since_heartbeat: Duration,
}

/// Slack for a heartbeat's delivery (a JetStream publish and its ack) that does not shrink with the
/// interval: with the short heartbeats tests use, 1.5 × the interval alone would leave only
/// milliseconds to spare.
pub const HEARTBEAT_SLACK: Duration = Duration::from_secs(2);

/// Whether a heartbeat `since_heartbeat` ago is late for instances that beat every `heartbeat`:
/// more than 1.5 heartbeats, and more than one heartbeat plus [`HEARTBEAT_SLACK`], have passed.
pub fn heartbeat_late(since_heartbeat: Duration, heartbeat: Duration) -> bool {
    let limit = (heartbeat.saturating_mul(3) / 2).max(heartbeat.saturating_add(HEARTBEAT_SLACK));
    since_heartbeat > limit
}

/// The state of an extension from its instances (docs/protocol.md §5.4), with a message that
/// says why when it is not `OK`:
///
/// - `Inactive`: no live instance (none at all, or all `disconnected`);
/// - `Error`: every live instance reports `error`;
/// - `Warning`: some live instance reports `warning` or `error`, or its heartbeat is late;
/// - `OK` otherwise.
pub fn extension_state(
    instances: &[ObservedInstance],
    heartbeat: Duration,
) -> (ExtensionState, Option<String>) {
    let live: Vec<&ObservedInstance> = instances
        .iter()
        .filter(|i| i.status.state.is_live())
        .collect();
    let said = |i: &ObservedInstance, what: &str| match &i.status.message {
        Some(m) if !m.is_empty() => format!("instance {}: {m}", i.status.instance_id),
        _ => format!("instance {} reports {what}", i.status.instance_id),
    };
    if live.is_empty() {
        // The most recent reason an instance went away, if the server recorded one.
        let last = instances
            .iter()
            .filter(|i| i.status.message.as_deref().is_some_and(|m| !m.is_empty()))
            .max_by(|a, b| a.status.updated_at.cmp(&b.status.updated_at));
        return (ExtensionState::Inactive, last.map(|i| said(i, "")));
    }
    if live.iter().all(|i| i.status.state == InstanceState::Error) {
        return (ExtensionState::Error, Some(said(live[0], "error")));
    }
    let troubled = live.iter().find(|i| {
        matches!(
            i.status.state,
            InstanceState::Warning | InstanceState::Error
        )
    });
    if let Some(i) = troubled {
        let what = if i.status.state == InstanceState::Error {
            "error"
        } else {
            "warning"
        };
        return (ExtensionState::Warning, Some(said(i, what)));
    }
    if let Some(i) = live
        .iter()
        .find(|i| heartbeat_late(i.since_heartbeat, heartbeat))
    {
        return (
            ExtensionState::Warning,
            Some(format!(
                "instance {}: no heartbeat for {} s (expected every {} s)",
                i.status.instance_id,
                i.since_heartbeat.as_secs(),
                heartbeat.as_secs().max(1)
            )),
        );
    }
    (ExtensionState::Ok, None)
}

/// What is stored in `symphony_registry` under a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryRecord {
    pub manifest: Manifest,
    pub registered_at: String,
    pub updated_at: String,
    /// What the last registration accepted but will not serve (see [`RegisterReply::warnings`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// `GET /api/v1/extensions/{prefix}` and `symphony extension list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionView {
    pub prefix: String,
    pub name: String,
    pub description: String,
    pub state: ExtensionState,
    pub manifest: Manifest,
    pub instances: Vec<InstanceStatus>,
    pub registered_at: String,
    pub updated_at: String,
    /// Why `state` is not `OK` (absent when it is, or when nothing is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the last registration accepted but will not serve (OpenAPI operations no endpoint serves).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ExtensionView {
    /// The view of a registered extension whose instances beat every `heartbeat`.
    pub fn new(
        record: RegistryRecord,
        instances: Vec<ObservedInstance>,
        heartbeat: Duration,
    ) -> Self {
        let (state, message) = extension_state(&instances, heartbeat);
        ExtensionView {
            prefix: record.manifest.prefix.clone(),
            name: record.manifest.name.clone(),
            description: record.manifest.description.clone(),
            state,
            manifest: record.manifest,
            instances: instances.into_iter().map(|i| i.status).collect(),
            registered_at: record.registered_at,
            updated_at: record.updated_at,
            message,
            warnings: record.warnings,
        }
    }
}

/// `GET /api/v1/symphonyinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymphonyInfo {
    pub name: String,
    pub short_name: String,
    pub version: String,
    pub nats_address: String,
    pub nats_urls: Vec<String>,
    pub websocket_url: Option<String>,
    pub origin: String,
    /// The UI sandbox origin: extension UI frames load from here (docs/ui.md "Trust"). Absent
    /// from servers that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui_sandbox_origin: Option<String>,
    /// The deployment id licenses are locked to (`license::deployment_id` of the operator's public
    /// key). Absent from servers that predate licenses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
}

/// `<data-dir>/ports.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortsFile {
    pub http: u16,
    pub nats: u16,
    pub websocket: u16,
    pub http_url: String,
    pub nats_url: String,
    pub pid: u32,
    /// The CA file clients of this instance trust, when TLS uses a private CA.
    #[serde(default)]
    pub tls_ca: Option<String>,
    /// The heartbeat interval the server hands to extensions (so the CLI judges late heartbeats as
    /// the server does).
    #[serde(default)]
    pub heartbeat_secs: Option<u64>,
    /// The UI sandbox listener's port (0: none).
    #[serde(default)]
    pub ui_sandbox: u16,
    /// The UI sandbox origin the shell loads extension frames from.
    #[serde(default)]
    pub ui_sandbox_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Duration = Duration::from_secs(30);

    /// An instance (with a fresh id) in `state` whose last heartbeat was `since` seconds ago.
    fn instance(state: InstanceState, since: u64) -> ObservedInstance {
        ObservedInstance {
            status: InstanceStatus {
                v: 1,
                prefix: "hello".into(),
                instance_id: KeyId::generate(),
                name: "Hello".into(),
                state,
                sdk: SdkInfo::default(),
                started_at: "2026-01-01T00:00:00Z".into(),
                updated_at: "2026-01-01T00:00:30Z".into(),
                host: "h".into(),
                pid: 1,
                message: None,
                key_id: None,
                partitioning: false,
            },
            since_heartbeat: Duration::from_secs(since),
        }
    }

    fn with_message(mut i: ObservedInstance, message: &str) -> ObservedInstance {
        i.status.message = Some(message.into());
        i
    }

    fn state(instances: &[ObservedInstance]) -> ExtensionState {
        extension_state(instances, BEAT).0
    }

    #[test]
    fn no_live_instance_is_inactive() {
        use InstanceState::*;
        assert_eq!(state(&[]), ExtensionState::Inactive);
        let gone = [instance(Disconnected, 0), instance(Disconnected, 500)];
        assert_eq!(state(&gone), ExtensionState::Inactive);
        let (_, message) = extension_state(&gone, BEAT);
        assert_eq!(message, None, "nothing recorded why");
        let lost = [with_message(
            instance(Disconnected, 0),
            "connection closed (Client Closed)",
        )];
        let (s, message) = extension_state(&lost, BEAT);
        assert_eq!(s, ExtensionState::Inactive);
        assert!(
            message
                .unwrap()
                .ends_with(": connection closed (Client Closed)"),
            "the server's reason is shown"
        );
    }

    #[test]
    fn every_live_instance_in_error_is_error() {
        use InstanceState::*;
        let one = [with_message(instance(Error, 0), "database down")];
        let (s, message) = extension_state(&one, BEAT);
        assert_eq!(s, ExtensionState::Error);
        assert!(message.unwrap().ends_with(": database down"));
        // A disconnected instance does not count either way.
        let two = [
            instance(Error, 0),
            instance(Error, 0),
            instance(Disconnected, 0),
        ];
        assert_eq!(state(&two), ExtensionState::Error);
        // Error dominates a late heartbeat.
        assert_eq!(state(&[instance(Error, 999)]), ExtensionState::Error);
    }

    #[test]
    fn some_trouble_is_warning() {
        use InstanceState::*;
        assert_eq!(
            state(&[instance(Ok, 0), instance(Error, 0)]),
            ExtensionState::Warning,
            "one of two instances in error"
        );
        let (s, message) = extension_state(
            &[
                instance(Ok, 0),
                with_message(instance(Warning, 0), "disk 91% full"),
            ],
            BEAT,
        );
        assert_eq!(s, ExtensionState::Warning);
        assert!(message.unwrap().ends_with(": disk 91% full"));
        assert_eq!(state(&[instance(Warning, 0)]), ExtensionState::Warning);
        assert_eq!(
            state(&[instance(Warning, 0), instance(Error, 0)]),
            ExtensionState::Warning,
            "not every live instance is in error"
        );
        let (s, message) = extension_state(&[instance(Warning, 0)], BEAT);
        assert_eq!(s, ExtensionState::Warning);
        assert!(message.unwrap().ends_with(" reports warning"));
    }

    #[test]
    fn a_late_heartbeat_is_warning() {
        use InstanceState::*;
        // 1.5 × 30 s = 45 s: on time at 45 s, late after it.
        assert_eq!(state(&[instance(Ok, 45)]), ExtensionState::Ok);
        let (s, message) = extension_state(&[instance(Ok, 46)], BEAT);
        assert_eq!(s, ExtensionState::Warning);
        assert!(
            message
                .unwrap()
                .ends_with(": no heartbeat for 46 s (expected every 30 s)"),
            "says why"
        );
        assert_eq!(
            state(&[instance(Ok, 0), instance(Ok, 100)]),
            ExtensionState::Warning,
            "one late instance of two"
        );
        // A disconnected instance is never late.
        assert_eq!(
            state(&[instance(Ok, 0), instance(Disconnected, 100)]),
            ExtensionState::Ok
        );
    }

    #[test]
    fn lateness_is_more_than_one_and_a_half_heartbeats_with_a_floor() {
        let secs = Duration::from_secs;
        let ms = Duration::from_millis;
        // 1.5 × 30 s = 45 s > 30 s + 2 s.
        assert!(!heartbeat_late(secs(45), secs(30)));
        assert!(heartbeat_late(ms(45_001), secs(30)));
        // 1.5 × 1 s is below 1 s + 2 s: the slack decides.
        assert!(!heartbeat_late(secs(3), secs(1)));
        assert!(heartbeat_late(ms(3_001), secs(1)));
        assert!(!heartbeat_late(Duration::ZERO, secs(1)));
    }

    #[test]
    fn only_disconnected_is_not_live() {
        assert!(InstanceState::Ok.is_live());
        assert!(InstanceState::Warning.is_live());
        assert!(InstanceState::Error.is_live());
        assert!(!InstanceState::Disconnected.is_live());
    }

    #[test]
    fn states_on_the_wire() {
        for (state, json) in [
            (ExtensionState::Ok, "\"OK\""),
            (ExtensionState::Warning, "\"Warning\""),
            (ExtensionState::Error, "\"Error\""),
            (ExtensionState::Inactive, "\"Inactive\""),
        ] {
            assert_eq!(serde_json::to_string(&state).unwrap(), json);
        }
        for (state, json) in [
            (InstanceState::Ok, "\"ok\""),
            (InstanceState::Warning, "\"warning\""),
            (InstanceState::Error, "\"error\""),
            (InstanceState::Disconnected, "\"disconnected\""),
        ] {
            assert_eq!(serde_json::to_string(&state).unwrap(), json);
            assert_eq!(serde_json::from_str::<InstanceState>(json).unwrap(), state);
        }
        // `message` is optional both ways: an SDK that never sets it is still understood.
        let i = instance(InstanceState::Ok, 0).status;
        let text = serde_json::to_string(&i).unwrap();
        assert!(!text.contains("message"), "{text}");
        assert_eq!(serde_json::from_str::<InstanceStatus>(&text).unwrap(), i);
    }
}

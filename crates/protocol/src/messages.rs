//! Request and reply payloads of the HTTP API and the NATS services (docs/protocol.md §2, §5).

use serde::{Deserialize, Serialize};

use crate::capability::{Capability, CapabilitySummary};
use crate::manifest::{Manifest, SdkInfo};
use crate::token::KeyId;

/// The two kinds of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    pub kind: KeyKind,
    pub name: String,
    pub prefix: Option<String>,
    pub jwt: String,
    pub seed: String,
    pub nats_urls: Vec<String>,
    pub inbox_prefix: String,
    pub capabilities: CapabilitySummary,
    pub expires_at: Option<String>,
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
}

/// `cirata.services.cluster.info` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub replicas: usize,
    pub cluster_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    Ok,
    Disconnected,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExtensionState {
    #[serde(rename = "OK")]
    Ok,
    Inactive,
}

/// What is stored in `symphony_registry` under a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryRecord {
    pub manifest: Manifest,
    pub registered_at: String,
    pub updated_at: String,
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
}

impl ExtensionView {
    pub fn new(record: RegistryRecord, instances: Vec<InstanceStatus>) -> Self {
        let state = if instances.iter().any(|i| i.state == InstanceState::Ok) {
            ExtensionState::Ok
        } else {
            ExtensionState::Inactive
        };
        ExtensionView {
            prefix: record.manifest.prefix.clone(),
            name: record.manifest.name.clone(),
            description: record.manifest.description.clone(),
            state,
            manifest: record.manifest,
            instances,
            registered_at: record.registered_at,
            updated_at: record.updated_at,
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
}

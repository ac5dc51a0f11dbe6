//! The registry: provisioning, registration, extension status and the `cirata.services.*` subjects.

pub mod buckets;
mod handlers;
pub mod mirror;
pub mod presence;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use symphony_protocol::messages::{
    ExtensionView, InstanceStatus, ObservedInstance, RegistryRecord,
};
use symphony_protocol::subjects;

use crate::auth::Auth;
use crate::bus::connect::{cluster_size, replicas_for};
use crate::bus::kv::{ensure_bucket, platform_bucket};
use buckets::BucketOwners;
use mirror::{Mirror, now_nanos};

/// Settings the registry hands to extensions.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub heartbeat: Duration,
    pub status_ttl: Duration,
    /// Fixed replica count instead of the cluster-size rule.
    pub replicas: Option<usize>,
    /// The instance's public origin (goes into tokens).
    pub origin: String,
}

/// Shared registry state; cheap to clone.
#[derive(Clone)]
pub struct Registry {
    pub auth: Auth,
    pub settings: RegistrySettings,
    client: Client,
    js: jetstream::Context,
    sys: Client,
    records: kv::Store,
    owners: BucketOwners,
    status: kv::Store,
    /// The records and statuses in memory, once [`Registry::spawn_mirror`] follows them; until its
    /// history is in (and always in the CLI) the readers below read the KV instead.
    mirror: Arc<Mirror>,
}

impl Registry {
    /// Creates (or updates) the platform buckets and returns the registry.
    pub async fn init(
        auth: Auth,
        client: Client,
        sys: Client,
        settings: RegistrySettings,
    ) -> anyhow::Result<Registry> {
        let js = jetstream::new(client.clone());
        let replicas = match settings.replicas {
            Some(r) => r,
            None => replicas_for(cluster_size(&sys).await?),
        };
        let forever = Duration::ZERO;
        let records = ensure_bucket(
            &js,
            &platform_bucket(subjects::REGISTRY_BUCKET, "Symphony registry", forever),
            replicas,
        )
        .await?;
        let owners = ensure_bucket(
            &js,
            &platform_bucket(subjects::BUCKET_OWNERS_BUCKET, "Bucket owners", forever),
            replicas,
        )
        .await?;
        let status = ensure_bucket(
            &js,
            &platform_bucket(
                subjects::STATUS_BUCKET,
                "Extension instance status",
                settings.status_ttl,
            ),
            replicas,
        )
        .await?;
        Ok(Registry {
            auth,
            settings,
            client,
            js,
            sys,
            records,
            owners: BucketOwners::new(owners),
            status,
            mirror: Arc::default(),
        })
    }

    /// Binds the buckets of a running server without changing them (CLI use).
    pub async fn open(
        auth: Auth,
        client: Client,
        sys: Client,
        origin: String,
        heartbeat: Duration,
    ) -> anyhow::Result<Registry> {
        let js = jetstream::new(client.clone());
        let bind = |name: &'static str| {
            let js = js.clone();
            async move {
                js.get_key_value(name).await.map_err(|e| {
                    anyhow::anyhow!("bucket {name} is missing ({e}); is the server initialised?")
                })
            }
        };
        Ok(Registry {
            records: bind(subjects::REGISTRY_BUCKET).await?,
            owners: BucketOwners::new(bind(subjects::BUCKET_OWNERS_BUCKET).await?),
            status: bind(subjects::STATUS_BUCKET).await?,
            settings: RegistrySettings {
                heartbeat,
                status_ttl: Duration::from_secs(60),
                replicas: None,
                origin,
            },
            auth,
            client,
            js,
            sys,
            mirror: Arc::default(),
        })
    }

    /// Replicas for a bucket created now.
    pub async fn replicas(&self) -> usize {
        if let Some(r) = self.settings.replicas {
            return r;
        }
        match cluster_size(&self.sys).await {
            Ok(n) => replicas_for(n),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the cluster size; using 1 replica");
                1
            }
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Answers `cirata.services.>` (queue group `symphony`) until the subscription ends.
    pub async fn serve(self) -> anyhow::Result<()> {
        let mut sub = self
            .client
            .queue_subscribe(
                subjects::SERVICES_WILDCARD,
                subjects::SERVER_QUEUE_GROUP.to_owned(),
            )
            .await?;
        while let Some(msg) = sub.next().await {
            let registry = self.clone();
            tokio::spawn(async move { registry.handle(msg).await });
        }
        Ok(())
    }

    /// The stored registration of `prefix`, read from the KV (registration checks ownership with
    /// it, so it never answers from the mirror).
    pub async fn record(&self, prefix: &str) -> anyhow::Result<Option<RegistryRecord>> {
        match self.records.get(prefix).await? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// The registration of `prefix` for readers (UI modules): from the mirror, or the KV until the
    /// mirror is ready. Registration itself uses [`Registry::record`].
    pub async fn current_record(
        &self,
        prefix: &str,
    ) -> anyhow::Result<Option<Arc<RegistryRecord>>> {
        if let Some(found) = self.mirror.record(prefix) {
            return Ok(found);
        }
        Ok(self.record(prefix).await?.map(Arc::new))
    }

    /// Every record, by prefix: from the mirror, or the KV until the mirror is ready.
    async fn records(&self) -> anyhow::Result<Vec<RegistryRecord>> {
        if let Some(records) = self.mirror.records() {
            return Ok(records.iter().map(|r| (**r).clone()).collect());
        }
        let mut prefixes = Vec::new();
        let mut keys = self.records.keys().await?;
        while let Some(key) = keys.next().await {
            prefixes.push(key?);
        }
        prefixes.sort();
        let mut out = Vec::new();
        for p in prefixes {
            if let Some(r) = self.record(&p).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Latest status of each instance of `prefix` (expired instances are gone), with the time
    /// since nats-server stored it.
    pub async fn instances(&self, prefix: &str) -> anyhow::Result<Vec<ObservedInstance>> {
        Ok(by_prefix(self.all_instances().await?)
            .remove(prefix)
            .unwrap_or_default())
    }

    /// Every status entry (key `<prefix>.<instance id>`) that holds a readable, unexpired status:
    /// from the mirror, or the KV until the mirror is ready.
    async fn all_instances(&self) -> anyhow::Result<Vec<(String, ObservedInstance)>> {
        let now = now_nanos();
        if let Some(all) = self.mirror.instances(now) {
            return Ok(all);
        }
        let mut out = Vec::new();
        let mut keys = self.status.keys().await?;
        while let Some(key) = keys.next().await {
            let key = key?;
            let Some(entry) = self.status.entry(key.as_str()).await? else {
                continue;
            };
            if entry.operation != kv::Operation::Put {
                continue;
            }
            if let Ok(status) = serde_json::from_slice::<InstanceStatus>(&entry.value) {
                let stored = entry.created.unix_timestamp_nanos();
                out.push((
                    key,
                    ObservedInstance {
                        status,
                        since_heartbeat: mirror::elapsed(now, stored),
                    },
                ));
            }
        }
        Ok(out)
    }

    /// Prefixes with at least one live instance (any state but `disconnected`, docs/protocol.md
    /// §5.4): the gateway routes to them.
    pub async fn live_prefixes(&self) -> anyhow::Result<HashSet<String>> {
        Ok(self
            .all_instances()
            .await?
            .into_iter()
            .filter(|(_, i)| i.status.state.is_live())
            .map(|(_, i)| i.status.prefix)
            .collect())
    }

    /// Live instances (any state but `disconnected`), counted per key id.
    pub async fn connected_instances(&self) -> anyhow::Result<HashMap<String, usize>> {
        let mut out = HashMap::new();
        for (_, i) in self.all_instances().await? {
            if i.status.state.is_live() {
                *out.entry(i.status.instance_id.to_string()).or_default() += 1;
            }
        }
        Ok(out)
    }

    pub fn records_kv(&self) -> &kv::Store {
        &self.records
    }

    pub async fn view(&self, prefix: &str) -> anyhow::Result<Option<ExtensionView>> {
        let record = match self.mirror.record(prefix) {
            Some(r) => r.map(|r| (*r).clone()),
            None => self.record(prefix).await?,
        };
        let Some(record) = record else {
            return Ok(None);
        };
        Ok(Some(ExtensionView::new(
            record,
            self.instances(prefix).await?,
            self.settings.heartbeat,
        )))
    }

    /// Every registered extension's view, by prefix.
    pub async fn views(&self) -> anyhow::Result<Vec<ExtensionView>> {
        let records = self.records().await?;
        let mut instances = by_prefix(self.all_instances().await?);
        Ok(records
            .into_iter()
            .map(|record| {
                let mine = instances
                    .remove(record.manifest.prefix.as_str())
                    .unwrap_or_default();
                ExtensionView::new(record, mine, self.settings.heartbeat)
            })
            .collect())
    }
}

/// Instances grouped by the prefix of their status key, each group by instance id.
fn by_prefix(all: Vec<(String, ObservedInstance)>) -> HashMap<String, Vec<ObservedInstance>> {
    let mut out: HashMap<String, Vec<ObservedInstance>> = HashMap::new();
    for (key, observed) in all {
        let prefix = key.split('.').next().unwrap_or_default().to_owned();
        out.entry(prefix).or_default().push(observed);
    }
    for group in out.values_mut() {
        group.sort_by(|a, b| a.status.instance_id.cmp(&b.status.instance_id));
    }
    out
}

//! The registry: provisioning, registration, extension status and the `cirata.services.*` subjects.

mod handlers;
pub mod partition;
pub mod presence;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream;
use futures::StreamExt;
use symphony_protocol::messages::{
    ExtensionView, InstanceStatus, ObservedInstance, RegistryRecord,
};
use symphony_protocol::subjects;
use symphony_protocol::time::{elapsed, now_nanos};

use crate::auth::Auth;
use crate::bus::connect::{cluster_size, replicas_for};
use crate::bus::kv::{bind_bucket, ensure_bucket, platform_bucket};
use crate::bus::table::{Changes, Table, Versioned};

/// Settings the registry hands to extensions.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub heartbeat: Duration,
    pub status_ttl: Duration,
    /// Fixed replica count instead of the cluster-size rule.
    pub replicas: Option<usize>,
    /// The instance's public origin (goes into tokens).
    pub origin: String,
    /// Where the server connects into extension accounts (their JetStream).
    pub nats_urls: Vec<String>,
    pub nats_ca: Option<std::path::PathBuf>,
}

/// Shared registry state; cheap to clone.
#[derive(Clone)]
pub struct Registry {
    pub auth: Arc<Auth>,
    pub settings: RegistrySettings,
    client: Client,
    sys: Client,
    /// Registrations by prefix (`symphony_registry`).
    records: Table<RegistryRecord>,
    /// Instance status by `<prefix>.<instance id>` (`symphony_status`, entries expire).
    status: Table<InstanceStatus>,
    /// Changes of either table's mirror (the server mirrors both; the CLI reads the KV).
    changes: Changes,
}

impl Registry {
    /// Creates (or updates) the platform buckets and returns the registry.
    pub async fn init(
        auth: Arc<Auth>,
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
        let changes = Changes::default();
        Ok(Registry {
            auth,
            settings,
            client,
            sys,
            records: Table::new(records).mirrored(&changes),
            status: Table::new(status).mirrored(&changes),
            changes,
        })
    }

    /// Binds the buckets of a running server without changing them (CLI use).
    pub async fn open(
        auth: Arc<Auth>,
        client: Client,
        sys: Client,
        origin: String,
        heartbeat: Duration,
    ) -> anyhow::Result<Registry> {
        let js = jetstream::new(client.clone());
        let bind = |name: &'static str| bind_bucket(&js, name);
        Ok(Registry {
            records: Table::new(bind(subjects::REGISTRY_BUCKET).await?),
            status: Table::new(bind(subjects::STATUS_BUCKET).await?),
            settings: RegistrySettings {
                heartbeat,
                status_ttl: Duration::from_secs(60),
                replicas: None,
                origin,
                nats_urls: vec![],
                nats_ca: None,
            },
            auth,
            client,
            sys,
            changes: Changes::default(),
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
        Ok(self.records.get(prefix).await?.map(|r| (*r.value).clone()))
    }

    /// The registration of `prefix` for readers (UI modules, views): from the mirror, or the KV
    /// until the mirror is ready. Registration itself uses [`Registry::record`].
    pub async fn current_record(
        &self,
        prefix: &str,
    ) -> anyhow::Result<Option<Arc<RegistryRecord>>> {
        Ok(self.records.read(prefix).await?.map(|r| r.value))
    }

    /// Every record with its revision, by prefix: from the mirror, or the KV until it is ready.
    pub async fn records(&self) -> anyhow::Result<Vec<Versioned<RegistryRecord>>> {
        Ok(self
            .records
            .all()
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// Latest status of each instance of `prefix` (expired instances are gone), with the time
    /// since nats-server stored it.
    pub async fn instances(&self, prefix: &str) -> anyhow::Result<Vec<ObservedInstance>> {
        Ok(by_prefix(self.all_instances().await?)
            .remove(prefix)
            .unwrap_or_default())
    }

    /// Every status entry (key `<prefix>.<instance id>`) that holds a readable, unexpired status.
    async fn all_instances(&self) -> anyhow::Result<Vec<(String, ObservedInstance)>> {
        let now = now_nanos();
        Ok(self
            .status
            .all()
            .await?
            .into_iter()
            .map(|(key, entry)| {
                let observed = ObservedInstance {
                    status: (*entry.value).clone(),
                    since_heartbeat: elapsed(now, entry.stored),
                };
                (key, observed)
            })
            .collect())
    }

    /// Prefixes with at least one live instance (any state but `disconnected`, docs/protocol.md
    /// §5.4): the gateway routes to them.
    pub async fn live_prefixes(&self) -> anyhow::Result<HashSet<String>> {
        Ok(self
            .live_instances()
            .await?
            .into_iter()
            .map(|(prefix, _)| prefix)
            .collect())
    }

    /// Live instances as `(prefix, instance id)`: the status entry's key names both, and its
    /// value agrees (an entry written under another key counts for nothing).
    pub async fn live_instances(&self) -> anyhow::Result<HashSet<(String, String)>> {
        Ok(self
            .all_instances()
            .await?
            .into_iter()
            .filter(|(key, i)| {
                i.status.state.is_live()
                    && *key == subjects::status_key(&i.status.prefix, &i.status.instance_id)
            })
            .map(|(_, i)| (i.status.prefix, i.status.instance_id.to_string()))
            .collect())
    }

    /// Live instances (any state but `disconnected`), counted per key id: the key a status names,
    /// when its instance id was minted for that key (docs/protocol.md §12.1).
    pub async fn connected_instances(&self) -> anyhow::Result<HashMap<String, usize>> {
        let identity = &self.auth.identity;
        let mut out = HashMap::new();
        for (_, i) in self.all_instances().await? {
            let key = i
                .status
                .key_id
                .as_ref()
                .filter(|k| identity.is_instance_of(k, &i.status.instance_id));
            if let Some(key) = key.filter(|_| i.status.state.is_live()) {
                *out.entry(key.to_string()).or_default() += 1;
            }
        }
        Ok(out)
    }

    /// Waits for the next change on `changes` (from [`Registry::changes`]), or until the next live
    /// status expires (expiry sends no change), at most `at_most`: the loops that follow the
    /// registry recompute after it.
    pub async fn next_change(
        &self,
        changes: &mut tokio::sync::watch::Receiver<u64>,
        at_most: Duration,
    ) {
        let wait = self.next_expiry().map_or(at_most, |d| d.min(at_most));
        if let Ok(Err(_)) = tokio::time::timeout(wait, changes.changed()).await {
            // The registry is gone (never while the process serves); keep to the interval.
            tokio::time::sleep(at_most).await;
        }
    }

    /// Changes of the mirrors: a status, a record, or a mirror becoming ready. (Status entries that
    /// expire send none; see [`Registry::next_expiry`].)
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// How long until the next live instance's status expires, when the mirror knows it.
    pub fn next_expiry(&self) -> Option<Duration> {
        self.status.next_expiry(|s| s.state.is_live())
    }

    pub async fn view(&self, prefix: &str) -> anyhow::Result<Option<ExtensionView>> {
        let Some(record) = self.current_record(prefix).await? else {
            return Ok(None);
        };
        Ok(Some(ExtensionView::new(
            (*record).clone(),
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
                    .remove(record.value.manifest.prefix.as_str())
                    .unwrap_or_default();
                ExtensionView::new((*record.value).clone(), mine, self.settings.heartbeat)
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

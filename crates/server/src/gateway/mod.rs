//! The REST gateway: serves extension endpoints that publish OpenAPI as `/api/v1/extension/{prefix}/…`,
//! keeps its route table in step with the registry (on every replica), and aggregates OpenAPI.

pub mod openapi;
mod proxy;
pub mod response;
pub mod routes;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use symphony_protocol::messages::RegistryRecord;
use tokio::sync::Notify;

use crate::registry::Registry;
pub use proxy::proxy;
use routes::ExtensionRoutes;

/// Gateway limits.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Largest request body in bytes (413 above).
    pub body_limit: usize,
    /// Time an endpoint has to answer unless its route sets `x-symphony-timeout` (504 after).
    pub default_timeout: Duration,
    /// How often the set of live extensions is recomputed (status entries expire silently).
    pub sweep_interval: Duration,
}

#[derive(Default)]
struct Table {
    routes: HashMap<String, Arc<ExtensionRoutes>>,
    live: HashSet<String>,
}

/// Shared gateway state; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    table: Arc<RwLock<Table>>,
    changed: Arc<Notify>,
    pub settings: GatewaySettings,
}

impl Gateway {
    pub fn new(settings: GatewaySettings) -> Self {
        Gateway {
            table: Arc::default(),
            changed: Arc::new(Notify::new()),
            settings,
        }
    }

    /// Routes of `prefix` if it has them and at least one live instance.
    pub fn routes_for(&self, prefix: &str) -> Option<Arc<ExtensionRoutes>> {
        let table = self.table.read().expect("gateway table lock");
        table
            .live
            .contains(prefix)
            .then(|| table.routes.get(prefix).cloned())
            .flatten()
    }

    /// Routes of every live extension, sorted by prefix.
    pub fn all_routes(&self) -> Vec<Arc<ExtensionRoutes>> {
        let table = self.table.read().expect("gateway table lock");
        let mut all: Vec<_> = table
            .routes
            .values()
            .filter(|r| table.live.contains(&r.prefix))
            .cloned()
            .collect();
        all.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        all
    }

    fn set_routes(&self, prefix: &str, routes: Option<ExtensionRoutes>) {
        let mut table = self.table.write().expect("gateway table lock");
        match routes {
            Some(r) => table.routes.insert(prefix.to_owned(), Arc::new(r)),
            None => table.routes.remove(prefix),
        };
    }

    /// Keeps the table in step with the registry until the process ends.
    pub fn spawn_sync(&self, registry: Registry) {
        tokio::spawn(self.clone().follow_records(registry.clone()));
        tokio::spawn(self.clone().follow_status(registry.clone()));
        tokio::spawn(self.clone().sweep_live(registry));
    }

    async fn follow_records(self, registry: Registry) {
        loop {
            match registry.records_kv().watch_with_history(">").await {
                Ok(mut watch) => {
                    while let Some(entry) = watch.next().await {
                        let Ok(entry) = entry else { break };
                        let routes = match entry.operation {
                            kv::Operation::Put => {
                                serde_json::from_slice::<RegistryRecord>(&entry.value)
                                    .ok()
                                    .and_then(|r| routes::compile(&r.manifest).ok().flatten())
                            }
                            _ => None,
                        };
                        tracing::debug!(prefix = %entry.key, routes = routes.is_some(), "registry change");
                        self.set_routes(&entry.key, routes);
                        self.changed.notify_one();
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot watch the registry; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn follow_status(self, registry: Registry) {
        loop {
            match registry.status_kv().watch(">").await {
                Ok(mut watch) => {
                    while let Some(entry) = watch.next().await {
                        if entry.is_err() {
                            break;
                        }
                        self.changed.notify_one();
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot watch extension status; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn sweep_live(self, registry: Registry) {
        loop {
            match registry.live_prefixes().await {
                Ok(live) => {
                    tracing::trace!(?live, "live extensions");
                    self.table.write().expect("gateway table lock").live = live;
                }
                Err(e) => tracing::debug!(error = %e, "cannot read extension status"),
            }
            let _ =
                tokio::time::timeout(self.settings.sweep_interval, self.changed.notified()).await;
        }
    }
}

//! The REST gateway: serves extension endpoints that publish OpenAPI as `/api/v1/extension/{prefix}/…`,
//! keeps its route table in step with the registry (on every replica), and aggregates OpenAPI.

mod openapi;
mod platform_openapi;
mod proxy;
pub mod response;
pub mod routes;

pub use proxy::BASE;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::Client;
use axum::Router;
use axum::extract::FromRef;
use axum::routing::{any, get, post};
use symphony_protocol::messages::RegistryRecord;

use crate::auth::Auth;
use crate::bus::connect::connect_gateway;
use crate::bus::table::Versioned;
use crate::identity::Identity;
use crate::registry::Registry;
use routes::ExtensionRoutes;

/// `/api/v1/extension/…` (the gateway), `/api/v1/openapi.json` and Swagger UI.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Gateway: FromRef<S>,
    Arc<Auth>: FromRef<S>,
{
    Router::new()
        .route(
            "/api/v1/extension/{*rest}",
            any(proxy::proxy).layer(axum::middleware::map_response(response::harden)),
        )
        .route(
            "/api/v1/extensions/{prefix}/commands/{name}",
            post(proxy::command),
        )
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route("/help/access/swagger", get(openapi::swagger_page))
        .route(
            "/help/access/swagger/assets/{file}",
            get(openapi::swagger_asset),
        )
}

/// The gateway on the UI sandbox listener (`app::sandbox_router`): the same routes, where the
/// extractor takes only an extension frame's scoped bearer (the listener marks its requests).
pub fn sandbox_router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Gateway: FromRef<S>,
    Arc<Auth>: FromRef<S>,
{
    Router::new().route(
        "/api/v1/extension/{*rest}",
        any(proxy::proxy).layer(axum::middleware::map_response(response::harden)),
    )
}

/// Gateway limits.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Largest request body in bytes (413 above).
    pub body_limit: usize,
    /// Time an endpoint has to answer unless its route sets `x-symphony-timeout` (504 after).
    pub default_timeout: Duration,
    /// The longest the table goes without being recomputed. It is recomputed on every change of
    /// the registry's mirrors and when the next live status expires (status entries expire
    /// silently); this bounds the wait when the mirrors are not ready.
    pub sweep_interval: Duration,
}

#[derive(Default)]
struct Table {
    routes: HashMap<String, Arc<ExtensionRoutes>>,
    live: HashSet<String>,
    /// Live instances, `(prefix, instance id)` (docs/protocol.md §12.2).
    instances: HashSet<(String, String)>,
    /// The commands each registered extension declares (§12.3).
    commands: HashMap<String, HashSet<String>>,
}

/// Shared gateway state; one `Arc`, so the per-request clone of the app state stays cheap.
#[derive(Clone)]
pub struct Gateway(Arc<Shared>);

struct Shared {
    table: RwLock<Table>,
    settings: GatewaySettings,
    /// The connections requests are forwarded on.
    connections: Connections,
    /// Signs `Symphony-Caller` (docs/protocol.md §7.3).
    caller_key: nkeys::KeyPair,
}

/// The gateway's NATS connections: one per extension account, its own user there (it may only
/// call that extension's services), made on the first request for the extension. Requests stay
/// inside the extension's account: no service import on the way, so no import's cost per request.
pub struct Connections {
    identity: Arc<Identity>,
    urls: Vec<String>,
    ca: Option<PathBuf>,
    open: RwLock<HashMap<String, Client>>,
    /// One connection made at a time, so two first requests do not both connect.
    connecting: tokio::sync::Mutex<()>,
}

impl Connections {
    pub fn new(identity: Arc<Identity>, urls: Vec<String>, ca: Option<PathBuf>) -> Self {
        Connections {
            identity,
            urls,
            ca,
            open: RwLock::default(),
            connecting: tokio::sync::Mutex::default(),
        }
    }

    /// The connection into `prefix`'s account.
    pub async fn client(&self, prefix: &str) -> anyhow::Result<Client> {
        let cached = |open: &RwLock<HashMap<String, Client>>| {
            open.read()
                .expect("gateway connections lock")
                .get(prefix)
                .cloned()
        };
        if let Some(client) = cached(&self.open) {
            return Ok(client);
        }
        let _one = self.connecting.lock().await;
        if let Some(client) = cached(&self.open) {
            return Ok(client);
        }
        let client =
            connect_gateway(&self.identity, prefix, &self.urls, self.ca.as_deref()).await?;
        self.open
            .write()
            .expect("gateway connections lock")
            .insert(prefix.to_owned(), client.clone());
        Ok(client)
    }
}

impl Gateway {
    pub fn new(settings: GatewaySettings, connections: Connections) -> anyhow::Result<Self> {
        let caller_key = connections.identity.caller_signing_key()?;
        Ok(Gateway(Arc::new(Shared {
            table: RwLock::default(),
            settings,
            connections,
            caller_key,
        })))
    }

    /// Routes of `prefix` if it has them and at least one live instance.
    pub fn routes_for(&self, prefix: &str) -> Option<Arc<ExtensionRoutes>> {
        let table = self.0.table.read().expect("gateway table lock");
        table
            .live
            .contains(prefix)
            .then(|| table.routes.get(prefix).cloned())
            .flatten()
    }

    /// Whether `instance` of `prefix` is live (its status says anything but `disconnected`).
    pub fn instance_is_live(&self, prefix: &str, instance: &str) -> bool {
        let table = self.0.table.read().expect("gateway table lock");
        table
            .instances
            .contains(&(prefix.to_owned(), instance.to_owned()))
    }

    /// Whether `prefix`'s manifest declares command `name`.
    pub fn declares_command(&self, prefix: &str, name: &str) -> bool {
        let table = self.0.table.read().expect("gateway table lock");
        table.commands.get(prefix).is_some_and(|c| c.contains(name))
    }

    /// Routes of every live extension, sorted by prefix.
    pub fn all_routes(&self) -> Vec<Arc<ExtensionRoutes>> {
        let table = self.0.table.read().expect("gateway table lock");
        let mut all: Vec<_> = table
            .routes
            .values()
            .filter(|r| table.live.contains(&r.prefix))
            .cloned()
            .collect();
        all.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        all
    }

    /// Keeps the table in step with the registry until the process ends.
    pub fn spawn_sync(&self, registry: Registry) {
        tokio::spawn(self.clone().follow(registry));
    }

    /// Recomputes the table from the registry's mirrors on each of their changes, and when the
    /// next live status expires (expiry sends no change). Routes are compiled once per revision.
    async fn follow(self, registry: Registry) {
        let mut changes = registry.changes();
        let mut compiled: HashMap<String, (u64, Option<Arc<ExtensionRoutes>>)> = HashMap::new();
        loop {
            changes.mark_unchanged();
            match registry.records().await {
                Ok(records) => self.sync_routes(&records, &mut compiled),
                Err(e) => tracing::debug!(error = %e, "cannot read the registry"),
            }
            match registry.live_instances().await {
                Ok(instances) => {
                    let live = instances.iter().map(|(p, _)| p.clone()).collect();
                    tracing::trace!(?live, "live extensions");
                    let mut table = self.0.table.write().expect("gateway table lock");
                    table.live = live;
                    table.instances = instances;
                }
                Err(e) => tracing::debug!(error = %e, "cannot read extension status"),
            }
            registry
                .next_change(&mut changes, self.0.settings.sweep_interval)
                .await;
        }
    }

    /// Compiles the routes of records whose revision changed, and drops those of removed ones.
    fn sync_routes(
        &self,
        records: &[Versioned<RegistryRecord>],
        compiled: &mut HashMap<String, (u64, Option<Arc<ExtensionRoutes>>)>,
    ) {
        let mut seen = HashSet::with_capacity(records.len());
        let commands = records
            .iter()
            .map(|r| {
                let m = &r.value.manifest;
                let names = m.commands.iter().map(|c| c.name.clone()).collect();
                (m.prefix.clone(), names)
            })
            .collect();
        for record in records {
            let prefix = &record.value.manifest.prefix;
            seen.insert(prefix.clone());
            if compiled
                .get(prefix)
                .is_some_and(|(revision, _)| *revision == record.revision)
            {
                continue;
            }
            let routes = routes::compile(&record.value.manifest)
                .ok()
                .flatten()
                .and_then(|table| ExtensionRoutes::new(table).ok())
                .map(Arc::new);
            tracing::debug!(%prefix, routes = routes.is_some(), "registry change");
            compiled.insert(prefix.clone(), (record.revision, routes));
        }
        compiled.retain(|prefix, _| seen.contains(prefix));
        let mut table = self.0.table.write().expect("gateway table lock");
        table.commands = commands;
        table.routes = compiled
            .iter()
            .filter_map(|(prefix, (_, routes))| Some((prefix.clone(), routes.clone()?)))
            .collect();
    }
}

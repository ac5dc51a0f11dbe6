//! Micro-service endpoints (`io.nats.micro.v1`): services, groups and the registry of what they serve (with
//! the instance handlers and commands of `listener.rs`); how each request is answered lives in `handler.rs`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_nats::service::ServiceExt;
use bytes::Bytes;
use symphony_protocol::manifest::{EndpointSpec, Manifest, ServiceSpec};
use symphony_protocol::names::is_literal_token;
use symphony_protocol::{ErrorBody, ErrorCode};
use tokio::task::JoinHandle;

use crate::declare::Declarations;
use crate::error::{Error, Result};
use crate::handler::{self, DynHandler, HandlerError, Request};
use crate::listener::{Listeners, Target};

/// Services, their manifest specs and their request tasks, shared by an extension and its handles.
#[derive(Default, Debug)]
pub(crate) struct Registry {
    specs: Mutex<Vec<ServiceSpec>>,
    slots: Mutex<Vec<Arc<Slot>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The connection the services listen on (the session's until the first renewal moves them).
    serving: Mutex<Option<async_nats::Client>>,
    /// Held while services start or move, so a service started meanwhile is not left behind.
    changing: tokio::sync::Mutex<()>,
    /// The platform's public caller-signing key, which requests verify `Symphony-Caller` against.
    caller_key: Mutex<Option<Arc<str>>>,
    /// Tells the request loops of the services' current connection to drain (set by a move).
    drain: Mutex<Option<tokio::sync::watch::Sender<bool>>>,
    /// Instance handlers and commands (docs/protocol.md §12.2, §12.3).
    pub(crate) listeners: Listeners,
    /// Whose subjects the listeners serve, from when the run started them until it stops them.
    listening: Mutex<Option<Target>>,
}

impl Registry {
    /// Set at connect, from the key exchange.
    pub(crate) fn set_caller_key(&self, key: Option<&str>) {
        *self.caller_key.lock().expect("registry lock") = key.map(Arc::from);
    }

    fn caller_key(&self) -> Option<Arc<str>> {
        self.caller_key.lock().expect("registry lock").clone()
    }

    /// The drain signal of the current connection's request loops.
    fn drain_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.drain
            .lock()
            .expect("registry lock")
            .get_or_insert_with(|| tokio::sync::watch::channel(false).0)
            .subscribe()
    }

    /// Whether any service was started, or the listeners serve.
    pub(crate) fn has_services(&self) -> bool {
        !self.slots.lock().expect("registry lock").is_empty()
            || self.listening.lock().expect("registry lock").is_some()
    }

    /// The manifest to register: `declarations` plus the started services, the commands and the
    /// instance handlers.
    pub(crate) fn manifest(&self, declarations: &Declarations) -> Manifest {
        let mut manifest = declarations.manifest(self.specs());
        self.listeners.declare(&mut manifest);
        manifest
    }

    /// Starts serving the instance handlers and commands of instance `instance` of `prefix` (nothing when
    /// there are none) on the services' connection (the session's `nc` until a renewal moves them), so
    /// they move with the services. The run calls this before it registers the manifest that declares
    /// them.
    pub(crate) async fn serve_listeners(
        &self,
        prefix: &str,
        instance: &symphony_protocol::KeyId,
        nc: &async_nats::Client,
    ) -> Result<()> {
        let _one_at_a_time = self.changing.lock().await;
        let started = self.listening.lock().expect("registry lock").is_some();
        if started || self.listeners.is_empty() {
            return Ok(());
        }
        let target = Target {
            prefix: prefix.to_owned(),
            instance: instance.clone(),
            nc: nc.clone(),
            caller_key: self.caller_key(),
        };
        let serving = self
            .serving
            .lock()
            .expect("registry lock")
            .get_or_insert_with(|| target.nc.clone())
            .clone();
        let tasks = self
            .listeners
            .start(&target, &serving, || self.drain_signal())
            .await?;
        self.tasks.lock().expect("registry lock").extend(tasks);
        *self.listening.lock().expect("registry lock") = Some(target);
        Ok(())
    }

    /// Moves every service to `to` without a moment in which no connection serves them (docs/protocol.md
    /// §2.2): starts them all on `to`, makes sure nats-server has its subscriptions (a round trip), then
    /// drains them on the old connection (every request nats-server routed there is answered there) and
    /// stops them. Returns the old connection (`None`: no service was started yet), for the caller to close.
    pub(crate) async fn move_to(
        &self,
        to: &async_nats::Client,
    ) -> Result<Option<async_nats::Client>> {
        let _one_at_a_time = self.changing.lock().await;
        let slots: Vec<Arc<Slot>> = self.slots.lock().expect("registry lock").clone();
        // The loops started below listen to a new signal; the old ones keep theirs until drained.
        let old_drain = self
            .drain
            .lock()
            .expect("registry lock")
            .replace(tokio::sync::watch::channel(false).0);
        let mut started = Vec::new();
        for slot in &slots {
            let service = build_service(to, &slot.config).await?;
            let mut tasks = Vec::new();
            let endpoints = slot.endpoints.lock().expect("slot lock").clone();
            for def in endpoints {
                let endpoint = add_to(&service, def.group.as_deref(), &def.name).await?;
                tasks.push(tokio::spawn(handler::serve(
                    endpoint,
                    def.handler.clone(),
                    slot.nc.clone(),
                    self.caller_key(),
                    self.drain_signal(),
                )));
            }
            started.push((slot.clone(), service, tasks));
        }
        let listening = self.listening.lock().expect("registry lock").clone();
        let listener_tasks = match &listening {
            // Subscribes on `to` and waits for nats-server to have the subscriptions.
            Some(target) => {
                self.listeners
                    .start(target, to, || self.drain_signal())
                    .await?
            }
            None => Vec::new(),
        };
        if !slots.is_empty() {
            round_trip(to).await;
        }
        let old_tasks = std::mem::take(&mut *self.tasks.lock().expect("registry lock"));
        let mut old_services = Vec::new();
        for (slot, service, tasks) in started {
            old_services.push(slot.service.lock().expect("service lock").replace(service));
            self.tasks.lock().expect("registry lock").extend(tasks);
        }
        self.tasks
            .lock()
            .expect("registry lock")
            .extend(listener_tasks);
        // Drain the old endpoints: nats-server stops routing to them, and every request it routed
        // before is answered on the old connection; then their loops end and the services stop.
        if let Some(old_drain) = &old_drain {
            let _ = old_drain.send(true);
        }
        futures::future::join_all(old_tasks).await;
        for service in old_services.into_iter().flatten() {
            let _ = service.stop().await;
        }
        Ok(self
            .serving
            .lock()
            .expect("registry lock")
            .replace(to.clone()))
    }

    /// The specs to put into the manifest.
    pub(crate) fn specs(&self) -> Vec<ServiceSpec> {
        self.specs.lock().expect("registry lock").clone()
    }

    /// Stops every service (no new requests) and drains the listeners, then waits for requests in
    /// flight, up to `grace`. The stopped services leave the manifest.
    pub(crate) async fn stop_all(&self, grace: std::time::Duration) {
        self.specs.lock().expect("registry lock").clear();
        let slots: Vec<Arc<Slot>> = std::mem::take(&mut *self.slots.lock().expect("registry lock"));
        for slot in slots {
            let service = slot.service.lock().expect("service lock").take();
            if let Some(service) = service {
                let _ = service.stop().await;
            }
        }
        self.listening.lock().expect("registry lock").take();
        let drain = self.drain.lock().expect("registry lock").take();
        if let Some(drain) = drain {
            let _ = drain.send(true);
        }
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().expect("registry lock"));
        let all = futures::future::join_all(tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("requests still running after {grace:?}; stopping anyway");
        }
    }
}

/// Waits until nats-server has handled everything sent on `nc` so far: it handles a connection's operations
/// in order, so once a request sent now is answered, earlier subscriptions are in place.
pub(crate) async fn round_trip(nc: &async_nats::Client) {
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        nc.request(symphony_protocol::subjects::CLUSTER_INFO, "{}".into()),
    )
    .await;
}

/// One started micro service.
#[derive(Debug)]
struct Slot {
    name: String,
    spec_index: usize,
    config: ServiceConfig,
    service: Mutex<Option<async_nats::service::Service>>,
    /// Its endpoints, to start them again on another connection.
    endpoints: Mutex<Vec<EndpointDef>>,
    registry: Arc<Registry>,
    /// The session's connection, which handlers get (`Request::nc`).
    nc: async_nats::Client,
}

/// An endpoint as it was added.
#[derive(Clone)]
struct EndpointDef {
    group: Option<String>,
    name: String,
    handler: Arc<DynHandler>,
}

impl std::fmt::Debug for EndpointDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointDef")
            .field("group", &self.group)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Starts the micro service of `config` on `nc`.
async fn build_service(
    nc: &async_nats::Client,
    config: &ServiceConfig,
) -> Result<async_nats::service::Service> {
    nc.service_builder()
        .description(&config.description)
        .metadata(config.metadata.clone())
        .start(&config.name, &config.version)
        .await
        .map_err(|e| Error::Service {
            name: config.name.clone(),
            detail: format!("{e} (the version must be semver, e.g. 1.0.0)"),
        })
}

fn endpoint_builder(
    service: &async_nats::service::Service,
    group: Option<&str>,
) -> async_nats::service::EndpointBuilder {
    match group {
        Some(prefix) => service.group(prefix).endpoint_builder(),
        None => service.endpoint_builder(),
    }
}

/// Adds endpoint `name` (in `group`) to `service`.
async fn add_to(
    service: &async_nats::service::Service,
    group: Option<&str>,
    name: &str,
) -> Result<async_nats::service::endpoint::Endpoint> {
    add_built(endpoint_builder(service, group), group, name).await
}

async fn add_built(
    builder: async_nats::service::EndpointBuilder,
    group: Option<&str>,
    name: &str,
) -> Result<async_nats::service::endpoint::Endpoint> {
    builder
        .name(name)
        .add(name)
        .await
        .map_err(|e| Error::Service {
            name: match group {
                Some(prefix) => format!("{prefix}.{name}"),
                None => name.to_owned(),
            },
            detail: e.to_string(),
        })
}

/// A micro service (`io.nats.micro.v1`) to start with
/// [`Extension::add_endpoints`](crate::Extension::add_endpoints): its name and semver version, and
/// optionally a description and metadata. The metadata goes into the manifest with the service's spec;
/// the REST gateway serves an `"openapi"` entry as the extension's OpenAPI document (docs/protocol.md §7).
///
/// ```no_run
/// use cirata_symphony::{Extension, ServiceConfig};
///
/// # async fn demo(mut ext: Extension) -> cirata_symphony::Result<()> {
/// ext.connect().await?;
/// let openapi = r#"{"openapi": "3.1.0", "info": {"title": "Catalog", "version": "1.0.0"}, "paths": {}}"#;
/// let svc = ext
///     .add_endpoints(
///         ServiceConfig::new("catalog", "1.0.0")
///             .description("Catalog service")
///             .metadata("openapi", openapi),
///     )
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    name: String,
    version: String,
    description: String,
    metadata: HashMap<String, String>,
}

impl ServiceConfig {
    /// A service named `name` (A-Z, a-z, 0-9, `_` and `-`, checked when it starts) at `version` (semver,
    /// e.g. `1.0.0`; `1` and `1.0` are read as `1.0.0`), without description or metadata.
    ///
    /// ```
    /// let config = cirata_symphony::ServiceConfig::new("catalog", "1.0.0");
    /// ```
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        ServiceConfig {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            metadata: HashMap::new(),
        }
    }

    /// What the service does, for people.
    ///
    /// ```
    /// let config = cirata_symphony::ServiceConfig::new("catalog", "1.0.0").description("Catalog service");
    /// ```
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Adds the metadata entry `key` (replacing an earlier value), e.g. `"openapi"` with the service's
    /// OpenAPI document as JSON text.
    ///
    /// ```
    /// let config = cirata_symphony::ServiceConfig::new("catalog", "1.0.0")
    ///     .metadata("openapi", r#"{"openapi": "3.1.0"}"#)
    ///     .metadata("team", "catalog");
    /// ```
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The service's name, as the micro protocol allows it.
    fn check_name(&self) -> Result<()> {
        let name = &self.name;
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if name_ok {
            Ok(())
        } else {
            Err(Error::Invalid(ErrorBody::new(
                ErrorCode::InvalidManifest,
                format!("service name {name:?} may only use A-Z, a-z, 0-9, _ and -"),
            )))
        }
    }
}

/// Starts a micro service and records its spec. `nc` is the session's connection: the service listens on
/// it until a renewal moves it, and handlers get it.
pub(crate) async fn start(
    registry: &Arc<Registry>,
    nc: &async_nats::Client,
    config: ServiceConfig,
) -> Result<Service> {
    config.check_name()?;
    let config = ServiceConfig {
        version: symphony_protocol::manifest::normalize_service_version(&config.version)
            .map_err(Error::Invalid)?,
        ..config
    };
    let _one_at_a_time = registry.changing.lock().await;
    if registry.specs().iter().any(|s| s.service == config.name) {
        return Err(Error::Invalid(ErrorBody::new(
            ErrorCode::InvalidManifest,
            format!("service {:?} is already started", config.name),
        )));
    }
    let serving = registry
        .serving
        .lock()
        .expect("registry lock")
        .get_or_insert_with(|| nc.clone())
        .clone();
    let service = build_service(&serving, &config).await?;
    let spec_index = {
        let mut specs = registry.specs.lock().expect("registry lock");
        specs.push(ServiceSpec {
            service: config.name.clone(),
            version: config.version.clone(),
            description: config.description.clone(),
            metadata: config
                .metadata
                .clone()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
            endpoints: Vec::new(),
        });
        specs.len() - 1
    };
    let slot = Arc::new(Slot {
        name: config.name.clone(),
        spec_index,
        config,
        service: Mutex::new(Some(service)),
        endpoints: Mutex::default(),
        registry: registry.clone(),
        nc: nc.clone(),
    });
    registry
        .slots
        .lock()
        .expect("registry lock")
        .push(slot.clone());
    Ok(Service { slot })
}

/// A running micro service, from [`Extension::add_endpoints`](crate::Extension::add_endpoints).
///
/// ```no_run
/// # async fn demo(ext: &cirata_symphony::Extension) -> cirata_symphony::Result<()> {
/// let svc = ext.add_endpoints(cirata_symphony::ServiceConfig::new("catalog", "1.0.0")).await?;
/// let group = svc.add_group("cirata.extensions.catalog");
/// group.add_endpoint("ping", |_req| async { Ok::<_, cirata_symphony::HandlerError>("pong") }).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Service {
    slot: Arc<Slot>,
}

impl Service {
    /// The service name.
    ///
    /// ```no_run
    /// # fn demo(svc: cirata_symphony::Service) { assert_eq!(svc.name(), "catalog"); }
    /// ```
    pub fn name(&self) -> &str {
        &self.slot.name
    }

    /// A group: endpoints added to it listen on `<name>.<endpoint>`. Use `cirata.extensions.<prefix>`.
    ///
    /// ```no_run
    /// # fn demo(svc: cirata_symphony::Service) {
    /// let group = svc.add_group("cirata.extensions.catalog");
    /// # }
    /// ```
    pub fn add_group(&self, name: &str) -> Group {
        Group {
            slot: self.slot.clone(),
            prefix: name.to_owned(),
        }
    }

    /// An endpoint listening on `subject` itself, outside any group.
    ///
    /// ```no_run
    /// # async fn demo(svc: cirata_symphony::Service) -> cirata_symphony::Result<()> {
    /// svc.add_endpoint("cirata.extensions.catalog.ping", |_req| async {
    ///     Ok::<_, cirata_symphony::HandlerError>("pong")
    /// }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_endpoint<F, Fut, R, E>(&self, subject: &str, handler: F) -> Result<()>
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Into<Bytes>,
        E: Into<HandlerError>,
    {
        add_endpoint(&self.slot, None, subject, handler::erase(handler)).await
    }
}

/// Endpoints under a common subject prefix.
///
/// ```no_run
/// # async fn demo(group: cirata_symphony::Group) -> cirata_symphony::Result<()> {
/// group.add_endpoint("list", |req| async move {
///     Ok::<_, cirata_symphony::HandlerError>(req.data)
/// }).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Group {
    slot: Arc<Slot>,
    prefix: String,
}

impl Group {
    /// The subject prefix.
    ///
    /// ```no_run
    /// # fn demo(g: cirata_symphony::Group) { assert_eq!(g.prefix(), "cirata.extensions.catalog"); }
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A nested group: `<prefix>.<name>`.
    ///
    /// ```no_run
    /// # fn demo(g: cirata_symphony::Group) { let admin = g.add_group("admin"); }
    /// ```
    pub fn add_group(&self, name: &str) -> Group {
        Group {
            slot: self.slot.clone(),
            prefix: format!("{}.{name}", self.prefix),
        }
    }

    /// Adds endpoint `name` on `<prefix>.<name>` (queue group `q`, so instances share the load) and
    /// serves it with `handler`. A handler that returns `Err` or panics is answered with an error reply
    /// (`Nats-Service-Error` headers and `{"error":{"code":"handler_failed",…}}`), never a caller timeout.
    ///
    /// ```no_run
    /// # async fn demo(group: cirata_symphony::Group) -> cirata_symphony::Result<()> {
    /// group.add_endpoint("echo", |req| async move {
    ///     if req.data.is_empty() {
    ///         return Err("empty request".into());
    ///     }
    ///     Ok::<_, cirata_symphony::HandlerError>(req.data)
    /// }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_endpoint<F, Fut, R, E>(&self, name: &str, handler: F) -> Result<()>
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Into<Bytes>,
        E: Into<HandlerError>,
    {
        add_endpoint(
            &self.slot,
            Some(&self.prefix),
            name,
            handler::erase(handler),
        )
        .await
    }
}

fn invalid_subject(subject: &str) -> Error {
    Error::Invalid(ErrorBody::new(
        ErrorCode::InvalidManifest,
        format!(
            "endpoint subject {subject:?} must be dot-separated tokens without spaces or wildcards"
        ),
    ))
}

async fn add_endpoint(
    slot: &Arc<Slot>,
    group: Option<&str>,
    name: &str,
    handler: Arc<DynHandler>,
) -> Result<()> {
    let subject = match group {
        Some(prefix) => format!("{prefix}.{name}"),
        None => name.to_owned(),
    };
    if !subject.split('.').all(is_literal_token) {
        return Err(invalid_subject(&subject));
    }
    let _one_at_a_time = slot.registry.changing.lock().await;
    {
        let specs = slot.registry.specs.lock().expect("registry lock");
        if specs[slot.spec_index]
            .endpoints
            .iter()
            .any(|e| e.name == name)
        {
            return Err(Error::Invalid(ErrorBody::new(
                ErrorCode::InvalidManifest,
                format!(
                    "service {} already has an endpoint named {name:?}",
                    slot.name
                ),
            )));
        }
    }
    let builder = {
        let guard = slot.service.lock().expect("service lock");
        let service = guard.as_ref().ok_or_else(|| Error::Service {
            name: subject.clone(),
            detail: format!("service {} has been stopped", slot.name),
        })?;
        endpoint_builder(service, group)
    };
    let endpoint = add_built(builder, group, name).await?;
    slot.registry.specs.lock().expect("registry lock")[slot.spec_index]
        .endpoints
        .push(EndpointSpec {
            name: name.to_owned(),
            subject: subject.clone(),
        });
    slot.endpoints.lock().expect("slot lock").push(EndpointDef {
        group: group.map(str::to_owned),
        name: name.to_owned(),
        handler: handler.clone(),
    });
    tracing::debug!(%subject, service = %slot.name, "endpoint added");
    let task = tokio::spawn(handler::serve(
        endpoint,
        handler,
        slot.nc.clone(),
        slot.registry.caller_key(),
        slot.registry.drain_signal(),
    ));
    let serving = slot.registry.serving.lock().expect("registry lock").clone();
    if let Some(serving) =
        serving.filter(|s| s.server_info().client_id != slot.nc.server_info().client_id)
    {
        // The services moved to a connection of their own: a round trip makes sure nats-server has the
        // subscription before anyone calls the endpoint through the session's connection.
        round_trip(&serving).await;
    }
    slot.registry
        .tasks
        .lock()
        .expect("registry lock")
        .push(task);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_name_is_checked_before_anything_starts() {
        assert!(
            ServiceConfig::new("catalog-v2_x", "1.0.0")
                .check_name()
                .is_ok()
        );
        for bad in ["", "cata log", "catalog.v2", "catalog>"] {
            let e = ServiceConfig::new(bad, "1.0.0").check_name().unwrap_err();
            assert!(
                e.to_string().contains("A-Z, a-z, 0-9, _ and -"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn metadata_entries_add_up_and_a_repeated_key_replaces() {
        let config = ServiceConfig::new("catalog", "1.0.0")
            .description("Catalog service")
            .metadata("openapi", "{}")
            .metadata("team", "a")
            .metadata("team", "b");
        assert_eq!(config.description, "Catalog service");
        assert_eq!(
            config.metadata,
            HashMap::from([
                ("openapi".to_owned(), "{}".to_owned()),
                ("team".to_owned(), "b".to_owned())
            ])
        );
    }
}

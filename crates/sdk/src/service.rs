//! Micro-service endpoints (`io.nats.micro.v1`): services, groups and the registry of what they serve; how
//! each request is answered lives in `handler.rs`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_nats::service::ServiceExt;
use bytes::Bytes;
use symphony_protocol::manifest::{EndpointSpec, ServiceSpec};
use symphony_protocol::names::is_literal_token;
use symphony_protocol::{ErrorBody, ErrorCode};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::handler::{self, DynHandler, HandlerError, Request};

/// Services, their manifest specs and their request tasks, shared by an extension and its handles.
#[derive(Default, Debug)]
pub(crate) struct Registry {
    specs: Mutex<Vec<ServiceSpec>>,
    slots: Mutex<Vec<Arc<Slot>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Registry {
    /// The specs to put into the manifest.
    pub(crate) fn specs(&self) -> Vec<ServiceSpec> {
        self.specs.lock().expect("registry lock").clone()
    }

    /// Stops every service (no new requests), then waits for requests in flight, up to `grace`. The
    /// stopped services leave the manifest.
    pub(crate) async fn stop_all(&self, grace: std::time::Duration) {
        self.specs.lock().expect("registry lock").clear();
        let slots: Vec<Arc<Slot>> = std::mem::take(&mut *self.slots.lock().expect("registry lock"));
        for slot in slots {
            let service = slot.service.lock().expect("service lock").take();
            if let Some(service) = service {
                let _ = service.stop().await;
            }
        }
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().expect("registry lock"));
        let all = futures::future::join_all(tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("requests still running after {grace:?}; stopping anyway");
        }
    }
}

/// One started micro service.
#[derive(Debug)]
struct Slot {
    name: String,
    spec_index: usize,
    service: Mutex<Option<async_nats::service::Service>>,
    registry: Arc<Registry>,
    nc: async_nats::Client,
}

/// Starts a micro service and records its spec.
pub(crate) async fn start(
    registry: &Arc<Registry>,
    nc: &async_nats::Client,
    name: &str,
    version: &str,
    description: &str,
    metadata: HashMap<String, String>,
) -> Result<Service> {
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if !name_ok {
        return Err(Error::Invalid(ErrorBody::new(
            ErrorCode::InvalidManifest,
            format!("service name {name:?} may only use A-Z, a-z, 0-9, _ and -"),
        )));
    }
    if registry.specs().iter().any(|s| s.service == name) {
        return Err(Error::Invalid(ErrorBody::new(
            ErrorCode::InvalidManifest,
            format!("service {name:?} is already started"),
        )));
    }
    let service = nc
        .service_builder()
        .description(description)
        .metadata(metadata.clone())
        .start(name, version)
        .await
        .map_err(|e| Error::Service {
            name: name.to_owned(),
            detail: format!("{e} (the version must be semver, e.g. 1.0.0)"),
        })?;
    let spec_index = {
        let mut specs = registry.specs.lock().expect("registry lock");
        specs.push(ServiceSpec {
            service: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            metadata: metadata.into_iter().collect::<BTreeMap<_, _>>(),
            endpoints: Vec::new(),
        });
        specs.len() - 1
    };
    let slot = Arc::new(Slot {
        name: name.to_owned(),
        spec_index,
        service: Mutex::new(Some(service)),
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
/// let svc = ext.add_endpoints("catalog", "1.0.0", "Catalog service", Default::default()).await?;
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
    let builder = {
        let guard = slot.service.lock().expect("service lock");
        let service = guard.as_ref().ok_or_else(|| Error::Service {
            name: subject.clone(),
            detail: format!("service {} has been stopped", slot.name),
        })?;
        match group {
            Some(prefix) => service.group(prefix).endpoint_builder(),
            None => service.endpoint_builder(),
        }
    };
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
    let endpoint = builder
        .name(name)
        .add(name)
        .await
        .map_err(|e| Error::Service {
            name: subject.clone(),
            detail: e.to_string(),
        })?;
    slot.registry.specs.lock().expect("registry lock")[slot.spec_index]
        .endpoints
        .push(EndpointSpec {
            name: name.to_owned(),
            subject: subject.clone(),
        });
    tracing::debug!(%subject, service = %slot.name, "endpoint added");
    let task = tokio::spawn(handler::serve(endpoint, handler, slot.nc.clone()));
    slot.registry
        .tasks
        .lock()
        .expect("registry lock")
        .push(task);
    Ok(())
}

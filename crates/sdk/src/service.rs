//! Micro-service endpoints (`io.nats.micro.v1`): services, groups, handlers, and failure replies that never
//! leave a caller waiting (docs/protocol.md §5.5).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_nats::HeaderMap;
use async_nats::service::{NATS_SERVICE_ERROR, NATS_SERVICE_ERROR_CODE, ServiceExt};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use symphony_protocol::manifest::{EndpointSpec, ServiceSpec};
use symphony_protocol::names::is_literal_token;
use symphony_protocol::{ErrorBody, ErrorCode, ErrorReply};
use tokio::task::{JoinHandle, JoinSet};

use crate::error::{Error, Result};

/// The error a handler may return: anything that converts into a boxed error (`String`, `&str`, any
/// `std::error::Error`, `anyhow::Error`, …). Its `Display` text becomes the error reply's message.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

type BoxedReply = Pin<Box<dyn Future<Output = Result<Bytes, HandlerError>> + Send>>;
type DynHandler = dyn Fn(Request) -> BoxedReply + Send + Sync;

/// One request to an endpoint.
///
/// ```no_run
/// # async fn demo(req: cirata_symphony::Request) -> Result<(), cirata_symphony::HandlerError> {
/// let text = std::str::from_utf8(&req.data)?;
/// let other = req.nc().request("cirata.extensions.other.x", text.to_owned().into()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    /// The payload.
    pub data: Bytes,
    /// The subject the request arrived on.
    pub subject: String,
    /// The request headers, if any.
    pub headers: Option<HeaderMap>,
    nc: async_nats::Client,
}

impl Request {
    /// The payload.
    ///
    /// ```no_run
    /// # fn demo(req: cirata_symphony::Request) { let n = req.data().len(); }
    /// ```
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Parses the payload as JSON.
    ///
    /// ```no_run
    /// # fn demo(req: cirata_symphony::Request) -> serde_json::Result<()> {
    /// let v: serde_json::Value = req.json()?;
    /// # Ok(()) }
    /// ```
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.data)
    }

    /// The extension's NATS connection, for outbound calls and KV (`jetstream::new(req.nc().clone())`).
    ///
    /// ```no_run
    /// # async fn demo(req: cirata_symphony::Request) -> Result<(), cirata_symphony::HandlerError> {
    /// let kv = async_nats::jetstream::new(req.nc().clone()).get_key_value("catalog_items").await?;
    /// # Ok(()) }
    /// ```
    pub fn nc(&self) -> &async_nats::Client {
        &self.nc
    }

    /// The connection wrapped as a [`Client`](crate::Client) (0.5 s default timeout, typed errors).
    ///
    /// ```no_run
    /// # async fn demo(req: cirata_symphony::Request) -> cirata_symphony::Result<()> {
    /// let reply = req.client().request("cirata.extensions.other.x", "hi").await?;
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> crate::Client {
        crate::Client::new(self.nc.clone())
    }
}

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
        add_endpoint(&self.slot, None, subject, erase(handler)).await
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
        add_endpoint(&self.slot, Some(&self.prefix), name, erase(handler)).await
    }
}

fn erase<F, Fut, R, E>(handler: F) -> Arc<DynHandler>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    R: Into<Bytes>,
    E: Into<HandlerError>,
{
    Arc::new(move |req| {
        let fut = handler(req);
        Box::pin(async move { fut.await.map(Into::into).map_err(Into::into) })
    })
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
    let task = tokio::spawn(serve(endpoint, handler, slot.nc.clone()));
    slot.registry
        .tasks
        .lock()
        .expect("registry lock")
        .push(task);
    Ok(())
}

/// Reads requests until the service stops; each request runs in its own task.
async fn serve(
    mut endpoint: async_nats::service::endpoint::Endpoint,
    handler: Arc<DynHandler>,
    nc: async_nats::Client,
) {
    let mut in_flight = JoinSet::new();
    while let Some(request) = endpoint.next().await {
        in_flight.spawn(answer(request, handler.clone(), nc.clone()));
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
}

async fn answer(
    request: async_nats::service::Request,
    handler: Arc<DynHandler>,
    nc: async_nats::Client,
) {
    let req = Request {
        data: request.message.payload.clone(),
        subject: request.message.subject.to_string(),
        headers: request.message.headers.clone(),
        nc,
    };
    let subject = req.subject.clone();
    let outcome = AssertUnwindSafe(async move { handler(req).await })
        .catch_unwind()
        .await;
    let sent = match outcome {
        Ok(Ok(body)) => request.respond(Ok(body)).await,
        Ok(Err(e)) => {
            let message = e.to_string();
            tracing::warn!(%subject, error = %message, "handler failed");
            respond_failure(&request, &message).await
        }
        Err(panic) => {
            let message = format!("handler panicked: {}", panic_message(&*panic));
            tracing::error!(%subject, "{message}");
            respond_failure(&request, &message).await
        }
    };
    if let Err(e) = sent {
        // A plain publish (no reply subject) to an endpoint lands here too.
        tracing::debug!(%subject, error = %e, "could not send the reply");
    }
}

/// The failure reply of docs/protocol.md §5.5. async-nats' `respond(Err(..))` sends the error headers with an
/// empty body, so the headers are set by hand on a normal reply that carries the JSON error body. (The
/// trade-off: `$SRV.STATS` `num_errors` does not count these replies.)
async fn respond_failure(
    request: &async_nats::service::Request,
    message: &str,
) -> Result<(), async_nats::PublishError> {
    let (headers, body) = failure_reply(message);
    request.respond_with_headers(Ok(body), headers).await
}

/// Headers and body of a failure reply.
fn failure_reply(message: &str) -> (HeaderMap, Bytes) {
    // Header values must stay on one line.
    let one_line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(NATS_SERVICE_ERROR, one_line.as_str());
    headers.insert(NATS_SERVICE_ERROR_CODE, "500");
    let body = ErrorReply {
        error: ErrorBody::new(ErrorCode::HandlerFailed, message),
    };
    let body = serde_json::to_vec(&body).expect("error replies always serialize");
    (headers, body.into())
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_replies_carry_headers_and_a_json_error() {
        let (headers, body) = failure_reply("db down\nretry later");
        assert_eq!(
            headers.get(NATS_SERVICE_ERROR).unwrap().as_str(),
            "db down retry later"
        );
        assert_eq!(
            headers.get(NATS_SERVICE_ERROR_CODE).unwrap().as_str(),
            "500"
        );
        let reply: ErrorReply = serde_json::from_slice(&body).unwrap();
        assert_eq!(reply.error.code, ErrorCode::HandlerFailed);
        assert_eq!(reply.error.message, "db down\nretry later");
    }

    #[test]
    fn panic_payloads_become_messages() {
        let p = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_message(&*p), "boom 1");
        let p = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(&*p), "static");
    }
}

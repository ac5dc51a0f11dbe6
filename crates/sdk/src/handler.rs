//! Answering one request: the [`Request`] a handler gets, the handler's type, and failure replies that never
//! leave a caller waiting (docs/protocol.md §5.5).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use async_nats::HeaderMap;
use async_nats::service::{NATS_SERVICE_ERROR, NATS_SERVICE_ERROR_CODE};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use symphony_protocol::{ErrorBody, ErrorCode, ErrorReply};
use tokio::task::JoinSet;

use crate::error::Result;

/// The error a handler may return: anything that converts into a boxed error (`String`, `&str`, any
/// `std::error::Error`, `anyhow::Error`, …). Its `Display` text becomes the error reply's message.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

type BoxedReply = Pin<Box<dyn Future<Output = Result<Bytes, HandlerError>> + Send>>;
pub(crate) type DynHandler = dyn Fn(Request) -> BoxedReply + Send + Sync;

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
    /// The platform's public caller-signing key (from the key exchange).
    caller_key: Option<Arc<str>>,
}

impl Request {
    /// The request `message` carries, for a handler that calls out on `nc`.
    pub(crate) fn new(
        message: &async_nats::Message,
        nc: async_nats::Client,
        caller_key: Option<Arc<str>>,
    ) -> Request {
        Request {
            data: message.payload.clone(),
            subject: message.subject.to_string(),
            headers: message.headers.clone(),
            nc,
            caller_key,
        }
    }

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

    /// The caller Symphony's REST gateway vouches for: the `Symphony-Caller` header (`user:<name>` for a
    /// signed-in user, the key id for an API key) when its `Symphony-Caller-Signature` verifies against
    /// the platform's key for this subject and payload (docs/protocol.md §7.3); `None` otherwise (a
    /// request that did not come through the gateway, or a forged header). Authorize on this, never on
    /// the raw header: anyone allowed to publish to the endpoint can set that.
    ///
    /// ```no_run
    /// # fn demo(req: cirata_symphony::Request) {
    /// match req.caller() {
    ///     Some(caller) => println!("called by {caller}"),
    ///     None => println!("not from the gateway"),
    /// }
    /// # }
    /// ```
    pub fn caller(&self) -> Option<String> {
        use symphony_protocol::caller::{CALLER_HEADER, SIGNATURE_HEADER, verify};
        let headers = self.headers.as_ref()?;
        let caller = headers.get(CALLER_HEADER)?.as_str();
        let signature = headers.get(SIGNATURE_HEADER)?.as_str();
        let key = self.caller_key.as_deref()?;
        let now = symphony_protocol::time::now_unix();
        verify(key, signature, &self.subject, caller, &self.data, now)
            .ok()
            .map(|()| caller.to_owned())
    }
}

pub(crate) fn erase<F, Fut, R, E>(handler: F) -> Arc<DynHandler>
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

/// Reads requests until the service stops; each request runs in its own task.
///
/// When `drain` turns `true` the endpoint is drained: nats-server routes it nothing more, every
/// request it routed before is still answered, and then the loop ends (a move to a renewed
/// connection, docs/protocol.md §2.2).
pub(crate) async fn serve(
    mut endpoint: async_nats::service::endpoint::Endpoint,
    handler: Arc<DynHandler>,
    nc: async_nats::Client,
    caller_key: Option<Arc<str>>,
    mut drain: tokio::sync::watch::Receiver<bool>,
) {
    let mut in_flight = JoinSet::new();
    let mut draining = false;
    loop {
        tokio::select! {
            request = endpoint.next() => {
                let Some(request) = request else { break };
                in_flight.spawn(answer(
                    request,
                    handler.clone(),
                    nc.clone(),
                    caller_key.clone(),
                ));
                while in_flight.try_join_next().is_some() {}
            }
            changed = drain.changed(), if !draining => {
                draining = true;
                if changed.is_ok() && *drain.borrow() && endpoint.drain().await.is_err() {
                    break;
                }
            }
        }
    }
    while in_flight.join_next().await.is_some() {}
}

async fn answer(
    request: async_nats::service::Request,
    handler: Arc<DynHandler>,
    nc: async_nats::Client,
    caller_key: Option<Arc<str>>,
) {
    let req = Request::new(&request.message, nc, caller_key);
    let subject = req.subject.clone();
    let sent = match outcome(&handler, req).await {
        Ok(body) => request.respond(Ok(body)).await,
        Err(message) => respond_failure(&request, &message).await,
    };
    if let Err(e) = sent {
        // A plain publish (no reply subject) to an endpoint lands here too.
        tracing::debug!(%subject, error = %e, "could not send the reply");
    }
}

/// Runs `handler` on `req`: its reply, or the message of its failure (an `Err` or a panic), logged.
pub(crate) async fn outcome(handler: &Arc<DynHandler>, req: Request) -> Result<Bytes, String> {
    let subject = req.subject.clone();
    let handler = handler.clone();
    match AssertUnwindSafe(async move { handler(req).await })
        .catch_unwind()
        .await
    {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => {
            let message = e.to_string();
            tracing::warn!(%subject, error = %message, "handler failed");
            Err(message)
        }
        Err(panic) => {
            let message = format!("handler panicked: {}", panic_message(&*panic));
            tracing::error!(%subject, "{message}");
            Err(message)
        }
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
pub(crate) fn failure_reply(message: &str) -> (HeaderMap, Bytes) {
    error_reply(ErrorCode::HandlerFailed, 500, message)
}

/// Headers and body of an error reply (docs/protocol.md §5.5): `Nats-Service-Error` (the message) and
/// `Nats-Service-Error-Code` (`status`), and `{"error":{"code":…,"message":…}}`.
pub(crate) fn error_reply(code: ErrorCode, status: u16, message: &str) -> (HeaderMap, Bytes) {
    // Header values must stay on one line.
    let one_line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(NATS_SERVICE_ERROR, one_line.as_str());
    headers.insert(NATS_SERVICE_ERROR_CODE, status.to_string().as_str());
    let body = ErrorReply {
        error: ErrorBody::new(code, message),
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

//! Calling other services: request/reply with a short default timeout and typed failures, and publish.

use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, Result};

/// Default timeout of [`Client::request`], as in the other Symphony SDKs. Deliberately short: pass a timeout
/// that fits the service with [`Client::request_with_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_millis(500);

/// Request/reply and publish over the extension's connection. Cheap to clone.
///
/// ```no_run
/// # async fn demo(ext: &cirata_symphony::Extension) -> cirata_symphony::Result<()> {
/// let reply = ext.client().request("cirata.extensions.other.process", r#"{"input":1}"#).await?;
/// println!("{}", String::from_utf8_lossy(&reply.payload));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    nc: async_nats::Client,
}

impl Client {
    /// Wraps a connection.
    ///
    /// ```no_run
    /// # async fn demo(nc: async_nats::Client) {
    /// let client = cirata_symphony::Client::new(nc);
    /// # }
    /// ```
    pub fn new(nc: async_nats::Client) -> Self {
        Client { nc }
    }

    /// The underlying connection.
    ///
    /// ```no_run
    /// # fn demo(c: cirata_symphony::Client) { let nc: &async_nats::Client = c.nats(); }
    /// ```
    pub fn nats(&self) -> &async_nats::Client {
        &self.nc
    }

    /// Sends a request and waits up to [`DEFAULT_REQUEST_TIMEOUT`] (0.5 s) for the reply.
    ///
    /// Fails with [`Error::NoResponders`] when nobody listens and [`Error::Timeout`] when the reply is late.
    ///
    /// ```no_run
    /// # async fn demo(client: cirata_symphony::Client) -> cirata_symphony::Result<()> {
    /// match client.request("cirata.extensions.other.x", "ping").await {
    ///     Ok(reply) => println!("{:?}", reply.payload),
    ///     Err(cirata_symphony::Error::NoResponders { .. }) => println!("not running"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn request(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<async_nats::Message> {
        self.request_with_timeout(subject, payload, DEFAULT_REQUEST_TIMEOUT)
            .await
    }

    /// Sends a request and waits up to `timeout` for the reply.
    ///
    /// ```no_run
    /// # async fn demo(client: cirata_symphony::Client) -> cirata_symphony::Result<()> {
    /// use std::time::Duration;
    /// let reply = client
    ///     .request_with_timeout("cirata.extensions.other.x", "ping", Duration::from_secs(5))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn request_with_timeout(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<async_nats::Message> {
        let request = async_nats::Request::new()
            .payload(payload.into())
            .timeout(Some(timeout));
        self.nc
            .send_request(subject.to_owned(), request)
            .await
            .map_err(|e| Error::from_request(subject, timeout, e))
    }

    /// Publishes without waiting for anything (fire and forget).
    ///
    /// ```no_run
    /// # async fn demo(client: cirata_symphony::Client) -> cirata_symphony::Result<()> {
    /// client.publish("extensions.my_ext.completed", r#"{"job":"abc"}"#).await?;
    /// # Ok(()) }
    /// ```
    pub async fn publish(&self, subject: &str, payload: impl Into<Bytes>) -> Result<()> {
        self.nc
            .publish(subject.to_owned(), payload.into())
            .await
            .map_err(|e| Error::Publish {
                subject: subject.to_owned(),
                detail: e.to_string(),
            })
    }
}

//! Calling extensions through the REST gateway (`/api/v1/extension/{prefix}/…`, docs/protocol.md §7)
//! and reading the replies in one piece, so assertions can print everything the server sent.

use std::time::Duration;

use anyhow::ensure;
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;
use symphony_protocol::{ErrorBody, ErrorCode};

use crate::platform::Platform;
use crate::poll::{DEFAULT_DEADLINE, eventually};

/// A complete HTTP reply: status, headers and body.
#[derive(Debug, Clone)]
pub struct RestReply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RestReply {
    /// Reads the whole response.
    pub async fn read(resp: reqwest::Response) -> anyhow::Result<RestReply> {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?;
        Ok(RestReply {
            status,
            headers,
            body,
        })
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text (`""` when absent or not visible ASCII).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The `Content-Type` header.
    pub fn content_type(&self) -> &str {
        self.header("content-type")
    }

    /// The body parsed as JSON; panics (with the reply) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {self}"))
    }

    /// The body as the platform's JSON error (`{"code", "message", "hint"}`), if it is one.
    pub fn try_error(&self) -> Option<ErrorBody> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as the platform's JSON error; panics (with the reply) when it is not one.
    pub fn error(&self) -> ErrorBody {
        self.try_error()
            .unwrap_or_else(|| panic!("the body is not a JSON error: {self}"))
    }

    /// Asserts the status and the error code, and returns the error.
    pub fn assert_error(&self, status: u16, code: ErrorCode) -> ErrorBody {
        assert_eq!(self.status, status, "{self}");
        let body = self.error();
        assert_eq!(body.code, code, "{self}");
        assert!(
            self.content_type().starts_with("application/json"),
            "errors are JSON: {self}"
        );
        body
    }

    /// Whether this is the gateway's 404 `route_not_found`.
    pub fn is_route_not_found(&self) -> bool {
        self.status == 404
            && self
                .try_error()
                .is_some_and(|e| e.code == ErrorCode::RouteNotFound)
    }
}

impl std::fmt::Display for RestReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = self.text();
        if text.len() > 2000 {
            let mut end = 2000;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        write!(
            f,
            "HTTP {} (content-type {:?}, {} bytes): {text}",
            self.status,
            self.content_type(),
            self.body.len()
        )
    }
}

impl Platform {
    /// `<http_url>/api/v1/extension/<prefix><path>` (`path` starts with `/`, may carry a query).
    pub fn extension_url(&self, prefix: &str, path: &str) -> String {
        format!("{}/api/v1/extension/{prefix}{path}", self.http_url())
    }

    /// A request to the gateway with `Authorization: Bearer <token>` when given.
    pub fn rest(
        &self,
        method: Method,
        prefix: &str,
        path: &str,
        bearer: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .http()
            .request(method, self.extension_url(prefix, path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req
    }

    /// Sends `req` and reads the whole reply; panics (with the server's log) on transport errors.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> RestReply {
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("HTTP request failed: {e:?}\n{}", self.logs(30)));
        RestReply::read(resp)
            .await
            .unwrap_or_else(|e| panic!("reading the reply failed: {e:?}\n{}", self.logs(30)))
    }

    /// `GET /api/v1/extension/<prefix><path>` as `token`.
    pub async fn rest_get(&self, prefix: &str, path: &str, token: &str) -> RestReply {
        self.send(self.rest(Method::GET, prefix, path, Some(token)))
            .await
    }

    /// `POST /api/v1/extension/<prefix><path>` as `token` with `body` and a content type.
    pub async fn rest_post(
        &self,
        prefix: &str,
        path: &str,
        token: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> RestReply {
        self.send(
            self.rest(Method::POST, prefix, path, Some(token))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    /// `GET <http_url><path>` (any path of the server, not only `/api/v1`), no auth.
    pub async fn get_raw(&self, path: &str) -> RestReply {
        self.send(self.http().get(format!("{}{path}", self.http_url())))
            .await
    }

    /// `GET /api/v1/openapi.json` as `token` (the aggregated document is behind sign-in).
    pub async fn openapi(&self, token: &str) -> RestReply {
        self.send(
            self.http()
                .get(format!("{}/api/v1/openapi.json", self.http_url()))
                .bearer_auth(token),
        )
        .await
    }

    /// Polls `GET <prefix><path>` until the gateway routes it (anything but 404
    /// `route_not_found`, 503 `no_responders` while the endpoint starts); returns that reply.
    pub async fn wait_route(&self, prefix: &str, path: &str, token: &str) -> RestReply {
        eventually(
            &format!("GET /api/v1/extension/{prefix}{path} is routed"),
            DEFAULT_DEADLINE,
            || async {
                let reply = self.try_rest_get(prefix, path, token).await?;
                ensure!(!reply.is_route_not_found(), "{reply}");
                ensure!(reply.status != 503, "{reply}");
                Ok(reply)
            },
        )
        .await
    }

    /// Polls `GET <prefix><path>` until the gateway answers 404 `route_not_found`.
    pub async fn wait_no_route(&self, prefix: &str, path: &str, token: &str) -> RestReply {
        eventually(
            &format!("GET /api/v1/extension/{prefix}{path} is no longer routed"),
            DEFAULT_DEADLINE,
            || async {
                let reply = self.try_rest_get(prefix, path, token).await?;
                ensure!(reply.is_route_not_found(), "{reply}");
                Ok(reply)
            },
        )
        .await
    }

    /// `GET` through the gateway without panicking on transport errors (for polling).
    pub async fn try_rest_get(
        &self,
        prefix: &str,
        path: &str,
        token: &str,
    ) -> anyhow::Result<RestReply> {
        let resp = self
            .rest(Method::GET, prefix, path, Some(token))
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        RestReply::read(resp).await
    }
}

//! The gateway's HTTP handler: authenticate, route, authorize, forward over NATS, translate the reply.

use async_nats::HeaderMap as NatsHeaders;
use async_nats::client::RequestErrorKind;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use percent_encoding::percent_decode_str;
use rand::RngCore;
use symphony_protocol::caller;
use symphony_protocol::time::now_unix;
use symphony_protocol::{ErrorBody, ErrorCode};

use std::time::Duration;

use super::Gateway;
use super::response;
use super::routes::{Lookup, Operation};
use crate::auth::sessions::scoped_refused;
use crate::http::typed::Path as RawPath;
use crate::http::{ApiError, Authenticated, GatewayCaller};
use symphony_protocol::manifest::validate_handler_name;
use symphony_protocol::names::validate_prefix;
use symphony_protocol::{KeyId, subjects};

/// Base of every extension's REST API.
pub const BASE: &str = "/api/v1/extension/";

/// Request headers forwarded to the endpoint under their own names.
const FORWARDED_HEADERS: &[&str] = &[
    "content-type",
    "accept",
    "accept-language",
    "user-agent",
    "x-request-id",
    "traceparent",
    "tracestate",
];

fn err(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError(ErrorBody::new(code, message))
}

/// Splits `/api/v1/extension/<prefix>/<rest>` into the prefix and `/<rest>`. The raw request path
/// is read on purpose (not a `Path<…>` extractor, which percent-decodes): routes are matched and
/// `Symphony-Path` is forwarded as the client sent them, and parameters are decoded one by one.
fn split_path(path: &str) -> Option<(&str, String)> {
    let rest = path.strip_prefix(BASE)?;
    let (prefix, tail) = rest.split_once('/').map_or((rest, ""), |(p, t)| (p, t));
    (!prefix.is_empty()).then(|| (prefix, format!("/{tail}")))
}

fn decode(raw: &str) -> Result<String, ApiError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            err(
                ErrorCode::InvalidPath,
                "the path is not valid UTF-8 after percent-decoding",
            )
        })
}

/// A W3C `traceparent` for requests that arrive without one.
fn new_traceparent() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("00-{}-{}-01", &hex[..32], &hex[32..])
}

/// `ANY /api/v1/extension/{prefix}/…`: authenticate, route, authorize, forward, translate.
pub async fn proxy(
    State(gateway): State<Gateway>,
    GatewayCaller { caller, scope }: GatewayCaller,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (prefix, path) = split_path(uri.path())
        .ok_or_else(|| err(ErrorCode::RouteNotFound, "no extension in the path"))?;
    // An extension UI frame's token reaches its own extension's routes only.
    if let Some(scope) = scope.as_deref().filter(|s| *s != prefix) {
        return Err(scoped_refused(scope).into());
    }
    if let Some(instance) = instance_param(uri.query()) {
        let target = InstanceTarget::of(&gateway, prefix, &instance, &path)?;
        caller.may_call(prefix, &target.subject)?;
        let body = read_body(&gateway, body).await?;
        let caller = caller.caller_header();
        let request = Forwarded::to_handler(&method, &path, &uri, &caller, &headers);
        let reply = forward(&gateway, prefix, &target.subject, None, &request, body)
            .await
            .map_err(|e| target.gone_if_no_responders(e))?;
        return Ok(to_http(prefix, &reply));
    }
    let (operation, params) = match route(&gateway, prefix, &method, &path)? {
        Ok(found) => found,
        Err(method_not_allowed) => return Ok(method_not_allowed),
    };
    // Registration refuses endpoint subjects outside the extension's own group; checked again
    // here for every caller, administrators included.
    let own = format!("{}.", symphony_protocol::subjects::extension_group(prefix));
    if !operation.subject.starts_with(&own) {
        return Err(err(
            ErrorCode::InvalidEndpoint,
            format!("extension {prefix:?} routes to a subject outside {own}"),
        ));
    }
    caller.may_call(prefix, &operation.subject)?;
    let body = read_body(&gateway, body).await?;
    let request = Forwarded {
        method: &method,
        path: &path,
        template: &operation.template,
        params: &params,
        query: uri.query().unwrap_or_default(),
        caller: &caller.caller_header(),
        headers: &headers,
    };
    let reply = forward(
        &gateway,
        prefix,
        &operation.subject,
        operation.timeout,
        &request,
        body,
    )
    .await?;
    Ok(to_http(prefix, &reply))
}

/// `POST /api/v1/extensions/{prefix}/commands/{name}`: one instance runs a declared command
/// (docs/protocol.md §12.3).
pub async fn command(
    State(gateway): State<Gateway>,
    Authenticated(caller): Authenticated,
    RawPath((prefix, name)): RawPath<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let declared = validate_prefix(&prefix).is_ok()
        && validate_handler_name("command", &name).is_ok()
        && gateway.declares_command(&prefix, &name);
    if !declared {
        let shown: String = name.chars().take(40).collect();
        return Err(ApiError(
            ErrorBody::new(
                ErrorCode::CommandNotFound,
                format!("extension {prefix:.40?} declares no command {shown:?}"),
            )
            .with_hint("the Extensions page lists each extension's commands"),
        ));
    }
    let subject = subjects::command_subject(&prefix, &name);
    caller.may_call(&prefix, &subject)?;
    let body = read_body(&gateway, body).await?;
    let path = format!("/commands/{name}");
    let caller = caller.caller_header();
    let request = Forwarded::to_handler(&method, &path, &uri, &caller, &headers);
    let reply = forward(&gateway, &prefix, &subject, None, &request, body).await?;
    Ok(to_http(&prefix, &reply))
}

/// The `instance` query parameter (percent-decoded), if the query has one.
fn instance_param(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "instance")
        .map(|(_, v)| v.into_owned())
}

/// Where `?instance=` sends a request: an instance handler of a live instance (§12.2).
struct InstanceTarget {
    subject: String,
    instance: String,
    prefix: String,
}

impl InstanceTarget {
    fn of(gateway: &Gateway, prefix: &str, instance: &str, path: &str) -> Result<Self, ApiError> {
        let name = path.strip_prefix('/').unwrap_or(path);
        if validate_handler_name("instance handler", name).is_err() {
            return Err(err(
                ErrorCode::InvalidPath,
                "with ?instance= the path names one instance handler: /api/v1/extension/<prefix>/<name>",
            ));
        }
        let id = KeyId::parse(instance)
            .ok()
            .filter(|id| gateway.instance_is_live(prefix, id.as_str()));
        let Some(id) = id else {
            return Err(instance_not_found(prefix, instance));
        };
        Ok(InstanceTarget {
            subject: subjects::instance_handler_subject(prefix, &id, name),
            instance: id.to_string(),
            prefix: prefix.to_owned(),
        })
    }

    /// An instance that left between the check and the request is not found either.
    fn gone_if_no_responders(&self, e: ApiError) -> ApiError {
        if e.0.code == ErrorCode::NoResponders {
            instance_not_found(&self.prefix, &self.instance)
        } else {
            e
        }
    }
}

fn instance_not_found(prefix: &str, instance: &str) -> ApiError {
    let shown: String = instance.chars().take(40).collect();
    ApiError(
        ErrorBody::new(
            ErrorCode::InstanceNotFound,
            format!("extension {prefix:?} has no live instance {shown:?}"),
        )
        .with_hint("GET /api/v1/extensions/<prefix> lists the live instances"),
    )
}

/// The request body, up to the gateway's limit.
async fn read_body(gateway: &Gateway, body: Body) -> Result<Bytes, ApiError> {
    let limit = gateway.0.settings.body_limit;
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError(
            ErrorBody::new(
                ErrorCode::BodyTooLarge,
                format!("the request body is over {limit} bytes"),
            )
            .with_hint("raise the limit with `symphony serve --gateway-body-limit`"),
        )
    })
}

/// Signs the caller for `subject` and sends `request` there, within `timeout` or the gateway's
/// default.
async fn forward(
    gateway: &Gateway,
    prefix: &str,
    subject: &str,
    timeout: Option<Duration>,
    request: &Forwarded<'_>,
    body: Bytes,
) -> Result<async_nats::Message, ApiError> {
    let signature = caller::sign(
        &gateway.0.caller_key,
        subject,
        request.caller,
        now_unix(),
        &body,
    )?;
    let timeout = timeout.unwrap_or(gateway.0.settings.default_timeout);
    send(
        gateway,
        prefix,
        subject,
        timeout,
        request.headers(&signature)?,
        body,
    )
    .await
}

/// An operation and its path parameters.
type Routed = (Operation, Vec<(String, String)>);

/// The operation `method path` reaches in `prefix`'s routes; `Ok(Err(response))` is the 405 with `Allow`.
fn route(
    gateway: &Gateway,
    prefix: &str,
    method: &Method,
    path: &str,
) -> Result<Result<Routed, Response>, ApiError> {
    let routes = gateway.routes_for(prefix).ok_or_else(|| {
        ApiError(
            ErrorBody::new(
                ErrorCode::RouteNotFound,
                format!("extension {prefix:?} has no REST API right now"),
            )
            .with_hint(
                "the extension is not registered, publishes no OpenAPI, or has no running instance",
            ),
        )
    })?;
    match routes.lookup(method.as_str(), path) {
        Lookup::Found { operation, params } => Ok(Ok((operation.clone(), params))),
        Lookup::NotFound => Err(err(
            ErrorCode::RouteNotFound,
            format!("extension {prefix:?} has no route {path}"),
        )),
        Lookup::MethodNotAllowed { allow } => {
            let allow = allow.join(", ");
            let mut response = err(
                ErrorCode::MethodNotAllowed,
                format!("{method} is not allowed on {path}; allowed: {allow}"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, v);
            }
            Ok(Err(response))
        }
    }
}

/// What the endpoint learns of the HTTP request (docs/protocol.md §7.2).
struct Forwarded<'a> {
    method: &'a Method,
    path: &'a str,
    template: &'a str,
    params: &'a [(String, String)],
    query: &'a str,
    caller: &'a str,
    headers: &'a HeaderMap,
}

impl<'a> Forwarded<'a> {
    /// A request to a handler without an OpenAPI route (an instance handler, a command): its path
    /// is its template, and it has no path parameters.
    fn to_handler(
        method: &'a Method,
        path: &'a str,
        uri: &'a Uri,
        caller: &'a str,
        headers: &'a HeaderMap,
    ) -> Self {
        Forwarded {
            method,
            path,
            template: path,
            params: &[],
            query: uri.query().unwrap_or_default(),
            caller,
            headers,
        }
    }

    /// The `Symphony-*` headers (the caller with the platform's `signature` of it), the forwarded
    /// request headers, and a `traceparent`.
    fn headers(&self, signature: &str) -> Result<NatsHeaders, ApiError> {
        let mut out = NatsHeaders::new();
        let decoded: serde_json::Map<String, serde_json::Value> = self
            .params
            .iter()
            .map(|(k, v)| Ok((k.clone(), serde_json::Value::String(decode(v)?))))
            .collect::<Result<_, ApiError>>()?;
        decode(self.path)?;
        out.insert("Symphony-Method", self.method.as_str());
        out.insert("Symphony-Path", self.path);
        out.insert("Symphony-Route", self.template);
        out.insert(
            "Symphony-Path-Params",
            serde_json::Value::Object(decoded).to_string().as_str(),
        );
        out.insert("Symphony-Query", self.query);
        out.insert(caller::CALLER_HEADER, self.caller);
        out.insert(caller::SIGNATURE_HEADER, signature);
        for name in FORWARDED_HEADERS {
            if let Some(v) = self.headers.get(*name).and_then(|v| v.to_str().ok()) {
                out.insert(*name, v);
            }
        }
        if !self.headers.contains_key("traceparent") {
            out.insert("traceparent", new_traceparent().as_str());
        }
        Ok(out)
    }
}

/// The NATS request to the endpoint, its failures as typed errors.
async fn send(
    gateway: &Gateway,
    prefix: &str,
    subject: &str,
    timeout: Duration,
    headers: NatsHeaders,
    body: Bytes,
) -> Result<async_nats::Message, ApiError> {
    let request = async_nats::Request::new()
        .payload(body)
        .headers(headers)
        .timeout(Some(timeout));
    let client = gateway.0.connections.client(prefix).await.map_err(|e| {
        ApiError(ErrorBody::new(
            ErrorCode::NatsUnavailable,
            format!("cannot reach extension {prefix:?} over NATS: {e:#}"),
        ))
    })?;
    client
        .send_request(subject.to_owned(), request)
        .await
        .map_err(|e| match e.kind() {
            RequestErrorKind::NoResponders => ApiError(
                ErrorBody::new(
                    ErrorCode::NoResponders,
                    format!("no instance of {prefix:?} answers {subject}"),
                )
                .with_hint("the extension may have stopped; check `symphony extension list`"),
            ),
            RequestErrorKind::TimedOut => err(
                ErrorCode::GatewayTimeout,
                format!(
                    "{subject} did not answer within {}",
                    humantime::format_duration(timeout)
                ),
            ),
            _ => err(
                ErrorCode::BadExtensionResponse,
                format!("request to {subject} failed: {e}"),
            ),
        })
}

fn to_http(prefix: &str, reply: &async_nats::Message) -> Response {
    if let Some(h) = &reply.headers
        && let Some(code) = h.get("Nats-Service-Error-Code")
    {
        let status = code
            .as_str()
            .parse::<u16>()
            .ok()
            .filter(|c| (400..=599).contains(c))
            .unwrap_or(502);
        let message = h
            .get("Nats-Service-Error")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let body = ErrorBody::new(
            ErrorCode::HandlerFailed,
            format!("extension {prefix:?} failed: {message}"),
        );
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        return (status, axum::Json(body)).into_response();
    }
    match response::decode(&reply.payload) {
        Ok(r) => {
            if !r.dropped.is_empty() {
                tracing::debug!(%prefix, dropped = ?r.dropped, "headers an extension may not set");
            }
            let mut builder = Response::builder()
                .status(r.status)
                .header(header::CONTENT_TYPE, r.content_type);
            for (name, value) in r.headers {
                builder = builder.header(name, value);
            }
            builder.body(Body::from(r.body)).unwrap_or_else(|e| {
                err(
                    ErrorCode::BadExtensionResponse,
                    format!("extension {prefix:?} sent an unusable reply: {e}"),
                )
                .into_response()
            })
        }
        Err(why) => ApiError(
            ErrorBody::new(
                ErrorCode::BadExtensionResponse,
                format!("extension {prefix:?} sent a malformed wrapped reply: {why}"),
            )
            .with_hint("see docs/protocol.md §7.3 for the wrapped response format"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_prefix_and_rest() {
        assert_eq!(
            split_path("/api/v1/extension/catalog/items/1"),
            Some(("catalog", "/items/1".into()))
        );
        assert_eq!(
            split_path("/api/v1/extension/catalog"),
            Some(("catalog", "/".into()))
        );
        assert_eq!(split_path("/api/v1/extension/"), None);
        assert!(decode("%FF%FE").is_err());
        assert_eq!(decode("a%20b").unwrap(), "a b");
    }

    #[test]
    fn generated_traceparents_are_w3c_shaped() {
        let t = new_traceparent();
        let parts: Vec<&str> = t.split('-').collect();
        assert_eq!(
            (parts[0], parts[1].len(), parts[2].len(), parts[3]),
            ("00", 32, 16, "01")
        );
    }
}

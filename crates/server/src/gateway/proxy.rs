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
use symphony_protocol::{ErrorBody, ErrorCode};

use super::response;
use super::routes::Lookup;
use crate::api::AppState;
use crate::api::auth::Authenticated;
use crate::api::error::ApiError;

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

/// Splits `/api/v1/extension/<prefix>/<rest>` into the prefix and `/<rest>`.
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

/// `ANY /api/v1/extension/{prefix}/…`.
pub async fn proxy(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let gateway = &state.gateway;
    let (prefix, path) = split_path(uri.path())
        .ok_or_else(|| err(ErrorCode::RouteNotFound, "no extension in the path"))?;
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
    let (operation, params) = match routes.lookup(method.as_str(), &path) {
        Lookup::Found { operation, params } => (operation.clone(), params),
        Lookup::NotFound => {
            return Err(err(
                ErrorCode::RouteNotFound,
                format!("extension {prefix:?} has no route {path}"),
            ));
        }
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
            return Ok(response);
        }
    };
    caller.may_call(prefix, &operation.subject)?;
    let limit = gateway.settings.body_limit;
    let body: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError(
            ErrorBody::new(
                ErrorCode::BodyTooLarge,
                format!("the request body is over {limit} bytes"),
            )
            .with_hint("raise the limit with `symphony serve --gateway-body-limit`"),
        )
    })?;

    let mut nats_headers = NatsHeaders::new();
    let decoded: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| Ok((k.clone(), serde_json::Value::String(decode(v)?))))
        .collect::<Result<_, ApiError>>()?;
    decode(&path)?;
    nats_headers.insert("Symphony-Method", method.as_str());
    nats_headers.insert("Symphony-Path", path.as_str());
    nats_headers.insert("Symphony-Route", operation.template.as_str());
    nats_headers.insert(
        "Symphony-Path-Params",
        serde_json::Value::Object(decoded).to_string().as_str(),
    );
    nats_headers.insert("Symphony-Query", uri.query().unwrap_or_default());
    nats_headers.insert("Symphony-Caller", caller.caller_header().as_str());
    for name in FORWARDED_HEADERS {
        if let Some(v) = headers.get(*name).and_then(|v| v.to_str().ok()) {
            nats_headers.insert(*name, v);
        }
    }
    if !headers.contains_key("traceparent") {
        nats_headers.insert("traceparent", new_traceparent().as_str());
    }

    let timeout = operation
        .timeout
        .unwrap_or(gateway.settings.default_timeout);
    let request = async_nats::Request::new()
        .payload(body)
        .headers(nats_headers)
        .timeout(Some(timeout));
    let reply = state
        .registry
        .client()
        .send_request(operation.subject.clone(), request)
        .await
        .map_err(|e| match e.kind() {
            RequestErrorKind::NoResponders => ApiError(
                ErrorBody::new(
                    ErrorCode::NoResponders,
                    format!("no instance of {prefix:?} answers {}", operation.subject),
                )
                .with_hint("the extension may have stopped; check `symphony extension list`"),
            ),
            RequestErrorKind::TimedOut => err(
                ErrorCode::GatewayTimeout,
                format!(
                    "{} did not answer within {}",
                    operation.subject,
                    humantime::format_duration(timeout)
                ),
            ),
            _ => err(
                ErrorCode::BadExtensionResponse,
                format!("request to {} failed: {e}", operation.subject),
            ),
        })?;
    Ok(to_http(prefix, &reply))
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

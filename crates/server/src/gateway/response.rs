//! Turns an extension's reply into an HTTP response: raw (JSON → application/json, else text/plain)
//! or wrapped `{body, statusCode, contentType, headers}` (docs/protocol.md §7.3). Pure. An extension
//! sets only the headers of [`may_set`]; every gateway response is [`harden`]ed (docs/security.md).

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value};

/// Headers an extension may not set: hop-by-hop, or computed by the gateway.
const FORBIDDEN_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Headers an extension may set besides `x-…` ones (docs/protocol.md §7.3). Everything else is
/// dropped: cookies (`set-cookie`), CORS (`access-control-*`), the platform's own policies
/// (`content-security-policy`, …), authentication challenges, `link` preloads and the like.
const ALLOWED_HEADERS: &[&str] = &[
    "accept-ranges",
    "age",
    "cache-control",
    "content-disposition",
    "content-language",
    "content-range",
    "etag",
    "expires",
    "last-modified",
    "location",
    "pragma",
    "retry-after",
    "vary",
];

/// `x-…` headers that still are not the extension's to set: security policies the gateway sets,
/// and instructions to proxies in front of the server.
const DENIED_X_HEADERS: &[&str] = &[
    "x-content-type-options",
    "x-frame-options",
    "x-xss-protection",
    "x-permitted-cross-domain-policies",
    "x-dns-prefetch-control",
    "x-sendfile",
    "x-lighttpd-send-file",
    "x-real-ip",
];

/// Whether an extension may set header `lower` (lowercase) to `value`. `location` must stay on
/// this origin: a relative reference, never a scheme or `//host`.
pub fn may_set(lower: &str, value: &str) -> bool {
    if lower == "location" {
        let v = value.trim_start();
        let has_scheme = v
            .split_once(':')
            .is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains(['/', '?', '#']));
        return !has_scheme
            && !v.starts_with("//")
            && !v.starts_with("/\\")
            && !v.starts_with('\\');
    }
    if ALLOWED_HEADERS.contains(&lower) {
        return true;
    }
    lower.starts_with("x-")
        && !DENIED_X_HEADERS.contains(&lower)
        && !lower.starts_with("x-accel-")
        && !lower.starts_with("x-forwarded-")
}

/// The sandbox every gateway response carries: extension HTML opened as a page runs in an opaque
/// origin (no cookies, no storage, no same-origin requests to the platform), as in its UI frames.
pub const GATEWAY_CSP: &str = "sandbox allow-scripts allow-forms allow-popups";

/// The gateway's own headers on every response of `/api/v1/extension/…` (also its errors).
pub async fn harden(mut response: Response) -> Response {
    let headers: &mut HeaderMap = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(GATEWAY_CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// What goes back to the HTTP caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// Headers of a wrapped reply the extension may not set, dropped (lowercase names).
    pub dropped: Vec<String>,
}

fn is_json_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// Reads a wrapper field under its camelCase or lowercase name.
fn field<'a>(obj: &'a Map<String, Value>, camel: &str) -> Option<&'a Value> {
    obj.get(camel)
        .or_else(|| obj.get(&camel.to_ascii_lowercase()))
}

/// Decodes a reply payload. `Err` says why a wrapped reply is malformed.
pub fn decode(payload: &Bytes) -> Result<Reply, String> {
    let parsed: Option<Value> = serde_json::from_slice(payload).ok();
    match parsed {
        Some(Value::Object(obj)) if obj.contains_key("body") => decode_wrapped(&obj),
        Some(_) => Ok(Reply {
            status: 200,
            content_type: "application/json".into(),
            headers: vec![],
            body: payload.clone(),
            dropped: vec![],
        }),
        None => Ok(Reply {
            status: 200,
            content_type: "text/plain; charset=utf-8".into(),
            headers: vec![],
            body: payload.clone(),
            dropped: vec![],
        }),
    }
}

fn decode_wrapped(obj: &Map<String, Value>) -> Result<Reply, String> {
    let status = match field(obj, "statusCode") {
        None | Some(Value::Null) => 200,
        Some(v) => match v.as_u64() {
            Some(n @ 200..=599) => n as u16,
            // The seed allows 100–599, but an informational status cannot end an HTTP exchange:
            // the body goes out as 200, as Go's net/http answers a handler that wrote a 1xx.
            Some(100..=199) => 200,
            _ => {
                return Err(format!(
                    "statusCode {v} is not an integer between 100 and 599"
                ));
            }
        },
    };
    let content_type = match field(obj, "contentType") {
        None | Some(Value::Null) => "application/json".to_owned(),
        Some(Value::String(s)) if HeaderValue::from_str(s).is_ok() && !s.is_empty() => s.clone(),
        Some(v) => return Err(format!("contentType {v} is not a valid media type string")),
    };
    let mut headers = Vec::new();
    let mut dropped = Vec::new();
    match field(obj, "headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let Value::String(value) = value else {
                    return Err(format!("header {name:?} has a non-string value {value}"));
                };
                let lower = name.to_ascii_lowercase();
                if FORBIDDEN_HEADERS.contains(&lower.as_str()) {
                    return Err(format!(
                        "header {name:?} is hop-by-hop or set by the gateway"
                    ));
                }
                if lower == "content-type" {
                    return Err("set the content type with contentType, not headers".into());
                }
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("{name:?} is not a valid header name"))?;
                if !may_set(&lower, value) {
                    dropped.push(lower);
                    continue;
                }
                let value = HeaderValue::from_str(value)
                    .map_err(|_| format!("header {name} has an invalid value"))?;
                headers.push((name, value));
            }
        }
        Some(v) => return Err(format!("headers {v} is not an object of strings")),
    }
    let body = &obj["body"];
    let body = if is_json_type(&content_type) {
        Bytes::from(serde_json::to_vec(body).map_err(|e| e.to_string())?)
    } else {
        match body {
            Value::String(s) => Bytes::from(s.clone()),
            other => {
                return Err(format!(
                    "body must be a string for content type {content_type:?}, got {other}"
                ));
            }
        }
    };
    Ok(Reply {
        status,
        content_type,
        headers,
        body,
        dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Result<Reply, String> {
        decode(&Bytes::from(s.to_owned()))
    }

    #[test]
    fn raw_json_and_raw_text() {
        let r = d(r#"[1,2]"#).unwrap();
        assert_eq!(
            (r.status, r.content_type.as_str(), &r.body[..]),
            (200, "application/json", &b"[1,2]"[..])
        );
        let r = d("pong").unwrap();
        assert_eq!(
            (r.status, r.content_type.as_str()),
            (200, "text/plain; charset=utf-8")
        );
        // An object without `body` is plain JSON, passed through untouched.
        let r = d(r#"{"status":"created"}"#).unwrap();
        assert_eq!(&r.body[..], br#"{"status":"created"}"#);
    }

    #[test]
    fn wrapped_in_both_spellings() {
        let r = d(r#"{"body":{"id":1},"statusCode":201,"headers":{"X-Id":"1"}}"#).unwrap();
        assert_eq!(
            (r.status, r.content_type.as_str(), &r.body[..]),
            (201, "application/json", &br#"{"id":1}"#[..])
        );
        assert_eq!(r.headers[0].0.as_str(), "x-id");
        let r = d(r#"{"body":"<b>hi</b>","statuscode":202,"contenttype":"text/html"}"#).unwrap();
        assert_eq!(
            (r.status, r.content_type.as_str(), &r.body[..]),
            (202, "text/html", &b"<b>hi</b>"[..])
        );
        let r = d(r#"{"body":null}"#).unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"null"[..]));
    }

    #[test]
    fn only_allowed_headers_pass() {
        let r = d(r#"{"body":"<p>x</p>","contentType":"text/html","headers":{
            "Set-Cookie":"symphony_session=stolen; Path=/",
            "Access-Control-Allow-Origin":"*",
            "Access-Control-Allow-Credentials":"true",
            "Content-Security-Policy":"default-src *",
            "Location":"https://evil.example/",
            "WWW-Authenticate":"Basic realm=x",
            "Link":"<https://evil.example/x.js>; rel=preload",
            "X-Accel-Redirect":"/internal",
            "X-Frame-Options":"ALLOWALL",
            "Cache-Control":"no-store",
            "ETag":"\"v1\"",
            "Content-Disposition":"attachment; filename=a.csv",
            "X-Item":"kept"}}"#)
        .unwrap();
        let mut kept: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
        kept.sort();
        assert_eq!(
            kept,
            ["cache-control", "content-disposition", "etag", "x-item"]
        );
        let mut dropped = r.dropped.clone();
        dropped.sort();
        assert_eq!(
            dropped,
            [
                "access-control-allow-credentials",
                "access-control-allow-origin",
                "content-security-policy",
                "link",
                "location",
                "set-cookie",
                "www-authenticate",
                "x-accel-redirect",
                "x-frame-options",
            ]
        );
    }

    #[test]
    fn location_stays_on_this_origin() {
        for ok in [
            "/api/v1/extension/x/items/1",
            "items/1",
            "?page=2",
            "#top",
            "items/a:b",
        ] {
            assert!(may_set("location", ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "\\\\evil",
            "javascript:alert(1)",
            " https://evil.example",
        ] {
            assert!(!may_set("location", bad), "{bad}");
        }
    }

    #[test]
    fn an_informational_status_answers_200_with_the_body() {
        let r = d(r#"{"body":{"id":1},"statusCode":102}"#).unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &br#"{"id":1}"#[..]));
    }

    #[test]
    fn malformed_wrappers_are_errors() {
        for bad in [
            r#"{"body":1,"statusCode":42}"#,
            r#"{"body":1,"statusCode":"200"}"#,
            r#"{"body":1,"statusCode":600}"#,
            r#"{"body":1,"headers":{"X":1}}"#,
            r#"{"body":1,"headers":["x"]}"#,
            r#"{"body":1,"headers":{"Transfer-Encoding":"chunked"}}"#,
            r#"{"body":1,"headers":{"Connection":"close"}}"#,
            r#"{"body":1,"headers":{"bad name":"x"}}"#,
            r#"{"body":1,"contentType":5}"#,
            r#"{"body":{"a":1},"contentType":"text/plain"}"#,
        ] {
            assert!(d(bad).is_err(), "{bad}");
        }
    }
}

//! Strong ETags and revalidation (docs/protocol.md §5.4): vendored files, UI modules and the
//! extension views all answer `If-None-Match` with 304 the same way.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ApiError;

/// `"<first 32 hex digits of the SHA-256>"`: the strong ETag of every revalidated response.
pub fn strong_etag(sha256: &[u8; 32]) -> String {
    format!("\"{}\"", &data_encoding::HEXLOWER.encode(sha256)[..32])
}

/// The `ETag` and `Cache-Control` headers a revalidated response carries, on 200 and 304 alike.
pub fn validators(etag: &str, cache_control: &'static str) -> [(HeaderName, HeaderValue); 2] {
    [
        (
            header::ETAG,
            HeaderValue::from_str(etag).expect("hex in quotes"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        ),
    ]
}

/// Whether `If-None-Match` names `etag` (or is `*`): then the answer is 304. `If-None-Match` compares
/// weakly (RFC 9110 §13.1.2), so `W/"x"` matches `"x"`.
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// `Cache-Control` of per-caller JSON views: any cache must revalidate (the shell polls them), and
/// only the caller's own (what it sees depends on who asks).
const VIEW_CACHE_CONTROL: &str = "private, no-cache";

/// A JSON body with a strong `ETag` (the quoted first 32 hex digits of its SHA-256), answering a
/// matching `If-None-Match` with 304 and no body.
pub fn revalidated_json<T: Serialize>(
    headers: &HeaderMap,
    value: &T,
) -> Result<Response, ApiError> {
    let body = serde_json::to_string(value).map_err(anyhow::Error::from)?;
    let etag = strong_etag(&Sha256::digest(body.as_bytes()).into());
    let cache_headers = validators(&etag, VIEW_CACHE_CONTROL);
    let vary = [(header::VARY, "Cookie, Authorization")];
    if not_modified(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, cache_headers, vary).into_response());
    }
    Ok((
        cache_headers,
        vary,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

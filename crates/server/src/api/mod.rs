//! The platform's own REST API under `/api/v1` (ping, health, info, API-key exchange, extensions)
//! and the router that mounts the gateway and the UI (`crate::ui`).

mod admin;
pub mod auth;
pub mod error;
mod keys;
mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use symphony_protocol::messages::{ApiKey, SymphonyInfo};
use symphony_protocol::{ErrorBody, ErrorCode};

use crate::gateway::{self, Gateway};
use crate::libraries;
use crate::registry::Registry;
use auth::{AnyKey, Authenticated};
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub gateway: Gateway,
    pub info: Arc<SymphonyInfo>,
    /// Where `/pypi/simple/<other project>/` redirects (the SDK's dependencies).
    pub pypi_upstream: Arc<str>,
    /// Transpiled extension UI modules by source hash.
    pub modules: Arc<crate::ui::jsx::TranspileCache>,
}

impl AppState {
    pub fn auth(&self) -> &crate::auth::Auth {
        &self.registry.auth
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/ping", get(ping))
        .route("/api/v1/health", get(health))
        .route("/api/v1/ready", get(ready))
        .route("/api/v1/symphonyinfo", get(symphony_info))
        .route("/api/v1/apikey", get(api_key))
        .route("/api/v1/extensions/all", get(extensions_all))
        .route("/api/v1/extensions/{prefix}", get(extension_one))
        .route(
            "/api/v1/ui/module/{prefix}/{*name}",
            get(crate::ui::module::module),
        )
        .route("/api/v1/extension/{*rest}", any(gateway::proxy))
        .route("/api/v1/login", post(session::login))
        .route("/api/v1/logout", post(session::logout))
        .route("/api/v1/userinfo", get(session::userinfo))
        .route("/api/v1/usertoken", get(session::usertoken))
        .route("/api/v1/keys", get(keys::list).post(keys::create))
        .route("/api/v1/key/{id}", put(keys::update).delete(keys::revoke))
        .route(
            "/api/v1/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route(
            "/api/v1/users/{name}",
            put(admin::update_user).delete(admin::delete_user),
        )
        .route("/api/v1/roles", get(admin::list_roles))
        .route(
            "/api/v1/roles/{name}",
            put(admin::put_role).delete(admin::delete_role),
        )
        .route("/api/v1/audit", get(admin::audit))
        .route("/api/v1/openapi.json", get(gateway::openapi::openapi_json))
        .route("/api/v1/libraries", get(libraries::list))
        .route("/downloads/{file}", get(libraries::download))
        .route("/pypi/simple/", get(libraries::simple_root))
        .route("/pypi/simple/{*project}", get(libraries::simple_project))
        .route("/help/access/swagger", get(gateway::openapi::swagger_page))
        .route(
            "/help/access/swagger/assets/{file}",
            get(gateway::openapi::swagger_asset),
        )
        .merge(crate::ui::router())
        .fallback(crate::ui::fallback)
        .layer(axum::middleware::from_fn(close_when_body_may_be_unread))
        .with_state(state)
}

/// An error answered before the request body was read leaves unread bytes on the connection; hyper then
/// closes it. Saying `Connection: close` (RFC 9112 §9.6) keeps keep-alive clients from reusing it.
async fn close_when_body_may_be_unread(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let has_body = headers.contains_key(axum::http::header::TRANSFER_ENCODING)
        || headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    let mut response = next.run(request).await;
    if has_body && (response.status().is_client_error() || response.status().is_server_error()) {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

async fn ping() -> Json<serde_json::Value> {
    Json(json!({"message": "pong"}))
}

/// 200 when NATS answers a round trip, 503 otherwise.
async fn nats_ok(state: &AppState) -> bool {
    let client = state.registry.client();
    client.connection_state() == async_nats::connection::State::Connected
        && tokio::time::timeout(Duration::from_secs(2), client.flush())
            .await
            .is_ok_and(|r| r.is_ok())
}

async fn health(State(state): State<AppState>) -> Response {
    if nats_ok(&state).await {
        (
            StatusCode::OK,
            Json(json!({"status": "ok", "nats": "connected"})),
        )
            .into_response()
    } else {
        let body = json!({"status": "degraded", "nats": "disconnected", "code": "nats_unavailable",
                          "message": "NATS is unreachable"});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

async fn ready(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    if nats_ok(&state).await {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(ErrorBody::new(ErrorCode::NotReady, "waiting for NATS").into())
    }
}

async fn symphony_info(State(state): State<AppState>) -> Json<SymphonyInfo> {
    Json((*state.info).clone())
}

async fn api_key(
    State(state): State<AppState>,
    AnyKey(record): AnyKey,
) -> Result<Json<ApiKey>, ApiError> {
    tracing::info!(key = %record.id, kind = ?record.kind, "api key exchanged");
    Ok(Json(record.to_api_key(
        &state.auth().identity,
        &state.info.nats_urls,
    )?))
}

/// `Cache-Control` of the extension views: any cache must revalidate (the shell polls them), and
/// only the caller's own (what it sees depends on who asks).
const VIEW_CACHE_CONTROL: &str = "private, no-cache";

/// A JSON body with a strong `ETag` (the quoted first 32 hex digits of its SHA-256), answering a
/// matching `If-None-Match` with 304 and no body (docs/protocol.md §5.4).
fn revalidated_json<T: Serialize>(headers: &HeaderMap, value: &T) -> Result<Response, ApiError> {
    let body = serde_json::to_string(value).map_err(anyhow::Error::from)?;
    let etag = crate::ui::strong_etag(&Sha256::digest(body.as_bytes()).into());
    let cache_headers = crate::ui::validators(&etag, VIEW_CACHE_CONTROL);
    let vary = [(header::VARY, "Cookie, Authorization")];
    if crate::ui::not_modified(headers, &etag) {
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

async fn extensions_all(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let views: Vec<_> = state
        .registry
        .views()
        .await?
        .into_iter()
        .filter(|v| caller.sees(&v.prefix))
        .collect();
    revalidated_json(&headers, &views)
}

async fn extension_one(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(prefix): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = state
        .registry
        .view(&prefix)
        .await?
        .filter(|_| caller.sees(&prefix))
        .ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::ExtensionNotFound,
                format!("no extension with prefix {prefix:?} is registered"),
            )
        })?;
    revalidated_json(&headers, &view)
}

pub(crate) async fn not_found() -> ApiError {
    ErrorBody::new(ErrorCode::NotFound, "no such path").into()
}

//! The platform's own REST API under `/api/v1`: ping, health, info, the API-key exchange, the
//! extension views, sign-in, and key, user and role administration.

mod admin;
mod keys;
mod session;

use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;
use symphony_protocol::messages::{ApiKey, SymphonyInfo};
use symphony_protocol::names::validate_prefix;
use symphony_protocol::{ErrorBody, ErrorCode, KeyId};

use crate::auth::Auth;
use crate::auth::audit::{AuditAction, event};
use crate::http::etag::revalidated_json;
use crate::http::typed::{Json, Path, Query};
use crate::http::{AnyKey, ApiError, Authenticated};
use crate::registry::Registry;

/// The platform's own routes under `/api/v1`.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Auth>: FromRef<S>,
    Arc<Registry>: FromRef<S>,
    Arc<SymphonyInfo>: FromRef<S>,
{
    Router::new()
        .route("/api/v1/ping", get(ping))
        .route("/api/v1/health", get(health))
        .route("/api/v1/ready", get(ready))
        .route("/api/v1/symphonyinfo", get(symphony_info))
        .route("/api/v1/apikey", get(api_key))
        .route("/api/v1/extensions/all", get(extensions_all))
        .route("/api/v1/extensions/{prefix}", get(extension_one))
        .route(
            "/api/v1/extensions/{prefix}/account",
            get(admin::extension_account),
        )
        .route("/api/v1/extensions/{prefix}/limits", put(admin::set_limits))
        .route("/api/v1/login", post(session::login))
        .route("/api/v1/logout", post(session::logout))
        .route("/api/v1/userinfo", get(session::userinfo))
        .route("/api/v1/usertoken", get(session::usertoken))
        .route("/api/v1/usertoken/scoped", post(session::usertoken_scoped))
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
        .route("/metrics", get(metrics))
}

/// The server's counters in the Prometheus text format (unauthenticated, like most scrape targets:
/// counts only, no names or secrets).
async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
}

async fn ping() -> Json<serde_json::Value> {
    Json(json!({"message": "pong"}))
}

/// 200 when NATS answers a round trip, 503 otherwise.
async fn nats_ok(registry: &Registry) -> bool {
    let client = registry.client();
    client.connection_state() == async_nats::connection::State::Connected
        && tokio::time::timeout(Duration::from_secs(2), client.flush())
            .await
            .is_ok_and(|r| r.is_ok())
}

async fn health(State(registry): State<Arc<Registry>>) -> Response {
    if nats_ok(&registry).await {
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

async fn ready(State(registry): State<Arc<Registry>>) -> Result<Json<serde_json::Value>, ApiError> {
    if nats_ok(&registry).await {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(ErrorBody::new(ErrorCode::NotReady, "waiting for NATS").into())
    }
}

async fn symphony_info(State(info): State<Arc<SymphonyInfo>>) -> Json<SymphonyInfo> {
    Json((*info).clone())
}

/// `GET /api/v1/apikey[?instance=<I>]`: without `instance`, a new instance (docs/protocol.md §12.1).
#[derive(Debug, Deserialize)]
struct ExchangeQuery {
    instance: Option<KeyId>,
}

async fn api_key(
    State(auth): State<Arc<Auth>>,
    State(info): State<Arc<SymphonyInfo>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AnyKey(record): AnyKey,
    Query(query): Query<ExchangeQuery>,
) -> Result<Json<ApiKey>, ApiError> {
    let key = auth
        .mint_api_key(&record, &info.nats_urls, query.instance.as_ref())
        .await?;
    let instance = key
        .instance_id
        .as_ref()
        .map(KeyId::as_str)
        .unwrap_or_default();
    let renewal = query.instance.is_some();
    tracing::info!(key = %record.id, kind = ?record.kind, instance, renewal, "api key exchanged");
    let target = format!("key:{}", record.id);
    let detail = if renewal {
        format!("renewed instance {instance}")
    } else {
        format!("new instance {instance}")
    };
    auth.audit
        .record(
            event(AuditAction::KeyExchanged, &target, &target)
                .at(&peer.ip().to_string())
                .detail(detail),
        )
        .await;
    Ok(Json(key))
}

async fn extensions_all(
    State(registry): State<Arc<Registry>>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let views: Vec<_> = registry
        .views()
        .await?
        .into_iter()
        .filter(|v| caller.sees(&v.prefix))
        .collect();
    revalidated_json(&headers, &views)
}

async fn extension_one(
    State(registry): State<Arc<Registry>>,
    Authenticated(caller): Authenticated,
    Path(prefix): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    validate_prefix(&prefix)?;
    let view = registry
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

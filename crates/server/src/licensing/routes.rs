//! `/api/v1/licenses` (administrators) and `/api/v1/usage/enforcement` (anyone signed in).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use symphony_protocol::license::{Enforcement, SignedLicense};
use symphony_protocol::{ErrorBody, ErrorCode};

use super::{LicenseView, Licensing};
use crate::auth::Auth;
use crate::auth::audit::{AuditAction, event};
use crate::http::typed::{Json, Path};
use crate::http::{ApiError, Authenticated};

/// The licensing routes.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Auth>: FromRef<S>,
    Licensing: FromRef<S>,
{
    Router::new()
        .route("/api/v1/licenses", get(list).post(add))
        .route("/api/v1/licenses/{id}", delete(remove))
        .route("/api/v1/usage/enforcement", get(enforcement))
}

async fn add(
    State(licensing): State<Licensing>,
    State(auth): State<Arc<Auth>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Authenticated(caller): Authenticated,
    body: Bytes,
) -> Result<(StatusCode, Json<LicenseView>), ApiError> {
    caller.require_admin()?;
    let signed: SignedLicense = serde_json::from_slice(&body).map_err(|e| {
        ErrorBody::new(
            ErrorCode::InvalidLicense,
            format!("the body is not a signed license (payload, signature, vendor_key): {e}"),
        )
    })?;
    let view = licensing.add(signed, &caller.actor()).await?;
    auth.audit
        .record(
            event(AuditAction::LicenseAdded, &caller.actor(), &view.id)
                .at(&peer.ip().to_string())
                .detail(format!(
                    "customer {:?}, {} units, expires {}",
                    view.customer, view.units, view.expires_at
                )),
        )
        .await;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list(
    State(licensing): State<Licensing>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<LicenseView>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(licensing.list().await?))
}

async fn remove(
    State(licensing): State<Licensing>,
    State(auth): State<Arc<Auth>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    if licensing.revoke(&id).await? {
        auth.audit
            .record(
                event(AuditAction::LicenseRemoved, &caller.actor(), &id).at(&peer.ip().to_string()),
            )
            .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn enforcement(
    State(licensing): State<Licensing>,
    Authenticated(_caller): Authenticated,
) -> Result<Json<Enforcement>, ApiError> {
    Ok(Json(licensing.enforcement().await?))
}

//! The bearer-token extractor: the one place that decides who is calling.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use symphony_protocol::messages::KeyKind;
use symphony_protocol::{ErrorBody, ErrorCode};

use super::AppState;
use super::error::ApiError;
use crate::auth::keys::KeyRecord;

/// A caller holding a valid token of any kind.
pub struct AnyKey(pub KeyRecord);

/// A caller holding a valid `api_key` token.
pub struct ApiKeyCaller(pub KeyRecord);

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ErrorBody::new(
            ErrorCode::MissingToken,
            "the Authorization header is missing",
        )
    })?;
    let value = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::MissingToken,
                "the Authorization header is not `Bearer <token>`",
            )
        })?;
    Ok(value)
}

impl FromRequestParts<AppState> for AnyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        let (record, _) = state.registry.keys.verify(token).await?;
        Ok(AnyKey(record))
    }
}

impl FromRequestParts<AppState> for ApiKeyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AnyKey(record) = AnyKey::from_request_parts(parts, state).await?;
        if record.kind != KeyKind::ApiKey {
            return Err(ErrorBody::new(
                ErrorCode::WrongTokenKind,
                "a registration token cannot call this API",
            )
            .with_hint(
                "use the permanent token the extension provisioned, or `symphony key create`",
            )
            .into());
        }
        Ok(ApiKeyCaller(record))
    }
}

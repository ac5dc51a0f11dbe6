//! Extractors that say who is calling: a bearer token (API key or user session) or the session cookie.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use symphony_protocol::messages::KeyKind;
use symphony_protocol::{ErrorBody, ErrorCode, Token};

use super::error::ApiError;
use crate::auth::Auth;
use crate::auth::keys::{KeyRecord, KeyStore};
use crate::auth::policy::Caller;

/// Name of the browser session cookie.
pub const SESSION_COOKIE: &str = "symphony_session";

fn missing() -> ApiError {
    ErrorBody::new(
        ErrorCode::MissingToken,
        "no credentials: send `Authorization: Bearer <token>` or sign in",
    )
    .into()
}

fn invalid() -> ApiError {
    ErrorBody::new(ErrorCode::InvalidToken, "the token is not valid")
        .with_hint("check that the whole token was copied, or create a new one")
        .into()
}

/// The bearer token, else the session cookie.
fn credential(parts: &Parts) -> Result<String, ApiError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        return value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                ErrorBody::new(
                    ErrorCode::MissingToken,
                    "the Authorization header is not `Bearer <token>`",
                )
                .into()
            });
    }
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .ok_or_else(missing)
}

/// A caller holding a valid key token of any kind (the API-key exchange).
pub struct AnyKey(pub Arc<KeyRecord>);

impl<S> FromRequestParts<S> for AnyKey
where
    S: Send + Sync,
    Arc<Auth>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = credential(parts)?;
        let auth = Arc::<Auth>::from_ref(state);
        let (record, revision) = auth.keys.verify(&token).await?;
        auth.keys.touch(&record, revision);
        Ok(AnyKey(record))
    }
}

/// Any authenticated caller: an `api_key` or a signed-in user.
pub struct Authenticated(pub Caller);

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    Arc<Auth>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = credential(parts)?;
        let token = Token::parse(&raw).map_err(|_| invalid())?;
        let auth = Arc::<Auth>::from_ref(state);
        // Which kind of credential: from memory when a mirror holds it; only a bearer neither
        // mirror knows (new in another process, or invalid) costs a NATS read here.
        let id = &token.key_id;
        let key = match auth.keys.cached(id) {
            Some(found) => Some(found),
            None if auth.sessions.is_cached(id) => None,
            None => auth.keys.lookup(id).await.map_err(ApiError::from)?,
        };
        if let Some((record, revision)) = key {
            KeyStore::check(&token, &record)?;
            if record.kind != KeyKind::ApiKey {
                return Err(ErrorBody::new(
                    ErrorCode::WrongTokenKind,
                    "a registration token cannot call this API",
                )
                .with_hint(
                    "use the permanent token the extension provisioned, or create an API key",
                )
                .into());
            }
            auth.keys.touch(&record, revision);
            return Ok(Authenticated(Caller::Key(record)));
        }
        let session = auth.sessions.verify(&token).await?.ok_or_else(invalid)?;
        let user = auth
            .users
            .get_shared(&session.username)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| {
                ApiError(ErrorBody::new(
                    ErrorCode::SessionExpired,
                    "the user no longer exists",
                ))
            })?;
        let grants = auth.roles.grants(&user.roles).await?;
        Ok(Authenticated(Caller::User {
            user,
            grants,
            session,
        }))
    }
}

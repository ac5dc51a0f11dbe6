//! Extractors that say who is calling: a bearer token (API key or user session) or the session cookie.
//! A scoped bearer (an extension UI frame's, `POST /api/v1/usertoken/scoped`) is refused by every
//! extractor except [`GatewayCaller`]: a new API cannot accept one by accident.

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
use crate::auth::sessions::SessionRecord;

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

/// Marks requests that arrived on the UI sandbox listener (`ui::sandbox`): there only a scoped bearer
/// in `Authorization` is a credential, never a cookie.
#[derive(Debug, Clone, Copy)]
pub struct SandboxListener;

/// The bearer token, else the session cookie.
fn credential(parts: &Parts) -> Result<String, ApiError> {
    if let Some(bearer) = bearer(parts)? {
        return Ok(bearer);
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

/// The `Authorization: Bearer` token, if the header is there.
fn bearer(parts: &Parts) -> Result<Option<String>, ApiError> {
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
            .map(|v| Some(v.to_owned()))
            .ok_or_else(|| {
                ErrorBody::new(
                    ErrorCode::MissingToken,
                    "the Authorization header is not `Bearer <token>`",
                )
                .into()
            });
    }
    Ok(None)
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
        if parts.extensions.get::<SandboxListener>().is_some() {
            return Err(ErrorBody::new(
                ErrorCode::ScopedToken,
                "the UI sandbox origin serves only extension gateway routes",
            )
            .into());
        }
        let raw = credential(parts)?;
        let token = Token::parse(&raw).map_err(|_| invalid())?;
        let auth = Arc::<Auth>::from_ref(state);
        authenticate(&auth, &token).await.map(Authenticated)
    }
}

/// The caller of a gateway route (`/api/v1/extension/<prefix>/…`): any [`Authenticated`] caller, or
/// a scoped bearer with the prefix it is scoped to (the gateway checks it against the route's). On
/// the UI sandbox listener only a scoped bearer in `Authorization` is accepted.
pub struct GatewayCaller {
    pub caller: Caller,
    /// The one extension a scoped bearer may reach; `None` for other credentials.
    pub scope: Option<String>,
}

impl<S> FromRequestParts<S> for GatewayCaller
where
    S: Send + Sync,
    Arc<Auth>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let auth = Arc::<Auth>::from_ref(state);
        if parts.extensions.get::<SandboxListener>().is_some() {
            // The sandbox listener: a scoped token in `Authorization`, nothing else (no cookie).
            let raw = bearer(parts)?.ok_or_else(|| {
                ApiError(ErrorBody::new(
                    ErrorCode::MissingToken,
                    "send the frame's scoped token as `Authorization: Bearer <token>`",
                ))
            })?;
            let (caller, scope) = scoped_caller(&auth, &raw).await?;
            return Ok(GatewayCaller {
                caller,
                scope: Some(scope),
            });
        }
        let raw = credential(parts)?;
        let token = Token::parse(&raw).map_err(|_| invalid())?;
        match authenticate(&auth, &token).await {
            Ok(caller) => Ok(GatewayCaller {
                caller,
                scope: None,
            }),
            Err(ApiError(e)) if e.code == ErrorCode::ScopedToken => {
                let (session, scope) = auth
                    .sessions
                    .verify_scoped(&token)
                    .await?
                    .ok_or_else(invalid)?;
                Ok(GatewayCaller {
                    caller: user_caller(&auth, session).await?,
                    scope: Some(scope),
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// The user behind a scoped token (and only a scoped one), with the prefix it is scoped to: the UI
/// sandbox listener's only credential.
pub async fn scoped_caller(auth: &Auth, raw: &str) -> Result<(Caller, String), ApiError> {
    let token = Token::parse(raw).map_err(|_| invalid())?;
    // Unknown (an API key, or a token whose session ended): invalid; a session's own: the wrong kind.
    let (session, scope) = auth
        .sessions
        .verify_scoped(&token)
        .await?
        .ok_or_else(invalid)?;
    Ok((user_caller(auth, session).await?, scope))
}

/// The user of a live session.
async fn user_caller(auth: &Auth, session: Arc<SessionRecord>) -> Result<Caller, ApiError> {
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
    Ok(Caller::User {
        user,
        grants,
        session,
    })
}

/// An API key or a session (or an unscoped child token of one); a scoped token is refused.
async fn authenticate(auth: &Auth, token: &Token) -> Result<Caller, ApiError> {
    // Which kind of credential: from memory when a mirror holds it; only a bearer neither
    // mirror knows (new in another process, or invalid) costs a NATS read here.
    let id = &token.key_id;
    let key = match auth.keys.cached(id) {
        Some(found) => Some(found),
        None if auth.sessions.is_cached(id) => None,
        None => auth.keys.lookup(id).await.map_err(ApiError::from)?,
    };
    if let Some((record, revision)) = key {
        KeyStore::check(token, &record)?;
        if record.kind != KeyKind::ApiKey {
            return Err(ErrorBody::new(
                ErrorCode::WrongTokenKind,
                "a registration token cannot call this API",
            )
            .with_hint("use the permanent token the extension provisioned, or create an API key")
            .into());
        }
        auth.keys.touch(&record, revision);
        return Ok(Caller::Key(record));
    }
    let session = auth.sessions.verify(token).await?.ok_or_else(invalid)?;
    user_caller(auth, session).await
}

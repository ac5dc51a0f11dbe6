//! Sign-in: `POST /api/v1/login`, `POST /api/v1/logout`, `GET /api/v1/userinfo`, and the browser's
//! short-lived credentials `GET /api/v1/usertoken` (NATS JWT and an HTTP bearer of the session) and
//! `POST /api/v1/usertoken/scoped` (the same, scoped to one extension, for its UI frames).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nkeys::KeyPair;
use serde_json::json;
use symphony_protocol::messages::SymphonyInfo;
use symphony_protocol::names::{validate_prefix, validate_username};
use symphony_protocol::rest::{
    LoginReply, LoginRequest, ScopedToken, ScopedTokenRequest, UserToken,
};
use symphony_protocol::time::{now_unix, rfc3339};
use symphony_protocol::{ErrorBody, ErrorCode};

use crate::auth::Auth;
use crate::auth::audit::{AuditAction, event};
use crate::auth::policy::Caller;
use crate::auth::sessions::CAS_ATTEMPTS;
use crate::auth::users::{dummy_hash, verify_password};
use crate::http::typed::Json;
use crate::http::{ApiError, Authenticated, SESSION_COOKIE};
use crate::identity::Account;
use crate::registry::Registry;

/// Lifetime of browser NATS credentials; the UI renews them before they expire.
pub const USER_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Most browser NATS credentials a session remembers (to revoke them at logout): the shell's own
/// and one per extension with open UI frames, renewed every 10 minutes, each living 15.
const MAX_BROWSER_NKEYS: usize = 64;

fn invalid_credentials() -> ApiError {
    // Never says whether the user exists.
    ErrorBody::new(ErrorCode::InvalidCredentials, "wrong username or password").into()
}

/// A `429 too_many_attempts` with `Retry-After`.
fn throttled(body: ErrorBody, wait: i64) -> Response {
    let mut response = ApiError(body.with_hint(format!("wait {wait} s"))).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
    response
}

fn cookie(info: &SymphonyInfo, value: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if info.origin.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let age = max_age.map_or("; Max-Age=0".to_owned(), |a| format!("; Max-Age={a}"));
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"
    ))
    .expect("cookie is ASCII")
}

pub async fn login(
    State(auth): State<Arc<Auth>>,
    State(info): State<Arc<SymphonyInfo>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    // Before the name reaches a KV key (a failure counter, the users bucket). A reserved name
    // (`cli`) never signs in.
    validate_username(&req.username)?;
    let address = peer.ip().to_string();
    // Only a locked account refuses before the password is checked (see `Throttle`).
    if let Err((body, wait)) = auth.throttle.check(&req.username, &address).await {
        return Ok(throttled(body, wait));
    }
    let user = auth.users.get(&req.username).await?;
    let user = user.filter(|u| !u.disabled && !u.password_hash.is_empty());
    let hash = user
        .as_ref()
        .map_or(dummy_hash(), |u| u.password_hash.as_str());
    let password = req.password.clone();
    let hash_owned = hash.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash_owned))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| ok) else {
        let counted = auth.throttle.failed(&req.username, &address).await?;
        auth.audit
            .record(event(AuditAction::LoginFailed, &req.username, "").at(&address))
            .await;
        return match counted {
            Ok(()) => Err(invalid_credentials()),
            Err((body, wait)) => Ok(throttled(body, wait)),
        };
    };
    let (session, token) = auth.sessions.create(&user.username, &info.origin).await?;
    auth.audit
        .record(event(AuditAction::Login, &user.username, "").at(&address))
        .await;
    let token = token.encode();
    let reply = LoginReply {
        token: token.clone(),
        username: user.username.clone(),
        roles: user.roles.clone(),
        idle_timeout_secs: session.idle_timeout_secs,
    };
    let mut response = Json(reply).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&info, &token, Some(auth.sessions.lifetime.as_secs())),
    );
    Ok(response)
}

pub async fn logout(
    State(auth): State<Arc<Auth>>,
    State(info): State<Arc<SymphonyInfo>>,
    Authenticated(caller): Authenticated,
) -> Result<Response, ApiError> {
    let (user, _, session) = caller.session("only a signed-in user can sign out")?;

    // The final record: every browser credential issued before the end (none can be after it).
    let Some(ended) = auth.sessions.end(&session.id).await? else {
        return Err(crate::auth::sessions::expired().into());
    };
    // Browser credentials live USER_TOKEN_LIFETIME at most; their revocations are pruned after that.
    let until = now_unix() + USER_TOKEN_LIFETIME.as_secs() as i64 + 60;
    for nkey in &ended.browser_nkeys {
        auth.revocations
            .revoke_until(&auth.identity, &Account::Clients, nkey, until)
            .await?;
    }
    auth.sync_accounts().await?;
    auth.audit
        .record(event(AuditAction::Logout, &user.username, ""))
        .await;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&info, "", None));
    Ok(response)
}

pub async fn userinfo(
    State(auth): State<Arc<Auth>>,
    Authenticated(caller): Authenticated,
) -> Json<serde_json::Value> {
    Json(match &caller {
        Caller::User {
            user,
            grants,
            session,
        } => json!({
            "kind": "user", "username": user.username, "display_name": user.display_name,
            "roles": user.roles, "admin": grants.admin, "extensions": grants.extensions,
            "pub": grants.publish, "sub": grants.subscribe, "source": user.source,
            "idle_timeout_secs": session.idle_timeout_secs,
            "session_ends_at": rfc3339(auth.sessions.ends_at(session)),
        }),
        Caller::Key(k) => json!({
            "kind": "api_key", "id": k.id, "name": k.name, "owner": k.owner(), "prefix": k.prefix,
            "capabilities": symphony_protocol::capability::CapabilitySummary::of(&k.capabilities),
        }),
    })
}

/// Browser credentials: NATS (a fresh nkey per call, the user's role permissions) and an HTTP bearer
/// that acts as the session, both with the same short expiry.
pub async fn usertoken(
    State(auth): State<Arc<Auth>>,
    State(info): State<Arc<SymphonyInfo>>,
    Authenticated(caller): Authenticated,
) -> Result<Json<UserToken>, ApiError> {
    let (user, grants, session) = caller.session("browser credentials are for signed-in users")?;

    let nkey = KeyPair::new_user();
    let inbox = format!("_INBOX_user.{}", session.id);
    let permissions = grants.browser_permissions(&inbox);
    let exp = browser_expiry(&auth, session);
    let jti = format!("user-{}", session.id);
    let jwt = auth.identity.user_jwt(
        &Account::Clients,
        &nkey,
        &jti,
        &user.username,
        Some(exp),
        &permissions,
    )?;
    let bearer = issue_child(&auth, &session.id, &info.origin, exp, None, &nkey).await?;
    auth.audit
        .record(event(
            AuditAction::UserTokenIssued,
            &user.username,
            &format!("session:{}", session.id),
        ))
        .await;
    Ok(Json(UserToken {
        token: bearer.encode(),
        jwt,
        seed: nkey.seed().map_err(anyhow::Error::from)?,
        websocket_url: info.websocket_url.clone(),
        inbox_prefix: inbox,
        expires_at: rfc3339(exp),
        renew_after_secs: USER_TOKEN_LIFETIME.as_secs() * 2 / 3,
    }))
}

/// When browser credentials issued now expire: after [`USER_TOKEN_LIFETIME`], never past the
/// session's absolute lifetime.
fn browser_expiry(auth: &Auth, session: &crate::auth::sessions::SessionRecord) -> i64 {
    (now_unix() + USER_TOKEN_LIFETIME.as_secs() as i64).min(auth.sessions.ends_at(session))
}

/// Records a new child token (scoped to `scope` when given) and the browser nkey in session `id`
/// with a compare-and-swap, retried when another request wrote the session first: once the session
/// has ended nothing is issued, so logout revokes all it handed out.
async fn issue_child(
    auth: &Auth,
    id: &symphony_protocol::KeyId,
    origin: &str,
    exp: i64,
    scope: Option<&str>,
    nkey: &KeyPair,
) -> Result<symphony_protocol::Token, ApiError> {
    for _ in 0..CAS_ATTEMPTS {
        let current = auth.sessions.current(id).await?;
        let (mut session, revision) = ((*current.value).clone(), current.revision);
        remember_nkey(&mut session, nkey);
        let bearer = auth
            .sessions
            .create_scoped_child(&mut session, origin, exp, scope)
            .await?;
        if auth.sessions.put_at(&session, revision).await? {
            return Ok(bearer);
        }
        auth.sessions.discard(&bearer.key_id).await?;
    }
    Err(ErrorBody::new(
        ErrorCode::NatsUnavailable,
        "the session kept changing; browser credentials were not issued",
    )
    .with_hint("try again")
    .into())
}

/// Records browser NATS credentials in the session, so logout revokes them.
fn remember_nkey(session: &mut crate::auth::sessions::SessionRecord, nkey: &KeyPair) {
    session.browser_nkeys.push(nkey.public_key());
    let keep = session
        .browser_nkeys
        .len()
        .saturating_sub(MAX_BROWSER_NKEYS);
    session.browser_nkeys.drain(..keep);
}

/// Credentials for the UI frames of one extension (docs/ui.md "Trust"): a bearer only that
/// extension's gateway routes accept, and NATS credentials limited to its subjects within the
/// user's roles, both ending with the session. Only the session itself (its cookie or bearer) may
/// ask: a scoped token is refused by the extractor, an API key here.
pub async fn usertoken_scoped(
    State(auth): State<Arc<Auth>>,
    State(info): State<Arc<SymphonyInfo>>,
    State(registry): State<Arc<Registry>>,
    Authenticated(caller): Authenticated,
    Json(req): Json<ScopedTokenRequest>,
) -> Result<Json<ScopedToken>, ApiError> {
    let (user, grants, session) =
        caller.session("extension frame credentials are for signed-in users")?;
    let prefix = req.prefix;
    validate_prefix(&prefix)?;
    let registered = grants.shows(&prefix) && registry.current_record(&prefix).await?.is_some();
    if !registered {
        return Err(ErrorBody::new(
            ErrorCode::ExtensionNotFound,
            format!("no extension with prefix {prefix:?} is registered"),
        )
        .into());
    }

    let exp = browser_expiry(&auth, session);
    let nkey = KeyPair::new_user();
    let bearer = issue_child(&auth, &session.id, &info.origin, exp, Some(&prefix), &nkey).await?;
    let inbox = format!("_INBOX_ui.{}", bearer.key_id);
    let permissions = grants.scoped_browser_permissions(&prefix, &inbox);
    let jwt = auth.identity.user_jwt(
        &Account::Clients,
        &nkey,
        &format!("ui-{}", bearer.key_id),
        &user.username,
        Some(exp),
        &permissions,
    )?;
    Ok(Json(ScopedToken {
        prefix,
        token: bearer.encode(),
        jwt,
        seed: nkey.seed().map_err(anyhow::Error::from)?,
        websocket_url: info.websocket_url.clone(),
        inbox_prefix: inbox,
        expires_at: rfc3339(exp),
        renew_after_secs: USER_TOKEN_LIFETIME.as_secs() * 2 / 3,
    }))
}

//! Administration of users and roles, and the audit trail (`/api/v1/users`, `/api/v1/roles`,
//! `/api/v1/audit`). Everything but reading roles needs the `symphony-admin` role.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use symphony_protocol::names::{
    validate_prefix, validate_role_name, validate_username, validate_username_syntax,
};
use symphony_protocol::rbac::{Role, validate_role};
use symphony_protocol::rest::{CreateUser, ExtensionAccount, UpdateLimits, UpdateUser, UserView};
use symphony_protocol::time::now_rfc3339;
use symphony_protocol::{ErrorBody, ErrorCode};

use crate::auth::Auth;
use crate::auth::accounts::validate_limits;
use crate::auth::audit::{AuditAction, AuditEvent, event};
use crate::auth::users::{UserRecord, hash_password, validate_password};
use crate::http::typed::{Json, Path, Query};
use crate::http::{ApiError, Authenticated};

async fn check_roles(auth: &Auth, roles: &[String]) -> Result<(), ApiError> {
    let known = auth.roles.all().await?;
    match roles.iter().find(|r| !known.iter().any(|k| &k.name == *r)) {
        Some(r) => Err(ErrorBody::new(ErrorCode::RoleNotFound, format!("no role {r:?}")).into()),
        None => Ok(()),
    }
}

pub async fn list_users(
    State(auth): State<Arc<Auth>>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<UserView>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        auth.users
            .list()
            .await?
            .iter()
            .map(UserView::from)
            .collect(),
    ))
}

pub async fn create_user(
    State(auth): State<Arc<Auth>>,
    Authenticated(caller): Authenticated,
    Json(req): Json<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    caller.require_admin()?;
    validate_username(&req.username)?;
    validate_password(&req.password)?;
    let roles = if req.roles.is_empty() {
        vec![symphony_protocol::rbac::DEFAULT_ROLE.to_owned()]
    } else {
        req.roles
    };
    check_roles(&auth, &roles).await?;
    let password = req.password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(anyhow::Error::from)??;
    let user = UserRecord {
        username: req.username,
        display_name: req.display_name,
        password_hash: hash,
        roles,
        source: "local".into(),
        disabled: false,
        created_at: now_rfc3339(),
    };
    if !auth.users.create(&user).await? {
        return Err(ErrorBody::new(
            ErrorCode::AlreadyExists,
            format!("user {:?} exists", user.username),
        )
        .into());
    }
    auth.audit
        .record(event(
            AuditAction::UserCreated,
            &caller.actor(),
            &user.username,
        ))
        .await;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

pub async fn update_user(
    State(auth): State<Arc<Auth>>,
    Authenticated(caller): Authenticated,
    Path(username): Path<String>,
    Json(req): Json<UpdateUser>,
) -> Result<Json<UserView>, ApiError> {
    caller.require_admin()?;
    validate_username_syntax(&username)?;
    let users = &auth.users;
    let mut user = users
        .get(&username)
        .await?
        .ok_or_else(|| ErrorBody::new(ErrorCode::UserNotFound, format!("no user {username:?}")))?;
    if let Some(p) = req.password {
        validate_password(&p)?;
        user.password_hash = tokio::task::spawn_blocking(move || hash_password(&p))
            .await
            .map_err(anyhow::Error::from)??;
    }
    if let Some(d) = req.display_name {
        user.display_name = d;
    }
    if let Some(roles) = req.roles {
        check_roles(&auth, &roles).await?;
        user.roles = roles;
    }
    if let Some(d) = req.disabled {
        user.disabled = d;
    }
    users.put(&user).await?;
    auth.audit
        .record(event(
            AuditAction::UserUpdated,
            &caller.actor(),
            &user.username,
        ))
        .await;
    Ok(Json(UserView::from(&user)))
}

pub async fn delete_user(
    State(auth): State<Arc<Auth>>,
    Authenticated(caller): Authenticated,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    validate_username_syntax(&username)?;
    if caller.actor() == username {
        return Err(ErrorBody::new(ErrorCode::InvalidRequest, "you cannot delete yourself").into());
    }
    let auth = auth;
    auth.users.delete(&username).await?;
    // A deleted user's keys and registration tokens go with them (nats-server drops their connections).
    let mut revoked = 0;
    for key in auth
        .keys
        .list()
        .await?
        .into_iter()
        .filter(|k| k.owner == username && !k.revoked)
    {
        let revoke = |record: &mut crate::auth::keys::KeyRecord| {
            record.revoked = true;
            Ok::<_, ApiError>(())
        };
        let Some(key) = auth.keys.modify(&key.id, revoke).await? else {
            continue;
        };
        auth.revoke_key_user(&key).await?;
        revoked += 1;
    }
    let event = event(AuditAction::UserDeleted, &caller.actor(), &username)
        .detail(format!("{revoked} keys revoked"));
    auth.audit.record(event).await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_roles(
    State(auth): State<Arc<Auth>>,
    Authenticated(_caller): Authenticated,
) -> Result<Json<Vec<Role>>, ApiError> {
    Ok(Json(auth.roles.all().await?))
}

pub async fn put_role(
    State(auth): State<Arc<Auth>>,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    Json(mut role): Json<Role>,
) -> Result<Json<Role>, ApiError> {
    caller.require_admin()?;
    role.name = name;
    role.builtin = false;
    validate_role(&role)?;
    let roles = &auth.roles;
    if roles.get(&role.name).await?.is_some_and(|r| r.builtin) {
        return Err(ErrorBody::new(
            ErrorCode::Forbidden,
            format!("{:?} is a built-in role", role.name),
        )
        .into());
    }
    roles.put(&role).await?;
    auth.audit
        .record(event(AuditAction::RoleUpdated, &caller.actor(), &role.name))
        .await;
    Ok(Json(role))
}

pub async fn delete_role(
    State(auth): State<Arc<Auth>>,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    validate_role_name(&name)?;
    let roles = &auth.roles;
    match roles.get(&name).await? {
        None => {
            return Err(
                ErrorBody::new(ErrorCode::RoleNotFound, format!("no role {name:?}")).into(),
            );
        }
        Some(r) if r.builtin => {
            return Err(ErrorBody::new(
                ErrorCode::Forbidden,
                format!("{name:?} is a built-in role"),
            )
            .into());
        }
        Some(_) => roles.delete(&name).await?,
    }
    auth.audit
        .record(event(AuditAction::RoleDeleted, &caller.actor(), &name))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub limit: Option<usize>,
}

pub async fn audit(
    State(auth): State<Arc<Auth>>,
    Authenticated(caller): Authenticated,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        auth.audit.recent(q.limit.unwrap_or(100).min(1000)).await?,
    ))
}

fn no_account(prefix: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::ExtensionNotFound,
        format!("extension {prefix:?} has no account"),
    )
}

/// `GET /api/v1/extensions/{prefix}/account`: owner and JetStream limits of an extension account,
/// for whoever sees the extension.
pub async fn extension_account(
    State(auth): State<Arc<Auth>>,
    Authenticated(caller): Authenticated,
    Path(prefix): Path<String>,
) -> Result<Json<ExtensionAccount>, ApiError> {
    validate_prefix(&prefix)?;
    if !caller.sees(&prefix) {
        return Err(no_account(&prefix).into());
    }
    let account = auth
        .accounts
        .get(&prefix)
        .await?
        .ok_or_else(|| no_account(&prefix))?;
    Ok(Json(account))
}

/// `PUT /api/v1/extensions/{prefix}/limits` (administrators): new JetStream limits, applied to the
/// running account at once.
pub async fn set_limits(
    State(auth): State<Arc<Auth>>,
    Authenticated(caller): Authenticated,
    Path(prefix): Path<String>,
    Json(limits): Json<UpdateLimits>,
) -> Result<Json<ExtensionAccount>, ApiError> {
    caller.require_admin()?;
    validate_prefix(&prefix)?;
    validate_limits(&limits)?;
    let account = auth.accounts.set_limits(&prefix, limits).await?;
    auth.sync_accounts().await?;
    let detail = format!(
        "disk {} mem {} streams {} consumers {}",
        limits.disk_storage, limits.mem_storage, limits.streams, limits.consumer
    );
    auth.audit
        .record(
            event(
                AuditAction::LimitsChanged,
                &caller.actor(),
                &format!("extension:{prefix}"),
            )
            .detail(detail),
        )
        .await;
    Ok(Json(account))
}

//! API-key administration by signed-in users: create, list, update, revoke (`/api/v1/keys`,
//! `/api/v1/key/{id}`). Keys are bounded by their owner's roles; revocation is enforced by nats-server.

use std::collections::HashMap;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use symphony_protocol::capability::{Capability, CapabilitySummary};
use symphony_protocol::messages::{KeyKind, SymphonyInfo};
use symphony_protocol::time::{now_unix, rfc3339};
use symphony_protocol::{ErrorBody, ErrorCode, KeyId};

use crate::auth::Auth;
use crate::auth::audit::AuditEvent;
use crate::auth::issue::Issuer;
use crate::auth::keys::{KeyRecord, NewKey};
use crate::http::{ApiError, Authenticated};
use crate::registry::Registry;

/// A capability in either the JSON form or the CLI form `pub:extensions.x.y`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CapabilityInput {
    Full(Capability),
    Short(String),
}

impl CapabilityInput {
    fn parse(self) -> Result<Capability, ErrorBody> {
        match self {
            CapabilityInput::Full(c) => Ok(c),
            CapabilityInput::Short(s) => Capability::parse_cli(&s),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CreateKey {
    pub name: String,
    /// A single-use registration token instead of an API key.
    #[serde(default)]
    pub registration: bool,
    #[serde(default)]
    pub capabilities: Vec<CapabilityInput>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub buckets: Vec<String>,
    /// Lifetime such as `24h` or `30d`; registration tokens default to 24 h, API keys to none.
    #[serde(default)]
    pub expires_in: Option<String>,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Serialize)]
pub struct CreatedKey {
    pub id: KeyId,
    pub kind: KeyKind,
    pub name: String,
    pub token: String,
    pub expires_at: Option<String>,
}

/// What the list shows of a key.
#[derive(Debug, Serialize)]
pub struct KeyView {
    pub id: KeyId,
    pub name: String,
    pub kind: KeyKind,
    pub owner: String,
    pub prefix: Option<String>,
    pub capabilities: CapabilitySummary,
    pub buckets: Vec<String>,
    pub notes: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used: Option<String>,
    pub revoked: bool,
    pub used: bool,
    pub connected_instances: usize,
}

fn view(k: &KeyRecord, connected: &HashMap<String, usize>) -> KeyView {
    KeyView {
        id: k.id.clone(),
        name: k.name.clone(),
        kind: k.kind,
        owner: k.owner().to_owned(),
        prefix: k.prefix.clone(),
        capabilities: CapabilitySummary::of(&k.capabilities),
        buckets: k.buckets.clone(),
        notes: k.notes.clone(),
        created_at: k.created_at.clone(),
        expires_at: k.expires_at.map(rfc3339),
        last_used: k.last_used.map(rfc3339),
        revoked: k.revoked,
        used: k.consumed_by.is_some(),
        connected_instances: connected.get(k.id.as_str()).copied().unwrap_or(0),
    }
}

fn parse_lifetime(s: &str) -> Result<i64, ErrorBody> {
    humantime::parse_duration(s)
        .map(|d| now_unix() + d.as_secs().max(1) as i64)
        .map_err(|e| {
            ErrorBody::new(ErrorCode::InvalidRequest, format!("expires_in {s:?}: {e}"))
                .with_hint("for example 24h or 30d")
        })
}

pub async fn create(
    State(auth): State<Arc<Auth>>,
    State(info): State<Arc<SymphonyInfo>>,
    Authenticated(caller): Authenticated,
    Json(req): Json<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let (user, grants) = caller.require_user()?;
    let capabilities = req
        .capabilities
        .into_iter()
        .map(CapabilityInput::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let kind = if req.registration {
        KeyKind::Registration
    } else {
        KeyKind::ApiKey
    };
    let expires_at = match (&req.expires_in, kind) {
        (Some(s), _) => Some(parse_lifetime(s)?),
        (None, KeyKind::Registration) => Some(parse_lifetime("24h")?),
        (None, KeyKind::ApiKey) => None,
    };
    let new = NewKey {
        kind,
        name: req.name.clone(),
        prefix: if req.registration { None } else { req.prefix },
        capabilities: if req.registration {
            vec![]
        } else {
            capabilities
        },
        buckets: if req.registration {
            vec![]
        } else {
            req.buckets
        },
        expires_at,
        notes: req.notes,
    };
    let issuer = Issuer::User {
        username: &user.username,
        grants,
    };
    let (record, token) = auth.issue(issuer, new, &info.origin).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            id: record.id,
            kind,
            name: record.name,
            token: token.encode(),
            expires_at: record.expires_at.map(rfc3339),
        }),
    ))
}

pub async fn list(
    State(auth): State<Arc<Auth>>,
    State(registry): State<Arc<Registry>>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    caller.require_user()?;
    let keys = auth.keys.list().await?;
    let connected = registry.connected_instances().await?;
    Ok(Json(
        keys.iter()
            .filter(|k| caller.may_manage(k))
            .map(|k| view(k, &connected))
            .collect(),
    ))
}

async fn managed(
    auth: &Auth,
    caller: &crate::auth::policy::Caller,
    id: &str,
) -> Result<KeyRecord, ApiError> {
    caller.require_user()?;
    let not_found = || ErrorBody::new(ErrorCode::KeyNotFound, format!("no key {id:?}"));
    let id = KeyId::parse(id).map_err(|_| not_found())?;
    let (record, _) = auth.keys.get(&id).await?.ok_or_else(not_found)?;
    if !caller.may_manage(&record) {
        return Err(not_found().into());
    }
    Ok(record)
}

#[derive(Debug, Deserialize)]
pub struct UpdateKey {
    #[serde(default)]
    pub notes: Option<String>,
    /// A new lifetime from now (`30d`), or `"never"`.
    #[serde(default)]
    pub expires_in: Option<String>,
    #[serde(default)]
    pub capabilities: Option<Vec<CapabilityInput>>,
}

pub async fn update(
    State(auth): State<Arc<Auth>>,
    State(registry): State<Arc<Registry>>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Json(req): Json<UpdateKey>,
) -> Result<Json<KeyView>, ApiError> {
    let mut record = managed(&auth, &caller, &id).await?;
    let auth = auth;
    if let Some(notes) = req.notes {
        record.notes = notes;
    }
    match req.expires_in.as_deref() {
        Some("never") => record.expires_at = None,
        Some(s) => record.expires_at = Some(parse_lifetime(s)?),
        None => {}
    }
    if let Some(caps) = req.capabilities {
        let caps = caps
            .into_iter()
            .map(CapabilityInput::parse)
            .collect::<Result<Vec<_>, _>>()?;
        for c in &caps {
            c.validate_for(record.prefix.as_deref())?;
        }
        let grants = auth.owner_grants(&record.owner).await?;
        crate::auth::policy::check_bounded(grants.as_ref(), record.prefix.as_deref(), &caps)?;
        record.capabilities = caps;
    }
    auth.keys.put(&record).await?;
    auth.audit
        .record(AuditEvent::new(
            "key_updated",
            &caller.actor(),
            &format!("key:{}", record.id),
        ))
        .await;
    let connected = registry.connected_instances().await?;
    Ok(Json(view(&record, &connected)))
}

pub async fn revoke(
    State(auth): State<Arc<Auth>>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut record = managed(&auth, &caller, &id).await?;
    let auth = auth;
    record.revoked = true;
    auth.keys.put(&record).await?;
    let nkey = auth.identity.user_keypair(&record.id)?;
    auth.revocations.revoke(&nkey.public_key()).await?;
    auth.audit
        .record(AuditEvent::new(
            "key_revoked",
            &caller.actor(),
            &format!("key:{}", record.id),
        ))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

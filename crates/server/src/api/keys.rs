//! API-key administration by signed-in users: create, list, update, revoke (`/api/v1/keys`,
//! `/api/v1/key/{id}`). Keys are bounded by their owner's roles; revocation is enforced by nats-server.

use std::collections::HashMap;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use symphony_protocol::capability::{Capability, CapabilityKind, CapabilitySummary};
use symphony_protocol::messages::{KeyKind, SymphonyInfo};
use symphony_protocol::rest::{CapabilityInput, CreateKey, CreatedKey, KeyView, UpdateKey};
use symphony_protocol::time::{now_unix, rfc3339};
use symphony_protocol::{ErrorBody, ErrorCode, KeyId};

use crate::auth::Auth;
use crate::auth::audit::{AuditAction, event};
use crate::auth::issue::Issuer;
use crate::auth::keys::{KeyRecord, NewKey};
use crate::http::typed::{Json, Path};
use crate::http::{ApiError, Authenticated};
use crate::registry::Registry;

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
        prefix: req.prefix,
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

pub async fn update(
    State(auth): State<Arc<Auth>>,
    State(registry): State<Arc<Registry>>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Json(req): Json<UpdateKey>,
) -> Result<Json<KeyView>, ApiError> {
    let current = managed(&auth, &caller, &id).await?;
    let expires_at = match req.expires_in.as_deref() {
        Some("never") => Some(None),
        Some(s) => Some(Some(parse_lifetime(s)?)),
        None => None,
    };
    let capabilities = match req.capabilities {
        Some(caps) => {
            let caps = caps
                .into_iter()
                .map(CapabilityInput::parse)
                .collect::<Result<Vec<_>, _>>()?;
            for c in &caps {
                c.validate_for(current.prefix.as_deref())?;
            }
            let grants = auth.owner_grants(&current.owner).await?;
            crate::auth::policy::check_bounded(grants.as_ref(), current.prefix.as_deref(), &caps)?;
            Some(caps)
        }
        None => None,
    };
    // Compare-and-swap on the latest record: an edit racing a revocation leaves the key revoked.
    let mut previous = None;
    let record = auth
        .keys
        .modify(&current.id, |record| {
            previous = Some(record.clone());
            if let Some(notes) = &req.notes {
                record.notes = notes.clone();
            }
            if let Some(expires_at) = expires_at {
                record.expires_at = expires_at;
            }
            if let Some(caps) = &capabilities {
                record.capabilities = caps.clone();
            }
            Ok::<_, ApiError>(())
        })
        .await?
        .ok_or_else(|| ErrorBody::new(ErrorCode::KeyNotFound, format!("no key {id:?}")))?;
    let changed = previous
        .as_ref()
        .map(|p| key_changes(p, &record))
        .unwrap_or_default();
    let before = previous.map(|p| p.capabilities).unwrap_or_default();
    if record.capabilities != before && record.check_usable(now_unix()).is_ok() {
        // Live connections get the new permissions: their JWTs are revoked, the SDKs exchange the
        // token again (this also pushes the accounts' imports).
        auth.reissue_key_user(&record).await?;
    } else {
        auth.sync_accounts().await?;
    }
    auth.audit
        .record(
            event(
                AuditAction::KeyUpdated,
                &caller.actor(),
                &format!("key:{}", record.id),
            )
            .detail(if changed.is_empty() {
                "nothing changed".to_owned()
            } else {
                changed.join("; ")
            }),
        )
        .await;
    let connected = registry.connected_instances().await?;
    Ok(Json(view(&record, &connected)))
}

fn capability_text(c: &Capability) -> String {
    let kind = match c.kind {
        CapabilityKind::Pub => "pub",
        CapabilityKind::Sub => "sub",
    };
    format!("{kind}:{}", c.subject)
}

/// What an edit changed, for the audit trail: capabilities added and removed, the expiry, the notes
/// (their length only: notes are free text).
fn key_changes(before: &KeyRecord, after: &KeyRecord) -> Vec<String> {
    let mut out = Vec::new();
    let names =
        |r: &KeyRecord| -> Vec<String> { r.capabilities.iter().map(capability_text).collect() };
    let (old, new) = (names(before), names(after));
    let added: Vec<&String> = new.iter().filter(|c| !old.contains(c)).collect();
    let removed: Vec<&String> = old.iter().filter(|c| !new.contains(c)).collect();
    if !added.is_empty() || !removed.is_empty() {
        let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        out.push(format!(
            "capabilities: added [{}], removed [{}]",
            list(&added),
            list(&removed)
        ));
    }
    if before.expires_at != after.expires_at {
        let when = |t: Option<i64>| t.map_or("never".to_owned(), rfc3339);
        out.push(format!(
            "expires: {} -> {}",
            when(before.expires_at),
            when(after.expires_at)
        ));
    }
    if before.notes != after.notes {
        out.push(format!("notes: {} characters", after.notes.chars().count()));
    }
    out
}

pub async fn revoke(
    State(auth): State<Arc<Auth>>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let current = managed(&auth, &caller, &id).await?;
    let record = auth
        .keys
        .modify(&current.id, |record| {
            record.revoked = true;
            Ok::<_, ApiError>(())
        })
        .await?
        .ok_or_else(|| ErrorBody::new(ErrorCode::KeyNotFound, format!("no key {id:?}")))?;
    auth.revoke_key_user(&record).await?;
    auth.audit
        .record(event(
            AuditAction::KeyRevoked,
            &caller.actor(),
            &format!("key:{}", record.id),
        ))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

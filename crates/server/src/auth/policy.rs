//! Who is calling and what they may do: the one place that decides. API keys are bounded by their
//! capabilities (exactly what nats-server enforces); users by the union of their roles.

use std::sync::Arc;

use symphony_protocol::capability::Capability;
use symphony_protocol::messages::KeyKind;
use symphony_protocol::rbac::Grants;
use symphony_protocol::{ErrorBody, ErrorCode};

use super::keys::KeyRecord;
use super::sessions::SessionRecord;
use super::users::UserRecord;

/// The owner recorded on keys the bootstrap CLI creates; it acts as an administrator.
pub const CLI_OWNER: &str = "cli";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    Key(Arc<KeyRecord>),
    User {
        /// Shared with the mirror: a signed-in request copies neither record.
        user: Arc<UserRecord>,
        grants: Grants,
        session: Arc<SessionRecord>,
    },
}

fn forbidden(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::Forbidden, message)
}

impl Caller {
    /// `username` or `key:<id>`, for logs and the audit trail.
    pub fn actor(&self) -> String {
        match self {
            Caller::Key(k) => format!("key:{}", k.id),
            Caller::User { user, .. } => user.username.clone(),
        }
    }

    /// The `Symphony-Caller` header: the key id for API keys, `user:<name>` for users.
    pub fn caller_header(&self) -> String {
        match self {
            Caller::Key(k) => k.id.to_string(),
            Caller::User { user, .. } => format!("user:{}", user.username),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Caller::User { grants, .. } if grants.admin)
    }

    pub fn require_admin(&self) -> Result<(), ErrorBody> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(forbidden("this needs the symphony-admin role"))
        }
    }

    /// The signed-in user, for user-only operations (keys, browser credentials).
    pub fn require_user(&self) -> Result<(&UserRecord, &Grants), ErrorBody> {
        match self {
            Caller::User { user, grants, .. } => Ok((user.as_ref(), grants)),
            Caller::Key(_) => Err(ErrorBody::new(
                ErrorCode::WrongTokenKind,
                "this needs a signed-in user, not an API key",
            )
            .with_hint("sign in with POST /api/v1/login or `symphony login`")),
        }
    }

    /// May this caller call the endpoint `subject` of extension `prefix` through the gateway?
    pub fn may_call(&self, prefix: &str, subject: &str) -> Result<(), ErrorBody> {
        let allowed = match self {
            Caller::Key(k) => k.kind == KeyKind::ApiKey && k.permissions().allows_publish(subject),
            Caller::User { grants, .. } => grants.shows(prefix) && grants.may_publish(subject),
        };
        if allowed {
            return Ok(());
        }
        let cap = subject.trim_start_matches("cirata.");
        Err(
            forbidden(format!("you may not call {subject}")).with_hint(format!(
                "a key needs the capability pub:{cap}; a user needs a role that grants it"
            )),
        )
    }

    /// May this caller see extension `prefix`?
    pub fn sees(&self, prefix: &str) -> bool {
        match self {
            Caller::Key(_) => true,
            Caller::User { grants, .. } => grants.shows(prefix),
        }
    }

    /// May this caller manage (list, change, revoke) `key`?
    pub fn may_manage(&self, key: &KeyRecord) -> bool {
        match self {
            Caller::User { user, grants, .. } => grants.admin || key.owner() == user.username,
            Caller::Key(_) => false,
        }
    }
}

/// A key created, or provisioned through a registration token, by `owner` must lie within the owner's
/// roles: its capabilities, and the prefix it is bound to (which brings that extension's buckets,
/// registration and instance subjects). The bootstrap CLI is an administrator.
pub fn check_bounded(
    owner_grants: Option<&Grants>,
    prefix: Option<&str>,
    capabilities: &[Capability],
) -> Result<(), ErrorBody> {
    let Some(g) = owner_grants else { return Ok(()) };
    g.check(capabilities)?;
    match prefix {
        Some(p) => g.check_binding(p),
        None => Ok(()),
    }
}

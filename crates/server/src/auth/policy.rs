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

/// How keys the bootstrap CLI created show their owner (and the CLI appears in the audit trail).
/// Such keys record an *empty* owner, which no username can equal; `cli` is a reserved username
/// (`symphony_protocol::names::RESERVED_USERNAMES`), and a user stored with that name before it
/// was reserved is an ordinary user: decisions compare the recorded owner, never this label.
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

    /// The signed-in user with their session, for what only a session may do; an API key is refused
    /// with `refusal` (what it may not do).
    pub fn session(
        &self,
        refusal: &str,
    ) -> Result<(&UserRecord, &Grants, &Arc<SessionRecord>), ErrorBody> {
        match self {
            Caller::User {
                user,
                grants,
                session,
            } => Ok((user.as_ref(), grants, session)),
            Caller::Key(_) => Err(ErrorBody::new(ErrorCode::WrongTokenKind, refusal)),
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
            // The recorded owner: empty for the CLI's keys, so no user (not even one named `cli`)
            // owns them.
            Caller::User { user, grants, .. } => grants.admin || key.owner == user.username,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(owner: &str) -> KeyRecord {
        serde_json::from_value(serde_json::json!({
            "id": symphony_protocol::KeyId::generate(), "kind": "api_key", "name": "k",
            "prefix": null, "secret_hash": "", "capabilities": [], "buckets": [],
            "created_at": "", "expires_at": null, "created_by": "cli", "consumed_by": null,
            "revoked": false, "owner": owner, "notes": "", "last_used": null,
        }))
        .expect("a key record")
    }

    fn user(name: &str, grants: Grants) -> Caller {
        let user: UserRecord = serde_json::from_value(serde_json::json!({
            "username": name, "roles": ["viewer"], "source": "local", "created_at": "",
        }))
        .expect("a user record");
        let session: SessionRecord = serde_json::from_value(serde_json::json!({
            "id": symphony_protocol::KeyId::generate(), "username": name, "secret_hash": "",
            "created_at": 0, "last_seen": 0, "idle_timeout_secs": 60,
        }))
        .expect("a session record");
        Caller::User {
            user: Arc::new(user),
            grants,
            session: Arc::new(session),
        }
    }

    #[test]
    fn a_user_named_cli_does_not_own_the_clis_keys() {
        let cli_key = key("");
        assert_eq!(cli_key.owner(), CLI_OWNER, "shown as the CLI's");
        let named_cli = user("cli", Grants::default());
        assert!(
            !named_cli.may_manage(&cli_key),
            "a user named cli is not the CLI"
        );
        assert!(
            named_cli.may_manage(&key("cli")),
            "their own keys are theirs"
        );
        assert!(!user("alice", Grants::default()).may_manage(&cli_key));
        let admin = Grants {
            admin: true,
            ..Grants::default()
        };
        assert!(user("alice", admin).may_manage(&cli_key));
    }
}

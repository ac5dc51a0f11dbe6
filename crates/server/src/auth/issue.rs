//! The one way a key comes to exist: validate → bound by the issuer's roles → create → consume
//! the registration token (provisioning) → audit. The REST API, provisioning over NATS and the
//! bootstrap CLI all call [`Auth::issue`].

use symphony_protocol::rbac::Grants;
use symphony_protocol::{ErrorBody, ErrorCode, Token};

use super::Auth;
use super::audit::{AuditAction, event};
use super::keys::{KeyRecord, NewKey};
use super::policy::{CLI_OWNER, check_bounded};
use crate::error::internal;

/// Who issues a key: their roles bound it, it is recorded as theirs, and the audit trail names them.
pub enum Issuer<'a> {
    /// A signed-in user (the REST API).
    User {
        username: &'a str,
        grants: &'a Grants,
    },
    /// A registration token provisioning its extension's permanent key, read at `revision`; it
    /// is used up by the issue, atomically, and the key belongs to the token's owner.
    Registration { token: &'a KeyRecord, revision: u64 },
    /// The bootstrap CLI with the data dir (an administrator by possession of the instance keys).
    Cli,
}

impl Issuer<'_> {
    /// `created_by` and `owner` of the key.
    fn recorded_as(&self) -> (String, String) {
        match self {
            Issuer::User { username, .. } => ((*username).to_owned(), (*username).to_owned()),
            Issuer::Registration { token, .. } => {
                (format!("registration:{}", token.id), token.owner.clone())
            }
            Issuer::Cli => (CLI_OWNER.to_owned(), String::new()),
        }
    }

    /// The audit actor.
    fn actor(&self) -> String {
        match self {
            Issuer::User { username, .. } => (*username).to_owned(),
            Issuer::Registration { token, .. } => format!("key:{}", token.id),
            Issuer::Cli => CLI_OWNER.to_owned(),
        }
    }
}

impl Auth {
    /// Issues `new` on behalf of `issuer` and returns the key with its token (the only time the
    /// token exists in clear).
    pub async fn issue(
        &self,
        issuer: Issuer<'_>,
        new: NewKey,
        origin: &str,
    ) -> Result<(KeyRecord, Token), ErrorBody> {
        new.validate()?;
        let grants = match &issuer {
            Issuer::User { grants, .. } => Some((*grants).clone()),
            Issuer::Registration { token, .. } => self.owner_grants(&token.owner).await?,
            Issuer::Cli => None,
        };
        check_bounded(grants.as_ref(), new.prefix.as_deref(), &new.capabilities)?;
        let (created_by, owner) = issuer.recorded_as();
        let detail = new.prefix.as_ref().map(|p| format!("prefix {p}"));
        let (record, token) = self
            .keys
            .create(new, created_by, owner, origin)
            .await
            .map_err(internal)?;
        let action = match &issuer {
            Issuer::Registration { token, revision } => {
                self.consume_for(token, *revision, &record).await?;
                AuditAction::Provisioned
            }
            _ if record.kind == symphony_protocol::messages::KeyKind::Registration => {
                AuditAction::RegistrationTokenCreated
            }
            _ => AuditAction::KeyCreated,
        };
        let mut issued = event(action, &issuer.actor(), &format!("key:{}", record.id));
        if let Some(detail) = detail {
            issued = issued.detail(detail);
        }
        self.audit.record(issued).await;
        Ok((record, token))
    }

    /// Uses up `registration` for `key`; when another use won the race, `key` is withdrawn.
    async fn consume_for(
        &self,
        registration: &KeyRecord,
        revision: u64,
        key: &KeyRecord,
    ) -> Result<(), ErrorBody> {
        let consumed = self
            .keys
            .consume(registration, revision, &key.id)
            .await
            .map_err(internal)?;
        if consumed {
            return Ok(());
        }
        let _ = self.keys.delete(&key.id).await;
        Err(ErrorBody::new(
            ErrorCode::TokenUsed,
            "the registration token has already been used",
        ))
    }
}

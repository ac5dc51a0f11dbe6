//! The one way a key comes to exist: validate → bound by the issuer's roles → the prefix's account
//! (recorded for the first key of a prefix; for a later one the issuer must be entitled to it) →
//! create → consume the registration token (provisioning) → push the accounts → audit. The REST
//! API, provisioning over NATS and the bootstrap CLI all call [`Auth::issue`].

use symphony_protocol::messages::KeyKind;
use symphony_protocol::rbac::Grants;
use symphony_protocol::rest::ExtensionAccount;
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

/// Whether `issuer` may add a key to the existing extension account `account`. A user's roles
/// already had to cover the whole prefix (`check_bounded`), the CLI is an administrator, and a
/// registration token acts for its owner: it provisions the prefix it is bound to, or one its
/// owner owns. The refusal does not say who owns the prefix.
fn may_join(issuer: &Issuer<'_>, account: &ExtensionAccount) -> Result<(), ErrorBody> {
    let Issuer::Registration { token, .. } = issuer else {
        return Ok(());
    };
    if token.prefix.as_deref() == Some(account.prefix.as_str()) || token.owner == account.owner {
        return Ok(());
    }
    Err(ErrorBody::new(
        ErrorCode::PrefixOwned,
        format!("prefix {:?} belongs to another owner", account.prefix),
    )
    .with_hint(format!(
        "to add an instance of that extension, use a registration token bound to it \
         (`symphony token create --registration --prefix {}`, made by its owner or an administrator); \
         otherwise choose another prefix",
        account.prefix
    )))
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
        let mut detail = new.prefix.as_ref().map(|p| format!("prefix {p}"));
        if let (KeyKind::ApiKey, Some(prefix)) = (new.kind, new.prefix.as_deref()) {
            let (account, created) = self
                .ensure_extension_account(prefix, &owner, &issuer.actor())
                .await?;
            if !created {
                may_join(&issuer, &account)?;
                if account.owner != owner {
                    detail = Some(format!(
                        "prefix {prefix} (owned by {})",
                        if account.owner.is_empty() {
                            CLI_OWNER
                        } else {
                            &account.owner
                        }
                    ));
                }
            }
        }
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
            _ if record.kind == KeyKind::Registration => AuditAction::RegistrationTokenCreated,
            _ => AuditAction::KeyCreated,
        };
        // The key's account (and its imports) exist on nats-server before anyone holds the token.
        if let Err(e) = self.sync_accounts().await {
            let _ = self.keys.delete(&record.id).await;
            return Err(internal(e));
        }
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

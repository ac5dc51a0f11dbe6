//! API keys and registration keys: records in `symphony_keys`, token verification, the API-key
//! exchange, and the NATS permissions each key gets.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use symphony_protocol::capability::{self, Capability, CapabilitySummary, Permissions};
use symphony_protocol::messages::{ApiKey, KeyKind};
use symphony_protocol::time::{now_rfc3339, now_unix, rfc3339};
use symphony_protocol::{ErrorBody, ErrorCode, KeyId, Token, subjects};

use crate::bus::table::{Table, Versioned};
use crate::identity::{Account, Identity};

/// What `symphony_keys` stores under a key id. The token secret is only a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: KeyId,
    pub kind: KeyKind,
    pub name: String,
    pub prefix: Option<String>,
    pub secret_hash: String,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// The buckets the extension declared when the key was provisioned (informational: a key bound
    /// to a prefix reaches its extension account's whole JetStream).
    #[serde(default)]
    pub buckets: Vec<String>,
    pub created_at: String,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub created_by: String,
    /// For a registration key: the api key it provisioned (it is then used up).
    #[serde(default)]
    pub consumed_by: Option<KeyId>,
    #[serde(default)]
    pub revoked: bool,
    /// The user whose roles bound the key (empty: the bootstrap CLI).
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub notes: String,
    /// Unix seconds of the last exchange or gateway call (updated at most once a minute).
    #[serde(default)]
    pub last_used: Option<i64>,
}

/// What a new key is made of.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub kind: KeyKind,
    pub name: String,
    pub prefix: Option<String>,
    pub capabilities: Vec<Capability>,
    pub buckets: Vec<String>,
    pub expires_at: Option<i64>,
    pub notes: String,
}

impl NewKey {
    /// Validates capabilities and buckets against the key's prefix.
    pub fn validate(&self) -> Result<(), ErrorBody> {
        if let Some(p) = &self.prefix {
            symphony_protocol::names::validate_prefix(p)?;
        }
        for cap in &self.capabilities {
            cap.validate_for(self.prefix.as_deref())?;
        }
        for bucket in &self.buckets {
            if self.prefix.is_none() {
                return Err(ErrorBody::new(
                    ErrorCode::InvalidBucket,
                    format!("bucket {bucket:?} needs a key bound to a prefix"),
                )
                .with_hint("pass --prefix"));
            }
            symphony_protocol::names::validate_bucket(bucket)?;
        }
        Ok(())
    }
}

impl KeyRecord {
    /// The user whose roles bound the key, or `cli`.
    pub fn owner(&self) -> &str {
        if self.owner.is_empty() {
            crate::auth::policy::CLI_OWNER
        } else {
            &self.owner
        }
    }

    /// Refuses revoked, expired and used-up keys.
    pub fn check_usable(&self, now: i64) -> Result<(), ErrorBody> {
        if self.revoked {
            return Err(ErrorBody::new(
                ErrorCode::TokenRevoked,
                "the token has been revoked",
            ));
        }
        if self.expires_at.is_some_and(|exp| exp <= now) {
            return Err(
                ErrorBody::new(ErrorCode::TokenExpired, "the token has expired").with_hint(
                    "create a new token with `symphony token create` or `symphony key create`",
                ),
            );
        }
        if self.consumed_by.is_some() {
            return Err(ErrorBody::new(ErrorCode::TokenUsed, "the registration token has already been used")
                .with_hint("registration tokens are single use; create a new one with `symphony token create --registration`"));
        }
        Ok(())
    }

    /// The NATS permissions nats-server enforces for this key.
    pub fn permissions(&self) -> Permissions {
        self.permissions_of(None)
    }

    /// The permissions of the JWT of one `instance` of the key (docs/protocol.md §4, §12.1).
    pub fn permissions_of(&self, instance: Option<&KeyId>) -> Permissions {
        match self.kind {
            KeyKind::Registration => capability::registration_permissions(&self.id),
            KeyKind::ApiKey => capability::api_key_permissions(
                &self.id,
                instance,
                self.prefix.as_deref(),
                &self.capabilities,
            ),
        }
    }

    /// The NATS account the key's user lives in: its extension's for an API key bound to a
    /// prefix, else the clients account (registration keys included: they only provision).
    pub fn account(&self) -> Account {
        match (self.kind, &self.prefix) {
            (KeyKind::ApiKey, Some(prefix)) => Account::Extension(prefix.clone()),
            _ => Account::Clients,
        }
    }

    pub fn inbox_prefix(&self) -> String {
        match self.kind {
            KeyKind::Registration => subjects::registration_inbox(&self.id),
            KeyKind::ApiKey => subjects::api_key_inbox(self.prefix.as_deref(), &self.id),
        }
    }

    /// The API key handed out by `GET /api/v1/apikey`: a fresh JWT for the key's derived nkey,
    /// valid for `lifetime` (never beyond the token's own expiry) and dated after `revoked_at`, the
    /// latest revocation entry of that nkey (a capability edit), so nats-server accepts it.
    pub fn to_api_key(
        &self,
        identity: &Identity,
        nats_urls: &[String],
        lifetime: Duration,
        revoked_at: Option<i64>,
        instance: &KeyId,
    ) -> anyhow::Result<ApiKey> {
        let now = now_unix();
        let (iat, exp) = jwt_window(now, lifetime, self.expires_at, revoked_at);
        let user = identity.user_keypair(&self.id)?;
        let jwt = identity.user_jwt_at(
            &self.account(),
            &user,
            instance.as_str(),
            &self.name,
            iat,
            Some(exp),
            &self.permissions_of(Some(instance)),
        )?;
        Ok(ApiKey {
            id: self.id.clone(),
            instance_id: Some(instance.clone()),
            kind: self.kind,
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            jwt,
            seed: user.seed()?,
            nats_urls: nats_urls.to_vec(),
            inbox_prefix: self.inbox_prefix(),
            capabilities: CapabilitySummary::of(&self.capabilities),
            expires_at: self.expires_at.map(rfc3339),
            caller_signing_key: Some(identity.caller_signing_key()?.public_key()),
            jwt_expires_at: Some(rfc3339(exp)),
            renew_after_secs: Some(renew_after(now, exp)),
        })
    }
}

/// `(iat, exp)` of a key JWT minted at `now`: dated after the nkey's revocation entry, expiring
/// `lifetime` later but never after the token (`expires_at`).
pub fn jwt_window(
    now: i64,
    lifetime: Duration,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
) -> (i64, i64) {
    let iat = revoked_at.map_or(now, |r| now.max(r + 1));
    let exp = iat + lifetime.as_secs().max(1) as i64;
    (iat, expires_at.map_or(exp, |t| exp.min(t)))
}

/// When to exchange again: after three quarters of what is left of the JWT's life (less the second
/// `now` may already be into), so a slow exchange or handover still ends before nats-server closes
/// the connection.
pub fn renew_after(now: i64, exp: i64) -> u64 {
    ((exp - now - 1).max(1) as u64 * 3 / 4).max(1)
}

fn invalid_token() -> ErrorBody {
    ErrorBody::new(ErrorCode::InvalidToken, "the token is not valid")
        .with_hint("check that the whole token was copied, or create a new one")
}

/// The `symphony_keys` bucket.
#[derive(Clone)]
pub struct KeyStore {
    table: Table<KeyRecord>,
}

fn record_of(entry: Versioned<KeyRecord>) -> (KeyRecord, u64) {
    ((*entry.value).clone(), entry.revision)
}

impl KeyStore {
    pub fn new(table: Table<KeyRecord>) -> Self {
        KeyStore { table }
    }

    /// A record for authentication: from the mirror when it holds it (bearer checks then need no
    /// NATS round trip; a revocation or use reaches it within milliseconds), else from NATS (a key
    /// another process created a moment ago).
    /// Shared with the mirror: a request copies no record.
    pub async fn lookup(&self, id: &KeyId) -> anyhow::Result<Option<(Arc<KeyRecord>, u64)>> {
        Ok(self
            .table
            .read_or_fetch(id.as_str())
            .await?
            .map(|entry| (entry.value, entry.revision)))
    }

    /// The record if the mirror holds it (no NATS round trip; `None` says nothing about NATS).
    pub fn cached(&self, id: &KeyId) -> Option<(Arc<KeyRecord>, u64)> {
        self.table
            .cached(id.as_str())
            .map(|entry| (entry.value, entry.revision))
    }

    /// The record and its revision (for compare-and-swap).
    pub async fn get(&self, id: &KeyId) -> anyhow::Result<Option<(KeyRecord, u64)>> {
        Ok(self.table.get(id.as_str()).await?.map(record_of))
    }

    /// Stores a new key and returns its record and token. Only [`Auth::issue`](super::Auth::issue)
    /// calls it: validation, bounds and the audit trail happen there.
    pub(super) async fn create(
        &self,
        new: NewKey,
        created_by: String,
        owner: String,
        origin: &str,
    ) -> anyhow::Result<(KeyRecord, Token)> {
        let id = KeyId::generate();
        let token = Token::generate(origin, id.clone());
        let record = KeyRecord {
            id: id.clone(),
            kind: new.kind,
            name: new.name,
            prefix: new.prefix,
            secret_hash: token.secret_hash(),
            capabilities: new.capabilities,
            buckets: new.buckets,
            created_at: now_rfc3339(),
            expires_at: new.expires_at,
            created_by,
            consumed_by: None,
            revoked: false,
            owner,
            notes: new.notes,
            last_used: None,
        };
        if self
            .table
            .create(id.as_str(), record.clone())
            .await?
            .is_none()
        {
            anyhow::bail!("key id {id} exists already");
        }
        tracing::info!(key = %id, kind = ?record.kind, prefix = ?record.prefix, "key created");
        Ok((record, token))
    }

    /// Marks a registration key used, only if nobody else did. `revision` is the revision `record` was
    /// read at; a later write that left the key usable (the last use [`KeyStore::touch`] records in the
    /// background after an exchange) is not a competing use: the mark is retried on top of it.
    pub async fn consume(
        &self,
        record: &KeyRecord,
        revision: u64,
        by: &KeyId,
    ) -> anyhow::Result<bool> {
        let (mut current, mut revision) = (record.clone(), revision);
        loop {
            if current.check_usable(now_unix()).is_err() {
                return Ok(false);
            }
            let mut used = current.clone();
            used.consumed_by = Some(by.clone());
            if self
                .table
                .update(current.id.as_str(), used, revision)
                .await?
                .is_some()
            {
                return Ok(true);
            }
            match self.get(&current.id).await? {
                Some((latest, latest_revision)) => (current, revision) = (latest, latest_revision),
                None => return Ok(false),
            }
        }
    }

    /// Changes the record of `id` by compare-and-swap: `change` is applied to the latest record read
    /// from the KV and stored only if nobody wrote in between; otherwise it is applied again to what
    /// the other write left. So a change never undoes another one (an owner's edit racing an
    /// administrator's revocation leaves the key revoked). `change` answers `Err` to refuse (nothing
    /// is written). Returns the stored record, or `None` when the key does not exist.
    pub async fn modify<E: From<anyhow::Error>>(
        &self,
        id: &KeyId,
        change: impl FnMut(&mut KeyRecord) -> Result<(), E>,
    ) -> Result<Option<KeyRecord>, E> {
        self.table.modify(id.as_str(), change).await
    }

    /// Every key, newest first.
    pub async fn list(&self) -> anyhow::Result<Vec<KeyRecord>> {
        self.list_from(false).await
    }

    /// Every key, newest first (`fresh`: from the KV, not the mirror).
    pub async fn list_from(&self, fresh: bool) -> anyhow::Result<Vec<KeyRecord>> {
        let all = if fresh {
            self.table.all_from_kv().await?
        } else {
            self.table.all().await?
        };
        let mut out: Vec<KeyRecord> = all
            .into_iter()
            .map(|(_, entry)| (*entry.value).clone())
            .collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(out)
    }

    /// Records a use, at most once a minute.
    /// In the background, so no request waits for it, and only if the record is unchanged since
    /// `revision` was read (a revocation or edit in between is never overwritten).
    pub fn touch(&self, record: &KeyRecord, revision: u64) {
        let now = now_unix();
        if record.last_used.is_some_and(|t| now - t < 60) {
            return;
        }
        let mut used = record.clone();
        used.last_used = Some(now);
        let table = self.table.clone();
        tokio::spawn(async move {
            let id = used.id.clone();
            let _ = table.update(id.as_str(), used, revision).await;
        });
    }

    pub async fn delete(&self, id: &KeyId) -> anyhow::Result<()> {
        self.table.purge(id.as_str()).await
    }

    /// Verifies a bearer token: well formed, known, secret matches, usable.
    pub async fn verify(&self, bearer: &str) -> Result<(Arc<KeyRecord>, u64), ErrorBody> {
        let token = Token::parse(bearer).map_err(|_| invalid_token())?;
        let (record, revision) = self
            .lookup(&token.key_id)
            .await
            .map_err(|e| {
                ErrorBody::new(ErrorCode::NatsUnavailable, format!("cannot read keys: {e}"))
            })?
            .ok_or_else(invalid_token)?;
        Self::check(&token, &record)?;
        Ok((record, revision))
    }

    /// Whether `token` is `record`'s (its secret matches) and the key is usable now.
    pub fn check(token: &Token, record: &KeyRecord) -> Result<(), ErrorBody> {
        if !token.matches_hash(&record.secret_hash) {
            return Err(invalid_token());
        }
        record.check_usable(now_unix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: KeyKind) -> KeyRecord {
        KeyRecord {
            id: KeyId::generate(),
            kind,
            name: "n".into(),
            prefix: Some("catalog".into()),
            secret_hash: String::new(),
            capabilities: vec![],
            buckets: vec![],
            created_at: String::new(),
            expires_at: None,
            created_by: String::new(),
            consumed_by: None,
            revoked: false,
            owner: String::new(),
            notes: String::new(),
            last_used: None,
        }
    }

    #[test]
    fn usability_rules() {
        let r = record(KeyKind::ApiKey);
        assert!(r.check_usable(100).is_ok());
        let mut expired = r.clone();
        expired.expires_at = Some(100);
        assert_eq!(
            expired.check_usable(100).unwrap_err().code,
            ErrorCode::TokenExpired
        );
        let mut revoked = r.clone();
        revoked.revoked = true;
        assert_eq!(
            revoked.check_usable(0).unwrap_err().code,
            ErrorCode::TokenRevoked
        );
        let mut used = record(KeyKind::Registration);
        used.consumed_by = Some(KeyId::generate());
        assert_eq!(used.check_usable(0).unwrap_err().code, ErrorCode::TokenUsed);
    }

    #[test]
    fn key_jwts_are_short_lived_and_dated_after_their_revocation() {
        let hour = Duration::from_secs(3600);
        assert_eq!(jwt_window(100, hour, None, None), (100, 3700));
        assert_eq!(
            jwt_window(100, hour, Some(500), None),
            (100, 500),
            "never beyond the token"
        );
        assert_eq!(
            jwt_window(100, hour, None, Some(100)),
            (101, 3701),
            "a revocation in this second would refuse a JWT issued in it"
        );
        assert_eq!(jwt_window(100, hour, None, Some(40)), (100, 3700));
        assert_eq!(renew_after(100, 3700), 2699);
        assert_eq!(renew_after(100, 104), 2, "a second of margin at least");
        assert_eq!(renew_after(100, 101), 1);
        assert_eq!(renew_after(100, 90), 1, "already expired: renew at once");
    }

    #[test]
    fn registration_keys_get_only_the_provision_subject() {
        let r = record(KeyKind::Registration);
        let p = r.permissions();
        assert_eq!(p.pub_allow, vec![subjects::provision(&r.id)]);
        assert!(r.inbox_prefix().starts_with("_INBOX_provision."));
    }

    #[test]
    fn new_key_validation() {
        let mut k = NewKey {
            kind: KeyKind::ApiKey,
            name: "x".into(),
            prefix: None,
            capabilities: vec![Capability::parse_cli("sub:extensions.x.>").unwrap()],
            buckets: vec![],
            expires_at: None,
            notes: String::new(),
        };
        assert_eq!(
            k.validate().unwrap_err().code,
            ErrorCode::CapabilityForbidden
        );
        k.prefix = Some("x".into());
        assert!(k.validate().is_ok());
        k.buckets = vec!["y_data".into()];
        assert!(k.validate().is_ok(), "any bucket name in the own account");
        k.buckets = vec!["symphony_keys".into()];
        assert_eq!(k.validate().unwrap_err().code, ErrorCode::InvalidBucket);
    }
}

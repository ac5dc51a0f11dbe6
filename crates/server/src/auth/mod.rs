//! Identity: the instance keys, API keys and registration keys, users, roles, sessions, revocation and
//! the audit trail. `policy` is the one place that decides what a caller may do.

pub mod accounts;
pub mod audit;
pub mod issue;
pub mod keys;
pub mod policy;
pub mod revocation;
pub mod roles;
pub mod sessions;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream;
use symphony_protocol::rbac::Grants;
use symphony_protocol::{ErrorBody, ErrorCode, KeyId, subjects};

use crate::bus::kv::{bind_bucket, ensure_bucket, platform_bucket};
use crate::bus::table::{Changes, Table};
use crate::error::internal;
use crate::identity::Identity;
use accounts::Accounts;
use audit::Audit;
use keys::KeyStore;
use revocation::Revocations;
use roles::RoleStore;
use sessions::{SessionStore, Throttle};
use users::UserStore;

/// Everything identity needs, shared by the HTTP API and the registry; cheap to clone.
#[derive(Clone)]
pub struct Auth {
    pub identity: Arc<Identity>,
    pub keys: KeyStore,
    pub users: UserStore,
    pub roles: RoleStore,
    pub sessions: SessionStore,
    pub throttle: Throttle,
    pub revocations: Revocations,
    pub accounts: Accounts,
    pub audit: Audit,
    /// Changes of the tables the NATS accounts are made from (keys, users, roles, accounts,
    /// revocations).
    pub account_changes: Changes,
    /// How long an API key's NATS JWT is valid (`symphony serve --key-jwt-lifetime`).
    pub key_jwt_lifetime: Duration,
}

/// The default of `symphony serve --key-jwt-lifetime`.
pub const KEY_JWT_LIFETIME: Duration = Duration::from_secs(3600);
/// The range `--key-jwt-lifetime` accepts.
pub const KEY_JWT_LIFETIME_RANGE: (Duration, Duration) =
    (Duration::from_secs(5 * 60), Duration::from_secs(24 * 3600));

impl Auth {
    /// Creates or binds the identity buckets and the audit stream.
    pub async fn init(
        identity: Arc<Identity>,
        client: &Client,
        sys: Client,
        replicas: usize,
        idle_timeout: Duration,
        session_lifetime: Duration,
    ) -> anyhow::Result<Auth> {
        let js = jetstream::new(client.clone());
        let forever = Duration::ZERO;
        let bucket = |name: &'static str, description: &'static str, ttl: Duration| {
            let js = js.clone();
            async move { ensure_bucket(&js, &platform_bucket(name, description, ttl), replicas).await }
        };
        let keys = bucket(subjects::KEYS_BUCKET, "Symphony keys", forever).await?;
        let users = bucket(subjects::USERS_BUCKET, "Symphony users", forever).await?;
        let roles = bucket(subjects::ROLES_BUCKET, "Symphony custom roles", forever).await?;
        let sessions = bucket(
            subjects::SESSIONS_BUCKET,
            "Symphony sessions",
            idle_timeout + Duration::from_secs(60),
        )
        .await?;
        let revocations =
            bucket(subjects::REVOCATIONS_BUCKET, "Revoked NATS users", forever).await?;
        let failures = bucket(
            subjects::LOGIN_FAILURES_BUCKET,
            "Failed sign-ins",
            Duration::from_secs(15 * 60),
        )
        .await?;
        let accounts = bucket(subjects::ACCOUNTS_BUCKET, "Extension accounts", forever).await?;
        // The tables the NATS accounts are made from share one change feed (followed by
        // `spawn_follow_accounts`); sessions have their own (nobody waits on it).
        let account_changes = Changes::default();
        let session_changes = Changes::default();
        Ok(Auth {
            keys: KeyStore::new(Table::new(keys).mirrored(&account_changes)),
            users: UserStore::new(Table::new(users).mirrored(&account_changes)),
            roles: RoleStore::new(Table::new(roles).mirrored(&account_changes)),
            sessions: SessionStore::new(
                Table::new(sessions).mirrored(&session_changes),
                idle_timeout,
                session_lifetime,
            ),
            throttle: Throttle::new(failures),
            revocations: Revocations::new(Table::new(revocations).mirrored(&account_changes)),
            accounts: Accounts::new(Table::new(accounts).mirrored(&account_changes), sys),
            audit: Audit::init(js, replicas).await?,
            identity,
            account_changes,
            key_jwt_lifetime: KEY_JWT_LIFETIME,
        })
    }

    /// The roles bounding keys owned by `owner` (the recorded owner): `None` for the bootstrap CLI
    /// (an administrator), which records an empty owner. A user named `cli` is bounded by their
    /// roles like anyone. A missing or disabled owner bounds everything away.
    pub async fn owner_grants(&self, owner: &str) -> Result<Option<Grants>, ErrorBody> {
        if owner.is_empty() {
            return Ok(None);
        }
        let user = self.users.get(owner).await.map_err(internal)?;
        match user.filter(|u| !u.disabled) {
            Some(u) => Ok(Some(self.roles.grants(&u.roles).await.map_err(internal)?)),
            None => Ok(Some(Grants::default())),
        }
    }

    /// Revokes `key`'s NATS user in its account and pushes the account: its live connections drop
    /// now and its JWTs are refused from now on.
    pub async fn revoke_key_user(&self, key: &keys::KeyRecord) -> anyhow::Result<()> {
        let nkey = self.identity.user_keypair(&key.id)?;
        self.revocations
            .revoke(&self.identity, &key.account(), &nkey.public_key())
            .await?;
        self.sync_accounts().await
    }

    /// The API key of `key` for the exchange: a JWT valid for [`Auth::key_jwt_lifetime`], dated
    /// after the latest revocation entry of its nkey (a capability edit revokes the JWTs issued
    /// before it). The caller has checked that the key is usable.
    /// The API key for `instance` of `key` (a renewal), or for a new instance. An instance
    /// minted for another key is `invalid_request` (docs/protocol.md §12.1).
    pub async fn mint_api_key(
        &self,
        key: &keys::KeyRecord,
        nats_urls: &[String],
        instance: Option<&KeyId>,
    ) -> Result<symphony_protocol::messages::ApiKey, ErrorBody> {
        let instance = match instance {
            Some(i) if self.identity.is_instance_of(&key.id, i) => i.clone(),
            Some(i) => {
                return Err(ErrorBody::new(
                    ErrorCode::InvalidRequest,
                    format!("instance {i} was not issued for this key"),
                )
                .with_hint("exchange the token without ?instance= to start a new instance"));
            }
            None => self.identity.mint_instance(&key.id),
        };
        let nkey = self.identity.user_keypair(&key.id).map_err(internal)?;
        let revoked_at = self
            .revocations
            .revoked_at(&self.identity, &key.account(), &nkey.public_key())
            .await
            .map_err(internal)?;
        key.to_api_key(
            &self.identity,
            nats_urls,
            self.key_jwt_lifetime,
            revoked_at,
            &instance,
        )
        .map_err(internal)
    }

    /// Revokes the JWTs `key` holds now (not the key): its live connections drop and its SDK
    /// exchanges the token again, getting a JWT with what the key says now (an edit of its
    /// capabilities). The entry is pruned once every JWT issued before it has expired.
    pub async fn reissue_key_user(&self, key: &keys::KeyRecord) -> anyhow::Result<()> {
        let nkey = self.identity.user_keypair(&key.id)?;
        let until = symphony_protocol::time::now_unix() + self.key_jwt_lifetime.as_secs() as i64;
        self.revocations
            .revoke_until(&self.identity, &key.account(), &nkey.public_key(), until)
            .await?;
        self.sync_accounts().await
    }

    /// Binds the buckets of a running server without changing them (CLI use).
    pub async fn open(
        identity: Arc<Identity>,
        client: &Client,
        sys: Client,
    ) -> anyhow::Result<Auth> {
        let js = jetstream::new(client.clone());
        let bind = |name: &'static str| bind_bucket(&js, name);
        let sessions = bind(subjects::SESSIONS_BUCKET).await?;
        Ok(Auth {
            keys: KeyStore::new(Table::new(bind(subjects::KEYS_BUCKET).await?)),
            users: UserStore::new(Table::new(bind(subjects::USERS_BUCKET).await?)),
            roles: RoleStore::new(Table::new(bind(subjects::ROLES_BUCKET).await?)),
            sessions: SessionStore::new(
                Table::new(sessions),
                Duration::from_secs(30 * 60),
                sessions::DEFAULT_LIFETIME,
            ),
            throttle: Throttle::new(bind(subjects::LOGIN_FAILURES_BUCKET).await?),
            revocations: Revocations::new(Table::new(bind(subjects::REVOCATIONS_BUCKET).await?)),
            accounts: Accounts::new(Table::new(bind(subjects::ACCOUNTS_BUCKET).await?), sys)
                .via_server(client.clone()),
            audit: Audit::open(js),
            identity,
            account_changes: Changes::default(),
            key_jwt_lifetime: KEY_JWT_LIFETIME,
        })
    }
}

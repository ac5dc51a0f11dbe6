//! NATS accounts (docs/protocol.md §3.1): one per extension prefix, recorded in `symphony_accounts`
//! with its owner and JetStream limits, plus the platform and clients accounts. [`plan`] decides
//! what every account JWT says; this module signs the JWTs (and the activation tokens of private
//! exports) and pushes the ones that changed to nats-server's resolver. Every replica follows the
//! tables it is made from, so imports, exports and revocations follow key edits without a restart.

pub mod plan;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use futures::StreamExt as _;
use symphony_protocol::jwt::{self, ExportKind, Import, JetStreamLimits};
use symphony_protocol::messages::KeyKind;
use symphony_protocol::rest::{DEFAULT_EXTENSION_LIMITS, ExtensionAccount};
use symphony_protocol::time::{now_rfc3339, now_unix};
use symphony_protocol::{ErrorBody, ErrorCode};

use super::Auth;
use crate::bus::connect::push_account_jwt;
use crate::bus::table::{Changes, Table};
use crate::error::internal;
use crate::identity::{Account, Identity};
use plan::{AccountSpec, Inputs};

/// Where the CLI asks a running server to bring the accounts up to date (platform account only:
/// the server and the CLI with the data dir).
pub const SYNC_SUBJECT: &str = "symphony.accounts.sync";

/// How often every replica compares all accounts with the resolver even without a change (another
/// replica with an older view, or the CLI, may have pushed an older account).
const RECHECK: Duration = Duration::from_secs(30);

/// The recorded extension accounts.
#[derive(Clone)]
pub struct Accounts {
    table: Table<ExtensionAccount>,
    sys: Client,
    /// Set for the one-shot CLI: ask the running server to sync (it follows the tables); sync here
    /// only when no server answers.
    via_server: Option<Client>,
    /// One sync at a time in this process, so pushes never overtake each other.
    sync: Arc<tokio::sync::Mutex<()>>,
    /// The JWT of each account's current content (keyed by the plan's `Debug` text), so an
    /// unchanged account is neither signed again nor decoded to be compared: the resolver's copy is
    /// the same string.
    signed: Arc<std::sync::Mutex<HashMap<Account, (String, String)>>>,
}

impl Accounts {
    pub fn new(table: Table<ExtensionAccount>, sys: Client) -> Self {
        Accounts {
            table,
            sys,
            via_server: None,
            sync: Arc::default(),
            signed: Arc::default(),
        }
    }

    /// For the one-shot CLI: syncs go through the running server (`client` is a platform
    /// connection), so only servers push accounts while one runs.
    pub fn via_server(mut self, client: Client) -> Self {
        self.via_server = Some(client);
        self
    }

    /// The record of `prefix`'s account (from the KV: ownership decisions use it).
    pub async fn get(&self, prefix: &str) -> anyhow::Result<Option<ExtensionAccount>> {
        Ok(self.table.get(prefix).await?.map(|v| (*v.value).clone()))
    }

    /// Every extension account, by prefix (`fresh`: from the KV, not the mirror).
    pub async fn all(&self, fresh: bool) -> anyhow::Result<Vec<ExtensionAccount>> {
        let all = if fresh {
            self.table.all_from_kv().await?
        } else {
            self.table.all().await?
        };
        Ok(all.into_iter().map(|(_, v)| (*v.value).clone()).collect())
    }

    /// Records `prefix`'s account unless it exists; returns the record and whether it is new.
    pub async fn ensure(
        &self,
        identity: &Identity,
        prefix: &str,
        owner: &str,
        created_by: &str,
    ) -> anyhow::Result<(ExtensionAccount, bool)> {
        let record = ExtensionAccount {
            prefix: prefix.to_owned(),
            account: identity.account_public(&Account::Extension(prefix.to_owned())),
            owner: owner.to_owned(),
            created_by: created_by.to_owned(),
            created_at: now_rfc3339(),
            limits: DEFAULT_EXTENSION_LIMITS,
        };
        if self.table.create(prefix, record.clone()).await?.is_some() {
            return Ok((record, true));
        }
        let existing = self
            .get(prefix)
            .await?
            .ok_or_else(|| anyhow::anyhow!("account of {prefix} vanished while being created"))?;
        Ok((existing, false))
    }

    /// Changes `prefix`'s JetStream limits.
    pub async fn set_limits(
        &self,
        prefix: &str,
        limits: JetStreamLimits,
    ) -> Result<ExtensionAccount, ErrorBody> {
        let mut record = self.get(prefix).await.map_err(internal)?.ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::ExtensionNotFound,
                format!("extension {prefix:?} has no account"),
            )
        })?;
        record.limits = limits;
        self.table
            .put(prefix, record.clone())
            .await
            .map_err(internal)?;
        Ok(record)
    }
}

/// Checks JetStream limits an administrator asks for: each -1 (unlimited) or a positive number;
/// storage 0 too (none of that kind).
pub fn validate_limits(limits: &JetStreamLimits) -> Result<(), ErrorBody> {
    let fields = [
        ("disk_storage", limits.disk_storage, true),
        ("mem_storage", limits.mem_storage, true),
        ("streams", limits.streams, false),
        ("consumer", limits.consumer, false),
    ];
    for (name, value, zero_ok) in fields {
        if value < -1 || (value == 0 && !zero_ok) {
            return Err(ErrorBody::new(
                ErrorCode::InvalidRequest,
                format!("{name} must be -1 (unlimited) or a positive number, not {value}"),
            ));
        }
    }
    if limits.disk_storage == 0 && limits.mem_storage == 0 {
        return Err(ErrorBody::new(
            ErrorCode::InvalidRequest,
            "disk_storage and mem_storage cannot both be 0: the extension would lose its JetStream",
        ));
    }
    Ok(())
}

/// The account JWT of `spec`, with activation tokens for its private imports, signed now.
fn sign(identity: &Identity, spec: &AccountSpec, iat: i64) -> anyhow::Result<String> {
    let public = identity.account_public(&spec.account);
    let mut claims = jwt::account_claims(
        &identity.operator,
        &public,
        &spec.account.name(),
        spec.limits.clone(),
        iat,
    );
    if spec.account == Account::Platform {
        claims.nats.signing_keys = vec![identity.platform_signing_public()];
    }
    claims.nats.exports = spec.exports.clone();
    claims.nats.revocations = spec.revocations.clone();
    for i in &spec.imports {
        let exporter = identity.account_key(&i.from)?;
        let token = if i.private {
            let activation = jwt::activation_claims(&public, &i.subject, i.kind, iat);
            jwt::encode(&activation, &exporter)?
        } else {
            String::new()
        };
        claims.nats.imports.push(Import {
            name: String::new(),
            subject: i.subject.clone(),
            account: exporter.public_key(),
            token,
            local_subject: i.local_subject.clone().unwrap_or_default(),
            kind: i.kind,
            share: i.share && i.kind == ExportKind::Service,
        });
    }
    Ok(jwt::encode(&claims, &identity.operator)?)
}

/// The platform account before the server has read any table: its exports and signing key, no
/// imports. Seeds the resolver of a new nats-server and is pushed before the server connects (its
/// users are signed by a key the account JWT must list); `Auth::sync_accounts` completes it.
pub fn bootstrap_platform_jwt(identity: &Identity) -> anyhow::Result<String> {
    let specs = plan::plan(&Inputs::default());
    let platform = specs
        .iter()
        .find(|s| s.account == Account::Platform)
        .expect("the plan always has the platform account");
    sign(identity, platform, now_unix())
}

/// Pushes the system account, and the bootstrap platform account (see [`bootstrap_platform_jwt`])
/// only if the resolver holds none: an account the resolver holds already (from an earlier start)
/// has its revocations, which the bootstrap account lacks, so the first push at a start never
/// opens a window in which revoked users connect. `Auth::sync_accounts` completes the accounts.
pub async fn push_bootstrap(identity: &Identity, sys: &Client) -> anyhow::Result<()> {
    push_account_jwt(sys, &identity.system_account_jwt()?).await?;
    match lookup_account_jwt(sys, &identity.platform.public_key()).await {
        Stored::Jwt(_) => Ok(()),
        Stored::Missing => push_account_jwt(sys, &bootstrap_platform_jwt(identity)?).await,
        Stored::Unknown => {
            anyhow::bail!("the resolver did not say whether it holds the platform account")
        }
    }
}

/// What nats-server's resolver holds for an account.
enum Stored {
    Jwt(String),
    /// The resolver answered without a JWT: the account is new.
    Missing,
    /// No answer in time: push nothing for it this round (the next round asks again), so a slow
    /// resolver never makes an unchanged account be pushed (which drops its pending replies).
    Unknown,
}

/// The account JWT nats-server's resolver holds for `public`.
async fn lookup_account_jwt(sys: &Client, public: &str) -> Stored {
    let subject = format!("$SYS.REQ.ACCOUNT.{public}.CLAIMS.LOOKUP");
    let asked = tokio::time::timeout(Duration::from_secs(2), sys.request(subject, "".into())).await;
    let Ok(Ok(reply)) = asked else {
        return Stored::Unknown;
    };
    match String::from_utf8(reply.payload.to_vec()) {
        Ok(text) if text.split('.').count() == 3 => Stored::Jwt(text),
        _ => Stored::Missing,
    }
}

/// Whether two account JWTs say the same (ignoring when they and their activation tokens were
/// signed).
fn same_content(a: &str, b: &str) -> bool {
    fn normalized(token: &str) -> Option<serde_json::Value> {
        let mut claims: jwt::AccountClaims = jwt::decode(token).ok()?;
        claims.iat = 0;
        claims.jti.clear();
        for import in &mut claims.nats.imports {
            if !import.token.is_empty() {
                let mut activation: jwt::ActivationClaims = jwt::decode(&import.token).ok()?;
                activation.iat = 0;
                activation.jti.clear();
                import.token = serde_json::to_string(&activation).ok()?;
            }
        }
        serde_json::to_value(claims).ok()
    }
    normalized(a).is_some_and(|x| Some(x) == normalized(b))
}

/// `spec` without imports of other extensions: what a new extension account is pushed as first,
/// so accounts importing from it find it in the resolver.
fn bare(spec: &AccountSpec) -> AccountSpec {
    let mut spec = spec.clone();
    spec.imports.retain(|i| i.from == Account::Platform);
    spec
}

/// Push order: extension accounts (exporters) before the clients and platform accounts that import
/// from them.
fn push_rank(account: &Account) -> u8 {
    match account {
        Account::Extension(_) => 0,
        Account::Clients => 1,
        Account::Platform => 2,
    }
}

impl Auth {
    /// Records `prefix`'s account (owned by `owner`) unless it exists and pushes the accounts;
    /// returns the record and whether it is new.
    pub async fn ensure_extension_account(
        &self,
        prefix: &str,
        owner: &str,
        created_by: &str,
    ) -> Result<(ExtensionAccount, bool), ErrorBody> {
        let (record, created) = self
            .accounts
            .ensure(&self.identity, prefix, owner, created_by)
            .await
            .map_err(internal)?;
        if created {
            tracing::info!(prefix, account = %record.account, "created an extension account");
        }
        Ok((record, created))
    }

    /// What the plan is made from: extension accounts, the imports their keys need (each
    /// capability within its owner's roles today), and the revocations.
    async fn plan_inputs(&self, fresh: bool) -> anyhow::Result<Inputs> {
        let mut inputs = Inputs::default();
        for account in self.accounts.all(fresh).await? {
            inputs.extensions.insert(account.prefix, account.limits);
        }
        let now = now_unix();
        let mut grants = HashMap::new();
        for key in self.keys.list_from(fresh).await? {
            let Some(prefix) = key.prefix.as_deref() else {
                continue;
            };
            if key.kind != KeyKind::ApiKey || key.check_usable(now).is_err() {
                continue;
            }
            if !grants.contains_key(key.owner.as_str()) {
                let g = self
                    .owner_grants(&key.owner)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                grants.insert(key.owner.clone(), g);
            }
            let owner = &grants[key.owner.as_str()];
            for cap in &key.capabilities {
                let within_roles = owner.as_ref().is_none_or(|g| g.allows(cap));
                if let (true, Some((target, subject))) = (within_roles, cap.foreign_import(prefix))
                {
                    let kind = match cap.kind {
                        symphony_protocol::capability::CapabilityKind::Pub => ExportKind::Service,
                        symphony_protocol::capability::CapabilityKind::Sub => ExportKind::Stream,
                    };
                    inputs
                        .foreign
                        .entry(prefix.to_owned())
                        .or_insert_with(BTreeSet::new)
                        .insert((target, subject, kind));
                }
            }
        }
        let by_public: HashMap<String, Account> = [Account::Platform, Account::Clients]
            .into_iter()
            .chain(
                inputs
                    .extensions
                    .keys()
                    .map(|p| Account::Extension(p.clone())),
            )
            .map(|a| (self.identity.account_public(&a), a))
            .collect();
        for (public, revoked) in self.revocations.by_account().await? {
            if let Some(account) = by_public.get(&public) {
                inputs.revocations.insert(account.clone(), revoked);
            }
        }
        Ok(inputs)
    }

    /// Brings nats-server's accounts up to date: signs every account and pushes those whose content
    /// differs from what the resolver holds, exporters before importers (pushing an unchanged
    /// account would make nats-server forget its pending replies). A new extension account goes in
    /// first without its imports of other extensions, so accounts importing from it find it.
    pub async fn sync_accounts(&self) -> anyhow::Result<()> {
        self.sync_accounts_from(false).await
    }

    /// [`Auth::sync_accounts`]; `fresh` reads the tables from the KV instead of the mirrors (for
    /// another process's request: what it wrote may not have reached the mirrors yet).
    async fn sync_accounts_from(&self, fresh: bool) -> anyhow::Result<()> {
        if let Some(client) = &self.accounts.via_server {
            let asked = tokio::time::timeout(
                Duration::from_secs(30),
                client.request(SYNC_SUBJECT, "".into()),
            )
            .await;
            match asked {
                Ok(Ok(reply)) if reply.payload.is_empty() => return Ok(()),
                Ok(Ok(reply)) => {
                    anyhow::bail!(
                        "the server could not push the accounts: {}",
                        String::from_utf8_lossy(&reply.payload)
                    )
                }
                // No server runs: this process pushes.
                Ok(Err(_)) | Err(_) => {}
            }
        }
        let _one_at_a_time = self.accounts.sync.lock().await;
        let mut specs = plan::plan(&self.plan_inputs(fresh).await?);
        specs.sort_by_key(|s| push_rank(&s.account));
        let iat = now_unix();
        let mut stored = HashMap::new();
        for spec in &specs {
            let public = self.identity.account_public(&spec.account);
            let current = lookup_account_jwt(&self.accounts.sys, &public).await;
            if matches!(current, Stored::Missing) && matches!(spec.account, Account::Extension(_)) {
                push_account_jwt(&self.accounts.sys, &sign(&self.identity, &bare(spec), iat)?)
                    .await?;
            }
            stored.insert(spec.account.clone(), current);
        }
        let mut unknown = 0;
        for spec in &specs {
            let fingerprint = format!("{spec:?}");
            let cached = {
                let signed = self.accounts.signed.lock().expect("not poisoned");
                signed
                    .get(&spec.account)
                    .filter(|(f, _)| *f == fingerprint)
                    .map(|(_, jwt)| jwt.clone())
            };
            let jwt = match cached {
                Some(jwt) => jwt,
                None => sign(&self.identity, spec, iat)?,
            };
            let push = match stored.get(&spec.account) {
                Some(Stored::Jwt(current)) if *current == jwt => false,
                Some(Stored::Jwt(current)) if same_content(current, &jwt) => {
                    // Another process signed the same content: remember its string.
                    self.accounts
                        .signed
                        .lock()
                        .expect("not poisoned")
                        .insert(spec.account.clone(), (fingerprint.clone(), current.clone()));
                    false
                }
                Some(Stored::Jwt(_)) => true,
                Some(Stored::Unknown) => {
                    unknown += 1;
                    false
                }
                Some(Stored::Missing) | None => true,
            };
            if push {
                push_account_jwt(&self.accounts.sys, &jwt).await?;
                self.accounts
                    .signed
                    .lock()
                    .expect("not poisoned")
                    .insert(spec.account.clone(), (fingerprint, jwt));
            }
        }
        if unknown > 0 {
            anyhow::bail!(
                "the resolver did not say what it holds for {unknown} accounts; they are compared again at the next sync"
            );
        }
        Ok(())
    }

    /// Answers the CLI's sync requests (see [`SYNC_SUBJECT`]) on the platform connection `client`:
    /// an empty reply when done, else the error.
    pub fn spawn_sync_service(&self, client: &Client) {
        let this = self.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let Ok(mut sub) = client
                .queue_subscribe(SYNC_SUBJECT, "symphony".to_owned())
                .await
            else {
                tracing::warn!("cannot answer account sync requests");
                return;
            };
            while let Some(msg) = sub.next().await {
                let answer = match this.sync_accounts_from(true).await {
                    Ok(()) => String::new(),
                    Err(e) => format!("{e:#}"),
                };
                if let Some(reply) = msg.reply {
                    let _ = client.publish(reply, answer.into()).await;
                }
            }
        });
    }

    /// Pushes again whenever a table the accounts are made from changes (on any replica).
    pub fn spawn_follow_accounts(&self, changes: &Changes) {
        let this = self.clone();
        let mut rx = changes.subscribe();
        tokio::spawn(async move {
            loop {
                // A change, or the periodic recheck.
                match tokio::time::timeout(RECHECK, rx.changed()).await {
                    Ok(Err(_)) => return,
                    Ok(Ok(())) => {
                        // Let a burst of changes (a registration touches several tables) settle.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        rx.borrow_and_update();
                    }
                    Err(_) => {}
                }
                if let Err(e) = this.sync_accounts().await {
                    tracing::warn!(error = %e, "cannot push the NATS accounts");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        assert!(validate_limits(&DEFAULT_EXTENSION_LIMITS).is_ok());
        let mut l = DEFAULT_EXTENSION_LIMITS;
        l.disk_storage = -1;
        assert!(validate_limits(&l).is_ok());
        l.streams = 0;
        assert!(validate_limits(&l).is_err());
        l.streams = -2;
        assert!(validate_limits(&l).is_err());
        let none = JetStreamLimits {
            disk_storage: 0,
            mem_storage: 0,
            streams: 1,
            consumer: 1,
        };
        assert!(validate_limits(&none).is_err());
    }

    /// An identity in a temp dir (kept alive by the first value) and the plan with one extension.
    fn one_extension() -> (tempfile::TempDir, Identity, Vec<AccountSpec>) {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::load_or_create(dir.path()).unwrap();
        let mut inputs = Inputs::default();
        inputs
            .extensions
            .insert("catalog".into(), DEFAULT_EXTENSION_LIMITS);
        (dir, identity, plan::plan(&inputs))
    }

    fn spec_of<'a>(specs: &'a [AccountSpec], account: &Account) -> &'a AccountSpec {
        specs.iter().find(|s| &s.account == account).unwrap()
    }

    #[test]
    fn the_same_account_signed_at_another_time_is_not_pushed_again() {
        let (_dir, identity, specs) = one_extension();
        let clients = spec_of(&specs, &Account::Clients);
        let early = sign(&identity, clients, 7).unwrap();
        let late = sign(&identity, clients, 9).unwrap();
        assert_ne!(early, late);
        assert!(same_content(&early, &late));
        let mut changed = clients.clone();
        changed.imports.pop();
        assert!(!same_content(
            &early,
            &sign(&identity, &changed, 9).unwrap()
        ));
        assert!(!same_content("not a jwt", &late));
    }

    #[test]
    fn signed_accounts_carry_activation_tokens_for_private_imports() {
        let (_dir, identity, specs) = one_extension();
        let clients = spec_of(&specs, &Account::Clients);
        let token = sign(&identity, clients, 7).unwrap();
        let claims: jwt::AccountClaims = jwt::decode(&token).unwrap();
        assert_eq!(claims.iss, identity.operator.public_key());
        let catalog = identity.account_public(&Account::Extension("catalog".into()));
        let import = claims
            .nats
            .imports
            .iter()
            .find(|i| i.account == catalog && i.subject == "cirata.extensions.catalog.>")
            .unwrap();
        let activation: jwt::ActivationClaims = jwt::decode(&import.token).unwrap();
        assert_eq!(activation.iss, catalog, "the exporter issues it");
        assert_eq!(activation.sub, claims.sub, "for this importer");
        assert!(!import.share, "extensions do not get the caller's JWT");
        assert!(
            claims
                .nats
                .imports
                .iter()
                .any(|i| i.subject == "cirata.services.>" && i.share),
            "the platform's services learn who asks"
        );
        let platform = spec_of(&specs, &Account::Platform);
        let claims: jwt::AccountClaims =
            jwt::decode(&sign(&identity, platform, 7).unwrap()).unwrap();
        assert_eq!(
            claims.nats.signing_keys,
            vec![identity.platform_signing_public()]
        );
    }
}

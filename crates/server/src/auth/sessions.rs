//! Sessions of signed-in users (`symphony_sessions`): a session token has the token format, the idle
//! timeout and the absolute lifetime are enforced on every use, and login failures are throttled
//! per account and per address. A session may have short-lived child tokens (the browser's HTTP
//! bearer, `GET /api/v1/usertoken`): each has its own expiry and is valid only while its parent
//! session is.
//!
//! Every write of a session is a compare-and-swap on the revision it was read at, and ending a
//! session purges it at the revision last read: the purge marker is a tombstone no later write can
//! get past, so a touch or new browser credentials racing a logout cannot bring the session back.
//!
//! A child may be scoped to one extension (`POST /api/v1/usertoken/scoped`, an extension UI frame's
//! bearer): [`SessionStore::verify`] refuses it, so no API accepts it unless it asks for
//! [`SessionStore::verify_scoped`] (the gateway).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};
use symphony_protocol::time::now_unix;
use symphony_protocol::{ErrorBody, ErrorCode, KeyId, Token};

use crate::bus::table::{Table, Versioned};

/// A session. The token's secret is stored only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: KeyId,
    pub username: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub idle_timeout_secs: u64,
    /// For a session: when it ends however much it is used (unix seconds; `--session-lifetime`
    /// after sign-in). Absent on child tokens, which end with their session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<i64>,
    /// Public nkeys of the browser NATS credentials issued to this session (revoked at logout).
    #[serde(default)]
    pub browser_nkeys: Vec<String>,
    /// For a child token: the session it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<KeyId>,
    /// For a child token: when it stops working (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// For a session: its child tokens that have not expired (ended with it; kept alive with it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ChildToken>,
    /// For a scoped child token: the extension prefix whose gateway routes alone accept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A child token of a session, as the session records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildToken {
    pub id: KeyId,
    pub expires_at: i64,
}

/// Most child tokens a session keeps track of (the browser asks for one every 10 minutes, and one
/// per extension whose UI frames are open).
const MAX_CHILDREN: usize = 64;

/// Shortest and longest idle timeout an operator may configure.
pub const IDLE_RANGE: (Duration, Duration) =
    (Duration::from_secs(5 * 60), Duration::from_secs(8 * 3600));
/// The absolute session lifetime unless configured (`--session-lifetime`).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Shortest and longest absolute session lifetime an operator may configure.
pub const LIFETIME_RANGE: (Duration, Duration) = (
    Duration::from_secs(10 * 60),
    Duration::from_secs(30 * 24 * 3600),
);
/// A session is written back at most this often (its bucket TTL keeps idle ones from piling up).
const TOUCH_EVERY_SECS: i64 = 30;
/// Compare-and-swap attempts before a write to a session (or a failure counter) gives up; each
/// retry means another request changed it meanwhile, so this bounds concurrent requests, not time.
pub const CAS_ATTEMPTS: usize = 256;

/// The `symphony_sessions` bucket.
#[derive(Clone)]
pub struct SessionStore {
    table: Table<SessionRecord>,
    pub idle_timeout: Duration,
    /// The absolute lifetime of sessions started from now on.
    pub lifetime: Duration,
}

pub(crate) fn expired() -> ErrorBody {
    ErrorBody::new(ErrorCode::SessionExpired, "the session has ended").with_hint("sign in again")
}

fn lifetime_over() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::SessionExpired,
        "the session has reached its lifetime",
    )
    .with_hint("sign in again")
}

/// A scoped child token at an API other than its extension's gateway routes.
pub fn scoped_refused(scope: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::ScopedToken,
        format!("this token is scoped to the gateway routes of extension {scope:?}"),
    )
    .with_hint("an extension UI frame's token reaches only /api/v1/extension/<its prefix>/…")
}

fn child_expired() -> ErrorBody {
    ErrorBody::new(ErrorCode::TokenExpired, "the browser token has expired")
        .with_hint("get a new one from GET /api/v1/usertoken")
}

fn unreadable(e: anyhow::Error) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::NatsUnavailable,
        format!("cannot read sessions: {e}"),
    )
}

impl SessionStore {
    pub fn new(table: Table<SessionRecord>, idle_timeout: Duration, lifetime: Duration) -> Self {
        SessionStore {
            table,
            idle_timeout,
            lifetime,
        }
    }

    /// When `session` ends at the latest (one started before sessions recorded it: the configured
    /// lifetime after sign-in).
    pub fn ends_at(&self, session: &SessionRecord) -> i64 {
        session
            .ends_at
            .unwrap_or(session.created_at + self.lifetime.as_secs() as i64)
    }

    /// Starts a session and returns it with its token (the only time the token exists in clear).
    pub async fn create(
        &self,
        username: &str,
        origin: &str,
    ) -> anyhow::Result<(SessionRecord, Token)> {
        let id = KeyId::generate();
        let token = Token::generate(origin, id.clone());
        let now = now_unix();
        let record = SessionRecord {
            id: id.clone(),
            username: username.to_owned(),
            secret_hash: token.secret_hash(),
            created_at: now,
            last_seen: now,
            idle_timeout_secs: self.idle_timeout.as_secs(),
            ends_at: Some(now + self.lifetime.as_secs() as i64),
            browser_nkeys: vec![],
            parent: None,
            expires_at: None,
            children: vec![],
            scope: None,
        };
        // Create-only: a session id is never reused, not even the id of one that ended.
        if self
            .table
            .create(id.as_str(), record.clone())
            .await?
            .is_none()
        {
            anyhow::bail!("session id {id} exists");
        }
        Ok((record, token))
    }

    /// Issues a child token of `parent` valid until `expires_at` (and only while `parent` is). Records
    /// it in `parent` (dropping expired ones); the caller writes `parent` back.
    pub async fn create_child(
        &self,
        parent: &mut SessionRecord,
        origin: &str,
        expires_at: i64,
    ) -> anyhow::Result<Token> {
        self.create_scoped_child(parent, origin, expires_at, None)
            .await
    }

    /// [`SessionStore::create_child`], scoped to extension `scope` when given: only that
    /// extension's gateway routes accept it ([`SessionStore::verify_scoped`]).
    pub async fn create_scoped_child(
        &self,
        parent: &mut SessionRecord,
        origin: &str,
        expires_at: i64,
        scope: Option<&str>,
    ) -> anyhow::Result<Token> {
        let id = KeyId::generate();
        let token = Token::generate(origin, id.clone());
        let now = now_unix();
        let child = SessionRecord {
            id: id.clone(),
            username: parent.username.clone(),
            secret_hash: token.secret_hash(),
            created_at: now,
            last_seen: now,
            idle_timeout_secs: parent.idle_timeout_secs,
            ends_at: None,
            browser_nkeys: vec![],
            parent: Some(parent.id.clone()),
            expires_at: Some(expires_at),
            children: vec![],
            scope: scope.map(str::to_owned),
        };
        if self.table.create(id.as_str(), child).await?.is_none() {
            anyhow::bail!("token id {id} exists");
        }
        parent.children.retain(|c| c.expires_at > now);
        parent.children.push(ChildToken { id, expires_at });
        let keep = parent.children.len().saturating_sub(MAX_CHILDREN);
        parent.children.drain(..keep);
        Ok(token)
    }

    /// From memory when mirrored; a session another replica just started is read from NATS.
    pub async fn get(&self, id: &KeyId) -> anyhow::Result<Option<SessionRecord>> {
        Ok(self.get_shared(id).await?.map(|s| (*s).clone()))
    }

    /// [`SessionStore::get`] without a copy (every signed-in request reads one).
    async fn get_shared(&self, id: &KeyId) -> anyhow::Result<Option<Arc<SessionRecord>>> {
        Ok(self
            .table
            .read_or_fetch(id.as_str())
            .await?
            .map(|s| s.value))
    }

    /// Whether the mirror holds a session (or child token) with this id (no NATS round trip).
    pub fn is_cached(&self, id: &KeyId) -> bool {
        self.table.cached(id.as_str()).is_some()
    }

    /// The session as stored now, with the revision to write it back at; `session_expired` once
    /// it has ended.
    pub async fn current(&self, id: &KeyId) -> Result<Versioned<SessionRecord>, ErrorBody> {
        self.table
            .get(id.as_str())
            .await
            .map_err(unreadable)?
            .ok_or_else(expired)
    }

    /// Writes `record` back only if its session is still at `revision`: `Ok(false)` when another
    /// write came first or the session has ended (read it again with [`SessionStore::current`]).
    pub async fn put_at(&self, record: &SessionRecord, revision: u64) -> anyhow::Result<bool> {
        Ok(self
            .table
            .update(record.id.as_str(), record.clone(), revision)
            .await?
            .is_some())
    }

    /// Deletes a child token that was never handed out.
    pub async fn discard(&self, id: &KeyId) -> anyhow::Result<()> {
        self.table.purge(id.as_str()).await
    }

    /// The record `token` names, its secret checked; `Ok(None)` when no session has this id.
    async fn record_of(
        &self,
        token: &Token,
    ) -> Result<Option<Versioned<SessionRecord>>, ErrorBody> {
        let Some(entry) = self
            .table
            .read_or_fetch(token.key_id.as_str())
            .await
            .map_err(unreadable)?
        else {
            return Ok(None);
        };
        if !token.matches_hash(&entry.value.secret_hash) {
            return Err(ErrorBody::new(
                ErrorCode::InvalidToken,
                "the token is not valid",
            ));
        }
        Ok(Some(entry))
    }

    /// The live parent session of child token `child` (expired children and orphans are purged).
    async fn parent_of(
        &self,
        child: &SessionRecord,
        parent_id: &KeyId,
    ) -> Result<Arc<SessionRecord>, ErrorBody> {
        if child.expires_at.is_none_or(|at| now_unix() >= at) {
            let _ = self.table.purge(child.id.as_str()).await;
            return Err(child_expired());
        }
        match self
            .table
            .read_or_fetch(parent_id.as_str())
            .await
            .map_err(unreadable)?
        {
            Some(parent) => self.still_live(parent).await,
            None => {
                let _ = self.table.purge(child.id.as_str()).await;
                Err(expired())
            }
        }
    }

    /// Verifies a session token; `Ok(None)` when no session has this id (it may be an API key). A
    /// child token answers with its parent session: it acts as that session, and keeps it alive. A
    /// scoped child token is refused (`scoped_token`).
    pub async fn verify(&self, token: &Token) -> Result<Option<Arc<SessionRecord>>, ErrorBody> {
        let Some(entry) = self.record_of(token).await? else {
            return Ok(None);
        };
        let record = entry.value.clone();
        if let Some(scope) = &record.scope {
            return Err(scoped_refused(scope));
        }
        match &record.parent {
            None => self.still_live(entry).await.map(Some),
            Some(parent_id) => self.parent_of(&record, parent_id).await.map(Some),
        }
    }

    /// Verifies a scoped child token (and only one): `Ok(None)` when no session has this id, else its
    /// live parent session and the prefix it is scoped to. The gateway alone calls this.
    pub async fn verify_scoped(
        &self,
        token: &Token,
    ) -> Result<Option<(Arc<SessionRecord>, String)>, ErrorBody> {
        let Some(entry) = self.record_of(token).await? else {
            return Ok(None);
        };
        let record = entry.value;
        let (Some(scope), Some(parent_id)) = (&record.scope, &record.parent) else {
            return Err(ErrorBody::new(
                ErrorCode::WrongTokenKind,
                "only an extension frame's scoped token is accepted here",
            )
            .with_hint("get one from POST /api/v1/usertoken/scoped"));
        };
        let parent = self.parent_of(&record, parent_id).await?;
        Ok(Some((parent, scope.clone())))
    }

    /// Ends a session past its lifetime or idle for too long; else records the use (at most every
    /// [`TOUCH_EVERY_SECS`], compare-and-swap at the revision read), rewriting its live children
    /// too so the bucket's max age does not drop them while it lives.
    async fn still_live(
        &self,
        entry: Versioned<SessionRecord>,
    ) -> Result<Arc<SessionRecord>, ErrorBody> {
        let record = entry.value;
        let now = now_unix();
        if now >= self.ends_at(&record) {
            let _ = self.end(&record.id).await;
            return Err(lifetime_over());
        }
        if now - record.last_seen > record.idle_timeout_secs as i64 {
            let _ = self.end(&record.id).await;
            return Err(expired());
        }
        if now - record.last_seen < TOUCH_EVERY_SECS {
            return Ok(record);
        }
        let mut touched = (*record).clone();
        touched.last_seen = now;
        match self.put_at(&touched, entry.revision).await {
            Ok(true) => {}
            // Another write came first (a touch, new browser credentials) or the session ended.
            Ok(false) => return self.current(&record.id).await.map(|c| c.value),
            // The use is not recorded this time; the session is as valid as it was read.
            Err(_) => return Ok(record),
        }
        for child in touched.children.iter().filter(|c| c.expires_at > now) {
            if let Ok(Some(entry)) = self.table.get(child.id.as_str()).await {
                let _ = self
                    .table
                    .update(child.id.as_str(), (*entry.value).clone(), entry.revision)
                    .await;
            }
        }
        Ok(Arc::new(touched))
    }

    /// Ends a session and its child tokens for good, and returns its final record (every browser
    /// credential and child token issued to it); `None` when it had already ended. The purge is a
    /// compare-and-swap at the revision just read, retried when another write came first, so no
    /// credential issued before the end is missing from the record returned.
    pub async fn end(&self, id: &KeyId) -> anyhow::Result<Option<SessionRecord>> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(entry) = self.table.get(id.as_str()).await? else {
                return Ok(None);
            };
            if self.table.purge_at(id.as_str(), entry.revision).await? {
                for child in &entry.value.children {
                    self.table.purge(child.id.as_str()).await?;
                }
                return Ok(Some((*entry.value).clone()));
            }
        }
        anyhow::bail!("session {id} kept changing while it was being ended")
    }
}

/// Login failures per account and per address (`symphony_login_failures`; an entry expires 15
/// minutes after its last failure). The rule (docs/security.md §2.2):
///
/// - Every wrong password counts one failure for its account and one for its address, each with a
///   compare-and-swap increment, so parallel guesses are all counted.
/// - The password is checked before the address's limit: a right password always gets past it (an
///   attacker at the same address — a NAT, a proxy — cannot lock the real user out). A wrong one
///   past [`FREE_FAILURES_PER_ADDRESS`] gets `429 too_many_attempts` with the wait, not `401`.
/// - An account with more than [`FREE_FAILURES_PER_ACCOUNT`] failures is locked with exponential
///   backoff (1, 2, 4 … up to [`MAX_ACCOUNT_WAIT_SECS`]); while locked, attempts from addresses
///   that have failed sign-ins on record are refused before the password is checked (and are not
///   counted). An address without failures still signs in with the right password.
#[derive(Clone)]
pub struct Throttle {
    kv: kv::Store,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Failures {
    count: u32,
    last: i64,
}

impl Failures {
    /// Seconds still to wait at `now` when `free` failures are allowed and waits stop at `cap`.
    fn wait(&self, free: u32, cap: i64, now: i64) -> i64 {
        (self.last + wait_after(self.count, free, cap) - now).max(0)
    }
}

/// Failures allowed before an address's wrong passwords get waits.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 10;
/// Failures allowed before an account is locked (with backoff).
pub const FREE_FAILURES_PER_ACCOUNT: u32 = 20;
/// Longest wait of an address.
const MAX_WAIT_SECS: i64 = 60;
/// Longest lock-out of an account.
pub const MAX_ACCOUNT_WAIT_SECS: i64 = 15 * 60;

/// Seconds to wait after `count` failures when `free` are allowed: 1, 2, 4, … up to `cap`.
pub fn wait_after(count: u32, free: u32, cap: i64) -> i64 {
    if count < free {
        0
    } else {
        (1i64 << (count - free).min(30)).min(cap)
    }
}

fn address_key(addr: &str) -> String {
    format!("addr.{}", addr.replace([':', '.'], "_"))
}

fn account_key(username: &str) -> String {
    format!(
        "user.{}",
        data_encoding::HEXLOWER.encode(username.as_bytes())
    )
}

fn too_many(wait: i64) -> (ErrorBody, i64) {
    let body = ErrorBody::new(
        ErrorCode::TooManyAttempts,
        "too many failed sign-ins; try again later",
    );
    (body, wait.max(1))
}

impl Throttle {
    pub fn new(kv: kv::Store) -> Self {
        Throttle { kv }
    }

    async fn read(&self, key: &str) -> Failures {
        match self.kv.get(key).await {
            Ok(Some(v)) => serde_json::from_slice(&v).unwrap_or_default(),
            _ => Failures::default(),
        }
    }

    /// Before the password is checked: refuses with `too_many_attempts` (and the seconds to wait)
    /// only while `username`'s account is locked and `addr` has failed sign-ins on record.
    pub async fn check(&self, username: &str, addr: &str) -> Result<(), (ErrorBody, i64)> {
        let now = now_unix();
        let account = self.read(&account_key(username)).await;
        let wait = account.wait(FREE_FAILURES_PER_ACCOUNT, MAX_ACCOUNT_WAIT_SECS, now);
        if wait == 0 || self.read(&address_key(addr)).await.count == 0 {
            return Ok(());
        }
        Err(too_many(wait))
    }

    /// Counts a wrong password for `username` and `addr`; `Err` with the seconds to wait when
    /// either must now wait (the reply is `429`, not `401`).
    pub async fn failed(
        &self,
        username: &str,
        addr: &str,
    ) -> anyhow::Result<Result<(), (ErrorBody, i64)>> {
        let now = now_unix();
        let account = self.count(&account_key(username), now).await?;
        let address = self.count(&address_key(addr), now).await?;
        let wait = account
            .wait(FREE_FAILURES_PER_ACCOUNT, MAX_ACCOUNT_WAIT_SECS, now)
            .max(address.wait(FREE_FAILURES_PER_ADDRESS, MAX_WAIT_SECS, now));
        Ok(if wait > 0 {
            Err(too_many(wait))
        } else {
            Ok(())
        })
    }

    /// Adds one failure to `key` (compare-and-swap on the entry's revision, retried when another
    /// request counted meanwhile) and returns the count stored.
    async fn count(&self, key: &str, now: i64) -> anyhow::Result<Failures> {
        for _ in 0..CAS_ATTEMPTS {
            let entry = self.kv.entry(key).await?;
            let mut f = match &entry {
                Some(e) if e.operation == kv::Operation::Put => {
                    serde_json::from_slice(&e.value).unwrap_or_default()
                }
                _ => Failures::default(),
            };
            f.count = f.count.saturating_add(1);
            f.last = now;
            let bytes = serde_json::to_vec(&f)?.into();
            let stored = match &entry {
                Some(e) => match self.kv.update(key, bytes, e.revision).await {
                    Ok(_) => true,
                    Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => false,
                    Err(e) => return Err(e.into()),
                },
                None => match self.kv.create(key, bytes).await {
                    Ok(_) => true,
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => false,
                    Err(e) => return Err(e.into()),
                },
            };
            if stored {
                return Ok(f);
            }
        }
        anyhow::bail!("the failure count {key} kept changing")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_cap() {
        assert_eq!(wait_after(2, 3, 60), 0);
        assert_eq!(wait_after(3, 3, 60), 1);
        assert_eq!(wait_after(5, 3, 60), 4);
        assert_eq!(wait_after(30, 3, MAX_WAIT_SECS), MAX_WAIT_SECS);
        assert_eq!(
            wait_after(u32::MAX, 0, MAX_ACCOUNT_WAIT_SECS),
            MAX_ACCOUNT_WAIT_SECS
        );
        let f = Failures {
            count: FREE_FAILURES_PER_ADDRESS,
            last: 100,
        };
        assert_eq!(f.wait(FREE_FAILURES_PER_ADDRESS, MAX_WAIT_SECS, 100), 1);
        assert_eq!(f.wait(FREE_FAILURES_PER_ADDRESS, MAX_WAIT_SECS, 101), 0);
        let below = Failures {
            count: 9,
            last: 100,
        };
        assert_eq!(below.wait(FREE_FAILURES_PER_ADDRESS, MAX_WAIT_SECS, 100), 0);
    }

    #[test]
    fn keys_are_valid_kv_keys() {
        for k in [
            address_key("::1"),
            address_key("127.0.0.1"),
            account_key("a@b.c"),
        ] {
            assert!(
                k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.'),
                "{k}"
            );
        }
    }
}

//! Sessions of signed-in users (`symphony_sessions`): a session token has the token format, idle
//! timeout is enforced on every use, and login failures are throttled per account and per address.
//! A session may have short-lived child tokens (the browser's HTTP bearer, `GET /api/v1/usertoken`):
//! each has its own expiry and is valid only while its parent session is. A child may be scoped to
//! one extension (`POST /api/v1/usertoken/scoped`, an extension UI frame's bearer): [`SessionStore::verify`]
//! refuses it, so no API accepts it unless it asks for [`SessionStore::verify_scoped`] (the gateway).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};
use symphony_protocol::time::now_unix;
use symphony_protocol::{ErrorBody, ErrorCode, KeyId, Token};

use crate::bus::table::Table;

/// A session. The token's secret is stored only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: KeyId,
    pub username: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub idle_timeout_secs: u64,
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
/// A session is written back at most this often (its bucket TTL keeps idle ones from piling up).
const TOUCH_EVERY_SECS: i64 = 30;

/// The `symphony_sessions` bucket.
#[derive(Clone)]
pub struct SessionStore {
    table: Table<SessionRecord>,
    pub idle_timeout: Duration,
}

fn expired() -> ErrorBody {
    ErrorBody::new(ErrorCode::SessionExpired, "the session has ended").with_hint("sign in again")
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
    pub fn new(table: Table<SessionRecord>, idle_timeout: Duration) -> Self {
        SessionStore {
            table,
            idle_timeout,
        }
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
            browser_nkeys: vec![],
            parent: None,
            expires_at: None,
            children: vec![],
            scope: None,
        };
        self.put(&record).await?;
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
            browser_nkeys: vec![],
            parent: Some(parent.id.clone()),
            expires_at: Some(expires_at),
            children: vec![],
            scope: scope.map(str::to_owned),
        };
        self.put(&child).await?;
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

    pub async fn put(&self, record: &SessionRecord) -> anyhow::Result<()> {
        self.table.put(record.id.as_str(), record.clone()).await?;
        Ok(())
    }

    /// Verifies a session token; `Ok(None)` when no session has this id (it may be an API key). A
    /// child token answers with its parent session: it acts as that session, and keeps it alive.
    pub async fn verify(&self, token: &Token) -> Result<Option<Arc<SessionRecord>>, ErrorBody> {
        let Some(record) = self.get_shared(&token.key_id).await.map_err(unreadable)? else {
            return Ok(None);
        };
        if !token.matches_hash(&record.secret_hash) {
            return Err(ErrorBody::new(
                ErrorCode::InvalidToken,
                "the token is not valid",
            ));
        }
        if let Some(scope) = &record.scope {
            return Err(scoped_refused(scope));
        }
        let Some(parent_id) = &record.parent else {
            return self.still_live(record).await.map(Some);
        };
        let now = now_unix();
        if record.expires_at.is_none_or(|at| now >= at) {
            let _ = self.table.purge(record.id.as_str()).await;
            return Err(child_expired());
        }
        match self.get_shared(parent_id).await.map_err(unreadable)? {
            Some(parent) => self.still_live(parent).await.map(Some),
            None => {
                let _ = self.table.purge(record.id.as_str()).await;
                Err(expired())
            }
        }
    }

    /// Verifies a scoped child token (and only one): `Ok(None)` when no session has this id, else its
    /// live parent session and the prefix it is scoped to. The gateway alone calls this.
    pub async fn verify_scoped(
        &self,
        token: &Token,
    ) -> Result<Option<(Arc<SessionRecord>, String)>, ErrorBody> {
        let Some(record) = self.get_shared(&token.key_id).await.map_err(unreadable)? else {
            return Ok(None);
        };
        if !token.matches_hash(&record.secret_hash) {
            return Err(ErrorBody::new(
                ErrorCode::InvalidToken,
                "the token is not valid",
            ));
        }
        let (Some(scope), Some(parent_id)) = (&record.scope, &record.parent) else {
            return Err(ErrorBody::new(
                ErrorCode::WrongTokenKind,
                "only an extension frame's scoped token is accepted here",
            )
            .with_hint("get one from POST /api/v1/usertoken/scoped"));
        };
        if record.expires_at.is_none_or(|at| now_unix() >= at) {
            let _ = self.table.purge(record.id.as_str()).await;
            return Err(child_expired());
        }
        match self.get_shared(parent_id).await.map_err(unreadable)? {
            Some(parent) => Ok(Some((self.still_live(parent).await?, scope.clone()))),
            None => {
                let _ = self.table.purge(record.id.as_str()).await;
                Err(expired())
            }
        }
    }

    /// Ends a session idle for too long; else records the use (at most every [`TOUCH_EVERY_SECS`]),
    /// rewriting its live children too so the bucket's max age does not drop them while it lives.
    async fn still_live(
        &self,
        record: Arc<SessionRecord>,
    ) -> Result<Arc<SessionRecord>, ErrorBody> {
        let now = now_unix();
        if now - record.last_seen > record.idle_timeout_secs as i64 {
            let _ = self.end(&record.id).await;
            return Err(expired());
        }
        if now - record.last_seen < TOUCH_EVERY_SECS {
            return Ok(record);
        }
        let mut record = (*record).clone();
        {
            record.last_seen = now;
            let _ = self.put(&record).await;
            for child in record.children.iter().filter(|c| c.expires_at > now) {
                if let Ok(Some(entry)) = self.table.get(child.id.as_str()).await {
                    let _ = self
                        .table
                        .put(child.id.as_str(), (*entry.value).clone())
                        .await;
                }
            }
        }
        Ok(Arc::new(record))
    }

    /// Ends a session and its child tokens.
    pub async fn end(&self, id: &KeyId) -> anyhow::Result<()> {
        if let Some(record) = self.get_shared(id).await? {
            for child in &record.children {
                self.table.purge(child.id.as_str()).await?;
            }
        }
        self.table.purge(id.as_str()).await
    }
}

/// Login failures per account and per address (`symphony_login_failures`, entries expire after 15 min).
#[derive(Clone)]
pub struct Throttle {
    kv: kv::Store,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Failures {
    count: u32,
    last: i64,
}

/// Failures allowed before waits start, per account and per address.
const FREE_FAILURES_PER_ACCOUNT: u32 = 3;
const FREE_FAILURES_PER_ADDRESS: u32 = 10;
/// Longest wait between attempts.
const MAX_WAIT_SECS: i64 = 60;

/// Seconds to wait after `count` failures when `free` are allowed: 1, 2, 4, … up to a minute.
pub fn wait_after(count: u32, free: u32) -> i64 {
    if count < free {
        0
    } else {
        (1i64 << (count - free).min(6)).min(MAX_WAIT_SECS)
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

    /// Refuses with `too_many_attempts` (and the seconds to wait) while an account or address must wait.
    pub async fn check(&self, username: &str, addr: &str) -> Result<(), (ErrorBody, i64)> {
        let now = now_unix();
        for (key, free) in [
            (account_key(username), FREE_FAILURES_PER_ACCOUNT),
            (address_key(addr), FREE_FAILURES_PER_ADDRESS),
        ] {
            let f = self.read(&key).await;
            let until = f.last + wait_after(f.count, free);
            if f.count >= free && now < until {
                let body = ErrorBody::new(
                    ErrorCode::TooManyAttempts,
                    "too many failed sign-ins; try again later",
                );
                return Err((body, until - now));
            }
        }
        Ok(())
    }

    pub async fn failed(&self, username: &str, addr: &str) {
        for key in [account_key(username), address_key(addr)] {
            let mut f = self.read(&key).await;
            f.count += 1;
            f.last = now_unix();
            if let Ok(bytes) = serde_json::to_vec(&f) {
                let _ = self.kv.put(&key, bytes.into()).await;
            }
        }
    }

    pub async fn succeeded(&self, username: &str) {
        let _ = self.kv.purge(account_key(username)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_cap() {
        assert_eq!(wait_after(2, 3), 0);
        assert_eq!(wait_after(3, 3), 1);
        assert_eq!(wait_after(5, 3), 4);
        assert_eq!(wait_after(30, 3), MAX_WAIT_SECS);
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

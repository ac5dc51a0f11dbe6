//! Sessions of signed-in users (`symphony_sessions`): a session token has the token format, idle
//! timeout is enforced on every use, and login failures are throttled per account and per address.

use std::time::Duration;

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};
use symphony_protocol::{ErrorBody, ErrorCode, KeyId, Token};

use crate::clock::now_unix;

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
}

/// Shortest and longest idle timeout an operator may configure.
pub const IDLE_RANGE: (Duration, Duration) =
    (Duration::from_secs(5 * 60), Duration::from_secs(8 * 3600));
/// A session is written back at most this often (its bucket TTL keeps idle ones from piling up).
const TOUCH_EVERY_SECS: i64 = 30;

/// The `symphony_sessions` bucket.
#[derive(Clone)]
pub struct SessionStore {
    kv: kv::Store,
    pub idle_timeout: Duration,
}

fn expired() -> ErrorBody {
    ErrorBody::new(ErrorCode::SessionExpired, "the session has ended").with_hint("sign in again")
}

impl SessionStore {
    pub fn new(kv: kv::Store, idle_timeout: Duration) -> Self {
        SessionStore { kv, idle_timeout }
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
        };
        self.kv
            .put(id.as_str(), serde_json::to_vec(&record)?.into())
            .await?;
        Ok((record, token))
    }

    pub async fn get(&self, id: &KeyId) -> anyhow::Result<Option<SessionRecord>> {
        Ok(match self.kv.get(id.as_str()).await? {
            Some(v) => Some(serde_json::from_slice(&v)?),
            None => None,
        })
    }

    pub async fn put(&self, record: &SessionRecord) -> anyhow::Result<()> {
        self.kv
            .put(record.id.as_str(), serde_json::to_vec(record)?.into())
            .await?;
        Ok(())
    }

    /// Verifies a session token; `Ok(None)` when no session has this id (it may be an API key).
    pub async fn verify(&self, token: &Token) -> Result<Option<SessionRecord>, ErrorBody> {
        let Some(mut record) = self.get(&token.key_id).await.map_err(|e| {
            ErrorBody::new(
                ErrorCode::NatsUnavailable,
                format!("cannot read sessions: {e}"),
            )
        })?
        else {
            return Ok(None);
        };
        if !token.matches_hash(&record.secret_hash) {
            return Err(ErrorBody::new(
                ErrorCode::InvalidToken,
                "the token is not valid",
            ));
        }
        let now = now_unix();
        if now - record.last_seen > record.idle_timeout_secs as i64 {
            let _ = self.end(&record.id).await;
            return Err(expired());
        }
        if now - record.last_seen >= TOUCH_EVERY_SECS {
            record.last_seen = now;
            let _ = self.put(&record).await;
        }
        Ok(Some(record))
    }

    pub async fn end(&self, id: &KeyId) -> anyhow::Result<()> {
        self.kv.purge(id.as_str()).await?;
        Ok(())
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

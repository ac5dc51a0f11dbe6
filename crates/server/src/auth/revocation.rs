//! Revocation enforced by nats-server: revoked user nkeys go into `symphony_revocations`, and every
//! replica re-pushes the application account JWT (with all revocations) whenever that bucket changes,
//! so live connections are dropped and reconnects refused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::kv;
use futures::StreamExt;
use symphony_protocol::time::now_unix;

use crate::bus::connect::push_account_jwt;
use crate::identity::Identity;

/// The `symphony_revocations` bucket: user public key → unix time of revocation.
#[derive(Clone)]
pub struct Revocations {
    kv: kv::Store,
    identity: Arc<Identity>,
    sys: Client,
}

/// An entry is `<revoked at>` or `<revoked at> <prune after>` (unix seconds).
fn parse_entry(value: &str, now: i64) -> (i64, Option<i64>) {
    let mut parts = value.split_whitespace();
    let revoked_at = parts.next().and_then(|t| t.parse().ok()).unwrap_or(now);
    (revoked_at, parts.next().and_then(|t| t.parse().ok()))
}

impl Revocations {
    pub fn new(kv: kv::Store, identity: Arc<Identity>, sys: Client) -> Self {
        Revocations { kv, identity, sys }
    }

    /// Every revocation still needed; entries whose credentials have all expired are pruned.
    pub async fn all(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        let now = now_unix();
        let mut out = BTreeMap::new();
        let mut keys = self.kv.keys().await?;
        while let Some(k) = keys.next().await {
            let k = k?;
            let Some(v) = self.kv.get(&k).await? else {
                continue;
            };
            let (revoked_at, prune_after) = parse_entry(&String::from_utf8_lossy(&v), now);
            if prune_after.is_some_and(|t| t < now) {
                let _ = self.kv.purge(&k).await;
                continue;
            }
            out.insert(k, revoked_at);
        }
        Ok(out)
    }

    /// Revokes every JWT issued to `user_public_key` up to now, and pushes the account at once.
    pub async fn revoke(&self, user_public_key: &str) -> anyhow::Result<()> {
        self.kv
            .put(user_public_key, now_unix().to_string().into())
            .await?;
        self.push().await
    }

    /// Revokes short-lived credentials (browser NATS credentials) whose JWTs expire by `expires_at`:
    /// after that the entry is dropped, so the account JWT does not grow with every sign-out.
    pub async fn revoke_until(&self, user_public_key: &str, expires_at: i64) -> anyhow::Result<()> {
        self.kv
            .put(
                user_public_key,
                format!("{} {expires_at}", now_unix()).into(),
            )
            .await?;
        self.push().await
    }

    /// Pushes the application account JWT with every revocation.
    pub async fn push(&self) -> anyhow::Result<()> {
        let jwt = self.identity.account_jwt(self.all().await?)?;
        push_account_jwt(&self.sys, &jwt).await
    }

    /// Re-pushes after every change any replica makes, so all replicas converge on the full set.
    pub fn spawn_follow(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(mut watch) = this.kv.watch(">").await {
                    while let Some(entry) = watch.next().await {
                        if entry.is_err() {
                            break;
                        }
                        if let Err(e) = this.push().await {
                            tracing::warn!(error = %e, "cannot push revocations");
                        }
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::parse_entry;

    #[test]
    fn entries_with_and_without_prune_time() {
        assert_eq!(parse_entry("100", 5), (100, None));
        assert_eq!(parse_entry("100 900", 5), (100, Some(900)));
        assert_eq!(parse_entry("garbage", 5), (5, None));
    }
}

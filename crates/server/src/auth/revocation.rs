//! Revocation enforced by nats-server: revoked user nkeys go into `symphony_revocations`, and every
//! replica re-pushes the application account JWT (with all revocations) whenever that bucket changes,
//! so live connections are dropped and reconnects refused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::kv;
use futures::StreamExt;

use super::identity::Identity;
use crate::bus::connect::push_account_jwt;
use crate::clock::now_unix;

/// The `symphony_revocations` bucket: user public key → unix time of revocation.
#[derive(Clone)]
pub struct Revocations {
    kv: kv::Store,
    identity: Arc<Identity>,
    sys: Client,
}

impl Revocations {
    pub fn new(kv: kv::Store, identity: Arc<Identity>, sys: Client) -> Self {
        Revocations { kv, identity, sys }
    }

    pub async fn all(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        let mut out = BTreeMap::new();
        let mut keys = self.kv.keys().await?;
        while let Some(k) = keys.next().await {
            let k = k?;
            if let Some(v) = self.kv.get(&k).await? {
                out.insert(
                    k,
                    String::from_utf8_lossy(&v)
                        .parse()
                        .unwrap_or_else(|_| now_unix()),
                );
            }
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

//! Revocation enforced by nats-server: revoked user nkeys go into `symphony_revocations` under
//! `<account public key>.<user public key>`, and the account's JWT carries them (the accounts
//! module pushes it), so live connections are dropped and reconnects refused.

use std::collections::BTreeMap;

use symphony_protocol::time::now_unix;

use crate::bus::table::{Table, Text};
use crate::identity::{Account, Identity};

/// The `symphony_revocations` bucket.
#[derive(Clone)]
pub struct Revocations {
    table: Table<String, Text>,
}

/// The date of a revocation for good: 9999-12-31, after every JWT that will ever be issued.
pub const FOREVER: i64 = 253_402_300_799;

/// An entry is `<revoked at>` or `<revoked at> <prune after>` (unix seconds).
fn parse_entry(value: &str, now: i64) -> (i64, Option<i64>) {
    let mut parts = value.split_whitespace();
    let revoked_at = parts.next().and_then(|t| t.parse().ok()).unwrap_or(now);
    (revoked_at, parts.next().and_then(|t| t.parse().ok()))
}

impl Revocations {
    pub fn new(table: Table<String, Text>) -> Self {
        Revocations { table }
    }

    /// Every revocation still needed, by account public key; entries whose credentials have all
    /// expired are pruned, and entries of the single account before accounts per extension (no
    /// account in the key) are dropped: those users' JWTs are refused anyway.
    pub async fn by_account(&self) -> anyhow::Result<BTreeMap<String, BTreeMap<String, i64>>> {
        let now = now_unix();
        let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for (key, entry) in self.table.all().await? {
            let (revoked_at, prune_after) = parse_entry(&entry.value, now);
            let Some((account, user)) = key.split_once('.') else {
                let _ = self.table.purge(&key).await;
                continue;
            };
            if prune_after.is_some_and(|t| t < now) {
                let _ = self.table.purge(&key).await;
                continue;
            }
            out.entry(account.to_owned())
                .or_default()
                .insert(user.to_owned(), revoked_at);
        }
        Ok(out)
    }

    /// Records that every JWT of `user` in `account` is revoked for good, also one minted after
    /// this instant (an exchange that checked the key a moment before its revocation): the entry
    /// is dated [`FOREVER`]. For the nkey of a revoked key, never used again. The caller pushes the
    /// account (`Auth::sync_accounts`).
    pub async fn revoke(
        &self,
        identity: &Identity,
        account: &Account,
        user: &str,
    ) -> anyhow::Result<()> {
        self.record(identity, account, user, FOREVER.to_string())
            .await
    }

    /// The time of `user`'s revocation entry in `account`, if it has one (from the mirror when it
    /// holds the entry, else from the KV).
    pub async fn revoked_at(
        &self,
        identity: &Identity,
        account: &Account,
        user: &str,
    ) -> anyhow::Result<Option<i64>> {
        let key = format!("{}.{user}", identity.account_public(account));
        let now = now_unix();
        Ok(self
            .table
            .read_or_fetch(&key)
            .await?
            .map(|entry| parse_entry(&entry.value, now).0))
    }

    /// Like [`Revocations::revoke`] for short-lived credentials (browser NATS credentials) whose
    /// JWTs expire by `expires_at`: after that the entry is dropped, so the account JWT does not
    /// grow with every sign-out.
    pub async fn revoke_until(
        &self,
        identity: &Identity,
        account: &Account,
        user: &str,
        expires_at: i64,
    ) -> anyhow::Result<()> {
        self.record(
            identity,
            account,
            user,
            format!("{} {expires_at}", now_unix()),
        )
        .await
    }

    /// Stores an entry (see [`parse_entry`]) under `<account public key>.<user>`, by
    /// compare-and-swap: a revocation for good is never replaced (by a capability edit's entry
    /// that is pruned later, racing the key's revocation).
    async fn record(
        &self,
        identity: &Identity,
        account: &Account,
        user: &str,
        entry: String,
    ) -> anyhow::Result<()> {
        let key = format!("{}.{user}", identity.account_public(account));
        loop {
            let stored = match self.table.get(&key).await? {
                None => self.table.create(&key, entry.clone()).await?,
                Some(current) if parse_entry(&current.value, 0).0 == FOREVER => return Ok(()),
                Some(current) => {
                    self.table
                        .update(&key, entry.clone(), current.revision)
                        .await?
                }
            };
            if stored.is_some() {
                return Ok(());
            }
        }
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

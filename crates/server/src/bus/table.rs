//! A typed key-value table: one JetStream KV bucket whose values are `T`, optionally with an
//! in-memory mirror kept by one watcher. Keys, users, roles, sessions, registry records, instance
//! status and bucket owners are all tables; nothing else watches their buckets.
//!
//! # The mirror's consistency model (docs/protocol.md §6)
//!
//! - **Readiness.** The watcher starts with history (`>`: the latest value of every key, then every
//!   change). Until it has delivered the bucket's history (an entry with `delta == 0`, or no
//!   message in the bucket when the watch began) the mirror is *not ready*, and readers read the KV,
//!   so a fresh server never answers from an empty or partial mirror. When a watch ends (an error,
//!   the stream gone) the mirror is cleared and marked not ready, and a new watch rebuilds it.
//! - **Revision order.** A value is applied unless the mirror holds a newer revision of its key.
//! - **Write-through.** Writes made through the table are applied at once with the revision the
//!   server answered, so this replica reads its own writes; the watcher's later delivery of that
//!   revision, or of an older one, cannot move the key back. Other replicas see it within
//!   milliseconds, through their watch.
//! - **Expiry.** Entries expire by the bucket's max age without any watch notification. The mirror
//!   keeps the time nats-server stored each entry and at read time treats an entry at least max age
//!   old as gone (the bucket's own rule).
//! - **Changes.** Every change a reader can see, and every readiness change, bumps a [`Changes`]
//!   counter that several tables may share.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use symphony_protocol::time::{elapsed, now_nanos};
use tokio::sync::watch;

/// While a watcher still owes history, how long it may stay silent before the watch is begun
/// again (the history it announced may have expired before delivery).
const HISTORY_STALL: Duration = Duration::from_secs(5);

/// How a table's values are stored.
pub trait Codec<T>: Send + Sync + 'static {
    fn decode(bytes: &[u8]) -> anyhow::Result<T>;
    fn encode(value: &T) -> anyhow::Result<Bytes>;
}

/// Values are JSON documents.
pub struct Json;

impl<T: Serialize + DeserializeOwned> Codec<T> for Json {
    fn decode(bytes: &[u8]) -> anyhow::Result<T> {
        Ok(serde_json::from_slice(bytes)?)
    }

    fn encode(value: &T) -> anyhow::Result<Bytes> {
        Ok(serde_json::to_vec(value)?.into())
    }
}

/// Values are UTF-8 text as stored (bucket owners).
pub struct Text;

impl Codec<String> for Text {
    fn decode(bytes: &[u8]) -> anyhow::Result<String> {
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn encode(value: &String) -> anyhow::Result<Bytes> {
        Ok(Bytes::copy_from_slice(value.as_bytes()))
    }
}

/// A value with the revision it was stored at and when nats-server stored it.
#[derive(Debug)]
pub struct Versioned<T> {
    pub value: Arc<T>,
    pub revision: u64,
    /// Nanoseconds since the Unix epoch.
    pub stored: i128,
}

impl<T> Clone for Versioned<T> {
    fn clone(&self) -> Self {
        Versioned {
            value: self.value.clone(),
            revision: self.revision,
            stored: self.stored,
        }
    }
}

/// A change counter readers can wait on; shared by the tables whose changes one reader follows.
#[derive(Clone, Debug)]
pub struct Changes(Arc<watch::Sender<u64>>);

impl Default for Changes {
    fn default() -> Self {
        Changes(Arc::new(watch::Sender::new(0)))
    }
}

impl Changes {
    fn notify(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// The mirror's value of one key.
#[derive(Debug)]
struct Slot<T> {
    revision: u64,
    stored: i128,
    /// `None`: deleted, purged, or unreadable.
    value: Option<Arc<T>>,
}

#[derive(Debug)]
struct State<T> {
    entries: BTreeMap<String, Slot<T>>,
    ready: bool,
    /// The bucket's max age; zero: entries never expire.
    max_age: Duration,
}

impl<T> State<T> {
    fn expired(&self, now: i128, stored: i128) -> bool {
        !self.max_age.is_zero() && elapsed(now, stored) >= self.max_age
    }

    fn live(&self, slot: &Slot<T>, now: i128) -> Option<Versioned<T>> {
        let value = slot.value.clone()?;
        (!self.expired(now, slot.stored)).then_some(Versioned {
            value,
            revision: slot.revision,
            stored: slot.stored,
        })
    }
}

/// The in-memory copy of one bucket.
#[derive(Debug)]
pub struct Mirror<T> {
    bucket: String,
    state: RwLock<State<T>>,
    changes: Changes,
}

impl<T> Mirror<T> {
    pub fn new(bucket: &str, changes: Changes) -> Self {
        Mirror {
            bucket: bucket.to_owned(),
            state: RwLock::new(State {
                entries: BTreeMap::new(),
                ready: false,
                max_age: Duration::ZERO,
            }),
            changes,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State<T>> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State<T>> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_ready(&self) -> bool {
        self.read().ready
    }

    /// The bucket's max age (zero: entries never expire).
    pub fn set_max_age(&self, max_age: Duration) {
        self.write().max_age = max_age;
    }

    /// The whole history has been applied: readers may use the mirror.
    pub fn mark_ready(&self) {
        let mut state = self.write();
        if !state.ready {
            state.ready = true;
            drop(state);
            tracing::info!(bucket = %self.bucket, "mirror ready");
            self.changes.notify();
        }
    }

    /// Forgets everything until a new watch has delivered the history again.
    pub fn reset(&self) {
        let mut state = self.write();
        state.entries.clear();
        state.ready = false;
        drop(state);
        self.changes.notify();
    }

    /// Applies `value` (`None`: a delete, a purge, or unreadable) of `key` at `revision`, stored at
    /// `stored`; with `history_done` the mirror becomes ready. Entries expired by `now` are dropped.
    pub fn apply(
        &self,
        key: &str,
        revision: u64,
        stored: i128,
        value: Option<T>,
        history_done: bool,
        now: i128,
    ) {
        let mut state = self.write();
        let slot = Slot {
            revision,
            stored,
            value: value.map(Arc::new),
        };
        let changed = match state.entries.get_mut(key) {
            Some(held) if held.revision > revision => false,
            Some(held) => {
                *held = slot;
                true
            }
            None => {
                state.entries.insert(key.to_owned(), slot);
                true
            }
        };
        if !state.max_age.is_zero() {
            let max_age = state.max_age;
            state
                .entries
                .retain(|_, s| elapsed(now, s.stored) < max_age);
        }
        let became_ready = history_done && !state.ready;
        state.ready |= history_done;
        let visible = state.ready && changed;
        drop(state);
        if became_ready {
            tracing::info!(bucket = %self.bucket, "mirror ready");
        }
        if visible || became_ready {
            self.changes.notify();
        }
    }

    /// The live entry of `key`; `None` until ready, `Some(None)` when absent or expired.
    pub fn get(&self, key: &str, now: i128) -> Option<Option<Versioned<T>>> {
        let state = self.read();
        state.ready.then(|| {
            state
                .entries
                .get(key)
                .and_then(|slot| state.live(slot, now))
        })
    }

    /// Every live entry by key; `None` until ready.
    pub fn all(&self, now: i128) -> Option<Vec<(String, Versioned<T>)>> {
        let state = self.read();
        state.ready.then(|| {
            state
                .entries
                .iter()
                .filter_map(|(key, slot)| Some((key.clone(), state.live(slot, now)?)))
                .collect()
        })
    }

    /// How long from `now` until the next entry for which `counts` holds expires; `None` when none
    /// will (or the mirror is not ready).
    pub fn next_expiry(&self, now: i128, counts: impl Fn(&T) -> bool) -> Option<Duration> {
        let state = self.read();
        if !state.ready || state.max_age.is_zero() {
            return None;
        }
        state
            .entries
            .values()
            .filter(|s| s.value.as_deref().is_some_and(&counts))
            .filter(|s| !state.expired(now, s.stored))
            .map(|s| state.max_age.saturating_sub(elapsed(now, s.stored)))
            .min()
    }
}

/// One bucket of `T`s, stored with codec `C`; cheap to clone.
pub struct Table<T, C = Json> {
    kv: kv::Store,
    mirror: Option<Arc<Mirror<T>>>,
    codec: PhantomData<fn() -> C>,
}

impl<T, C> Clone for Table<T, C> {
    fn clone(&self) -> Self {
        Table {
            kv: self.kv.clone(),
            mirror: self.mirror.clone(),
            codec: PhantomData,
        }
    }
}

impl<T, C> Table<T, C>
where
    T: Send + Sync + 'static,
    C: Codec<T>,
{
    /// A table read and written straight through the KV (one-shot CLI commands).
    pub fn new(kv: kv::Store) -> Self {
        Table {
            kv,
            mirror: None,
            codec: PhantomData,
        }
    }

    /// Keeps a mirror of the bucket, announcing its changes on `changes`, for as long as the
    /// process runs (the server).
    pub fn mirrored(mut self, changes: &Changes) -> Self {
        let mirror = Arc::new(Mirror::new(&self.kv.name, changes.clone()));
        self.mirror = Some(mirror.clone());
        tokio::spawn(follow::<T, C>(self.kv.clone(), mirror));
        self
    }

    /// The value of `key` from the KV itself (for compare-and-swap and ownership checks).
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Versioned<T>>> {
        // A key the KV cannot hold is absent (asking the KV is an error: `""` or `:` from a
        // request path was a 500).
        if !is_storable_key(key) {
            return Ok(None);
        }
        let Some(entry) = self.kv.entry(key).await? else {
            return Ok(None);
        };
        if entry.operation != kv::Operation::Put {
            return Ok(None);
        }
        let value = C::decode(&entry.value)
            .with_context(|| format!("unreadable value {key:?} in {}", self.kv.name))?;
        Ok(Some(Versioned {
            value: Arc::new(value),
            revision: entry.revision,
            stored: entry.created.unix_timestamp_nanos(),
        }))
    }

    /// The value of `key` from the mirror once it is ready (a key it lacks is absent), else from the
    /// KV. For lookups where a miss is the common answer (is this bearer an API key?).
    pub async fn read(&self, key: &str) -> anyhow::Result<Option<Versioned<T>>> {
        if let Some(found) = self.mirror.as_ref().and_then(|m| m.get(key, now_nanos())) {
            return Ok(found);
        }
        self.get(key).await
    }

    /// The value of `key` if the mirror holds it (no NATS round trip; `None` says nothing about
    /// the KV).
    pub fn cached(&self, key: &str) -> Option<Versioned<T>> {
        self.mirror.as_ref()?.get(key, now_nanos())?
    }

    /// The value of `key` from the mirror when it holds it, else from the KV. For keys another
    /// replica may have written a moment ago (a session or user made there).
    pub async fn read_or_fetch(&self, key: &str) -> anyhow::Result<Option<Versioned<T>>> {
        if let Some(Some(found)) = self.mirror.as_ref().and_then(|m| m.get(key, now_nanos())) {
            return Ok(Some(found));
        }
        self.get(key).await
    }

    /// Every value by key: from the mirror once it is ready, else from the KV. Unreadable values
    /// are skipped (and logged).
    pub async fn all(&self) -> anyhow::Result<Vec<(String, Versioned<T>)>> {
        if let Some(all) = self.mirror.as_ref().and_then(|m| m.all(now_nanos())) {
            return Ok(all);
        }
        self.all_from_kv().await
    }

    /// Every value by key, read from the KV itself (what another process wrote a moment ago,
    /// whatever the mirror has seen).
    pub async fn all_from_kv(&self) -> anyhow::Result<Vec<(String, Versioned<T>)>> {
        let mut names = Vec::new();
        let mut keys = self.kv.keys().await?;
        while let Some(key) = keys.next().await {
            names.push(key?);
        }
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for key in names {
            match self.get(&key).await {
                Ok(Some(v)) => out.push((key, v)),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "skipping a value"),
            }
        }
        Ok(out)
    }

    /// How long until the next value for which `counts` holds expires, when the mirror knows.
    pub fn next_expiry(&self, counts: impl Fn(&T) -> bool) -> Option<Duration> {
        self.mirror.as_ref()?.next_expiry(now_nanos(), counts)
    }

    fn remember(&self, key: &str, revision: u64, value: Option<T>) {
        if let Some(m) = &self.mirror {
            let now = now_nanos();
            // Write-through never makes a mirror ready: its history may still be on the way.
            m.apply(key, revision, now, value, false, now);
        }
    }

    /// Stores `value` under `key` only if the key holds nothing; `Ok(None)` when it does.
    pub async fn create(&self, key: &str, value: T) -> anyhow::Result<Option<u64>> {
        match self.kv.create(key, C::encode(&value)?).await {
            Ok(revision) => {
                self.remember(key, revision, Some(value));
                Ok(Some(revision))
            }
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `value` under `key` only if the key is still at `revision`; `Ok(None)` when it is not.
    pub async fn update(&self, key: &str, value: T, revision: u64) -> anyhow::Result<Option<u64>> {
        match self.kv.update(key, C::encode(&value)?, revision).await {
            Ok(new_revision) => {
                self.remember(key, new_revision, Some(value));
                Ok(Some(new_revision))
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes the value of `key` by compare-and-swap: `change` is applied to the latest value read
    /// from the KV and stored only if nobody wrote in between; otherwise it is applied again to what
    /// the other write left, so a change never undoes another one. `change` answers `Err` to refuse
    /// (nothing is written). Returns the stored value, or `None` when the key does not exist.
    pub async fn modify<E: From<anyhow::Error>>(
        &self,
        key: &str,
        mut change: impl FnMut(&mut T) -> Result<(), E>,
    ) -> Result<Option<T>, E>
    where
        T: Clone,
    {
        loop {
            let Some(stored) = self.get(key).await? else {
                return Ok(None);
            };
            let mut value = (*stored.value).clone();
            change(&mut value)?;
            if self
                .update(key, value.clone(), stored.revision)
                .await?
                .is_some()
            {
                return Ok(Some(value));
            }
        }
    }

    /// Stores `value` under `key`.
    pub async fn put(&self, key: &str, value: T) -> anyhow::Result<u64> {
        let revision = self.kv.put(key, C::encode(&value)?).await?;
        self.remember(key, revision, Some(value));
        Ok(revision)
    }

    /// Removes `key` and its history.
    pub async fn purge(&self, key: &str) -> anyhow::Result<()> {
        if !is_storable_key(key) {
            return Ok(()); // nothing can be stored under it
        }
        self.kv.purge(key).await?;
        self.forget(key);
        Ok(())
    }

    /// Removes `key` and its history only if the key is still at `revision`; `Ok(false)` when it
    /// is not. The purge marker it leaves is a tombstone: no compare-and-swap made against an
    /// earlier revision succeeds after it.
    pub async fn purge_at(&self, key: &str, revision: u64) -> anyhow::Result<bool> {
        match self.kv.purge_expect_revision(key, Some(revision)).await {
            Ok(()) => {
                self.forget(key);
                Ok(true)
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn forget(&self, key: &str) {
        if let Some(m) = &self.mirror
            && let Some(Some(held)) = m.get(key, now_nanos())
        {
            m.apply(key, held.revision, held.stored, None, false, now_nanos());
        }
    }
}

/// Watches `kv` into `mirror`; on every end, clears it and watches again.
async fn follow<T, C: Codec<T>>(kv: kv::Store, mirror: Arc<Mirror<T>>) {
    loop {
        match watch_into::<T, C>(&kv, &mirror).await {
            Ok(()) => tracing::info!(bucket = %kv.name, "mirror: the watch ended; watching again"),
            Err(e) => {
                tracing::warn!(bucket = %kv.name, error = %format!("{e:#}"), "mirror: watching again")
            }
        }
        mirror.reset();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn watch_into<T, C: Codec<T>>(kv: &kv::Store, mirror: &Mirror<T>) -> anyhow::Result<()> {
    let mut entries = kv.watch_with_history(">").await?;
    // Read after the watch began: no message then means no history to wait for (anything stored
    // since arrives through the watch with `delta == 0`).
    let info = kv.stream.get_info().await?;
    mirror.set_max_age(info.config.max_age);
    if info.state.messages == 0 {
        mirror.mark_ready();
    }
    loop {
        let next = if mirror.is_ready() {
            entries.next().await
        } else {
            match tokio::time::timeout(HISTORY_STALL, entries.next()).await {
                Ok(next) => next,
                Err(_) => anyhow::bail!("no history delivered within {HISTORY_STALL:?}"),
            }
        };
        let entry = match next {
            None => return Ok(()),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(entry)) => entry,
        };
        let value = match entry.operation {
            kv::Operation::Put => match C::decode(&entry.value) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!(bucket = %kv.name, key = %entry.key, error = %e, "unreadable value; skipped");
                    None
                }
            },
            _ => None,
        };
        mirror.apply(
            &entry.key,
            entry.revision,
            entry.created.unix_timestamp_nanos(),
            value,
            entry.delta == 0,
            now_nanos(),
        );
    }
}

/// Whether the KV accepts `key` (async-nats' rule: `[-/_=.a-zA-Z0-9]+`, not starting or ending
/// with `.`).
pub fn is_storable_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('.')
        && !key.ends_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'=' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_the_kv_cannot_hold_are_told_apart() {
        for ok in ["admin", "a.b", "k_1-x=/y"] {
            assert!(is_storable_key(ok), "{ok}");
        }
        for bad in ["", ":", ".a", "a.", "a b", "a*", "a>", "é"] {
            assert!(!is_storable_key(bad), "{bad:?}");
        }
    }

    const SEC: i128 = 1_000_000_000;

    fn mirror() -> (Mirror<String>, watch::Receiver<u64>) {
        let changes = Changes::default();
        let rx = changes.subscribe();
        (Mirror::new("t", changes), rx)
    }

    fn values(m: &Mirror<String>, now: i128) -> Vec<String> {
        m.all(now)
            .unwrap()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", v.value))
            .collect()
    }

    #[test]
    fn nothing_is_answered_until_the_history_is_in() {
        let (m, _) = mirror();
        assert!(m.all(0).is_none() && m.get("a", 0).is_none());
        assert!(m.next_expiry(0, |_| true).is_none());
        m.apply("b", 1, 0, Some("1".into()), false, 0);
        assert!(m.all(0).is_none(), "one more entry is pending");
        m.apply("a", 2, 0, Some("1".into()), true, 0);
        assert_eq!(values(&m, 0), ["a=1", "b=1"], "by key");

        m.reset();
        assert!(m.all(0).is_none(), "a new watch rebuilds from scratch");
        m.mark_ready();
        assert_eq!(values(&m, 0), Vec::<String>::new());
    }

    #[test]
    fn revisions_order_the_writes_and_the_watch() {
        let (m, rx) = mirror();
        m.mark_ready();
        // The table's own write arrives before the watcher delivers it.
        m.apply("a", 2, 0, Some("2".into()), false, 0);
        assert_eq!(values(&m, 0), ["a=2"]);
        assert!(rx.has_changed().unwrap());
        // The watcher catches up with revision 1, then delivers 2 itself.
        m.apply("a", 1, 0, Some("1".into()), false, 0);
        assert_eq!(values(&m, 0), ["a=2"], "an older revision never wins");
        m.apply("a", 2, 5, Some("2".into()), true, 0);
        m.apply("a", 3, 6, Some("3".into()), true, 0);
        assert_eq!(values(&m, 0), ["a=3"]);
        // A delete hides the key, and an older write-through cannot bring it back.
        m.apply("a", 4, 7, None, true, 0);
        m.apply("a", 3, 0, Some("3".into()), false, 0);
        assert_eq!(values(&m, 0), Vec::<String>::new());
        assert!(matches!(m.get("a", 0), Some(None)));
    }

    #[test]
    fn entries_expire_at_read_time_by_the_buckets_max_age() {
        let (m, _) = mirror();
        m.set_max_age(Duration::from_secs(10));
        let t0 = 1_000 * SEC;
        m.apply("a", 1, t0, Some("live".into()), false, t0);
        m.apply(
            "b",
            2,
            t0 + 4 * SEC,
            Some("idle".into()),
            true,
            t0 + 4 * SEC,
        );
        assert_eq!(values(&m, t0 + 9 * SEC), ["a=live", "b=idle"]);
        assert_eq!(values(&m, t0 + 10 * SEC), ["b=idle"], "gone at its max age");
        assert!(matches!(m.get("a", t0 + 10 * SEC), Some(None)));
        assert_eq!(values(&m, t0 + 14 * SEC), Vec::<String>::new());
        assert_eq!(values(&m, t0 - SEC).len(), 2, "a clock behind the store");

        let live = |v: &String| v == "live";
        assert_eq!(
            m.next_expiry(t0 + 3 * SEC, live),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            m.next_expiry(t0 + 11 * SEC, live),
            None,
            "a expired, b does not count"
        );
        // A new value of a renews it; expired entries are dropped on the way.
        m.apply(
            "a",
            3,
            t0 + 12 * SEC,
            Some("live".into()),
            true,
            t0 + 15 * SEC,
        );
        assert_eq!(m.read().entries.len(), 1, "b's expired entry is gone");
        let a = m.get("a", t0 + 15 * SEC).unwrap().unwrap();
        assert_eq!((a.revision, a.stored), (3, t0 + 12 * SEC));
    }

    #[test]
    fn a_zero_max_age_never_expires() {
        let (m, _) = mirror();
        m.apply("a", 1, 0, Some("x".into()), true, 0);
        assert_eq!(values(&m, 1_000_000 * SEC), ["a=x"]);
        assert_eq!(m.next_expiry(1_000_000 * SEC, |_| true), None);
    }

    #[test]
    fn changes_are_announced_only_once_ready() {
        let (m, mut rx) = mirror();
        m.apply("k", 1, 0, Some("ok".into()), false, 0);
        assert!(!rx.has_changed().unwrap(), "history, not yet ready");
        m.apply("k", 2, 0, Some("ok".into()), true, 0);
        assert!(rx.has_changed().unwrap(), "ready");
        rx.mark_unchanged();
        m.apply("k", 2, 0, Some("ok".into()), true, 0);
        assert!(rx.has_changed().unwrap(), "a redelivery may announce too");
        rx.mark_unchanged();
        m.apply("k", 1, 0, Some("error".into()), true, 0);
        assert!(!rx.has_changed().unwrap(), "an older revision is no change");
    }

    #[test]
    fn json_and_text_codecs_round_trip() {
        let bytes = <Json as Codec<Vec<u32>>>::encode(&vec![1, 2]).unwrap();
        assert_eq!(<Json as Codec<Vec<u32>>>::decode(&bytes).unwrap(), [1, 2]);
        assert!(<Json as Codec<Vec<u32>>>::decode(b"{").is_err());
        let bytes = Text::encode(&"catalog".to_owned()).unwrap();
        assert_eq!(Text::decode(&bytes).unwrap(), "catalog");
    }
}

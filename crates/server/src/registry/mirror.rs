//! An in-memory mirror of `symphony_registry` (records) and `symphony_status` (instance status),
//! so the extension list, the gateway's live set and the keys' connected instances are read
//! without a NATS round trip (docs/protocol.md §6).
//!
//! Each bucket is followed by a KV watcher with history (`>`: the latest value of every key, then
//! every change). Until a watcher has delivered its bucket's history — an entry with `delta == 0`,
//! or no message in the bucket when the watch began — that half of the mirror is *not ready* and
//! the readers in `registry/mod.rs` read the KV themselves, so a fresh server never answers from an
//! empty or partial mirror. When a watch ends (an error, the stream gone) its half is cleared and
//! marked not ready, and a new watch rebuilds it from scratch.
//!
//! Values are ordered by revision (the stream sequence): one is applied unless the mirror holds a
//! newer revision of its key, so the registration handler applies its own write at once
//! (write-through) and the watcher's later delivery of that revision, or of an older one, cannot
//! move the key back.
//!
//! Status entries expire by the bucket's max age without any watch notification. The mirror keeps
//! the time nats-server stored each entry and at read time treats an entry at least max age old
//! as gone (the bucket's own rule), and measures `since_heartbeat` from that time.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::kv;
use futures::StreamExt;
use symphony_protocol::messages::{InstanceStatus, ObservedInstance, RegistryRecord};
use tokio::sync::watch;

use super::Registry;

/// While a watcher still owes history, how long it may stay silent before the watch is begun
/// again (the history it announced may have expired before delivery).
const HISTORY_STALL: Duration = Duration::from_secs(5);

/// Nanoseconds since the Unix epoch, the unit of `kv::Entry::created`.
pub(crate) fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// The time between `stored` and `now` (zero if `stored` is in the future).
pub(crate) fn elapsed(now: i128, stored: i128) -> Duration {
    Duration::from_nanos(u64::try_from((now - stored).max(0)).unwrap_or(u64::MAX))
}

/// Which bucket a change belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Records,
    Status,
}

/// The mirror's value of one key.
#[derive(Debug, Clone)]
struct Slot<T> {
    revision: u64,
    /// When nats-server stored it (ns since the Unix epoch).
    stored: i128,
    /// `None`: deleted, purged, or unreadable.
    value: Option<T>,
}

#[derive(Debug)]
struct Half<T> {
    entries: BTreeMap<String, Slot<T>>,
    ready: bool,
}

impl<T> Default for Half<T> {
    fn default() -> Self {
        Half {
            entries: BTreeMap::new(),
            ready: false,
        }
    }
}

impl<T> Half<T> {
    /// Stores `slot` unless a newer revision of `key` is held; whether it was stored.
    fn apply(&mut self, key: &str, slot: Slot<T>) -> bool {
        match self.entries.get_mut(key) {
            Some(held) if held.revision > slot.revision => false,
            Some(held) => {
                *held = slot;
                true
            }
            None => {
                self.entries.insert(key.to_owned(), slot);
                true
            }
        }
    }

    fn reset(&mut self) {
        self.entries.clear();
        self.ready = false;
    }
}

#[derive(Debug, Default)]
struct State {
    records: Half<Arc<RegistryRecord>>,
    status: Half<InstanceStatus>,
    /// The status bucket's max age; zero: entries never expire.
    status_ttl: Duration,
}

impl State {
    /// Whether a status stored at `stored` has expired at `now`.
    fn expired(&self, now: i128, stored: i128) -> bool {
        !self.status_ttl.is_zero() && elapsed(now, stored) >= self.status_ttl
    }

    fn half_ready(&self, which: Bucket) -> bool {
        match which {
            Bucket::Records => self.records.ready,
            Bucket::Status => self.status.ready,
        }
    }
}

/// The mirror; shared by every clone of the registry.
#[derive(Debug)]
pub struct Mirror {
    state: RwLock<State>,
    /// Bumped on every change a reader can see (never while the changed half is not ready), and
    /// when a half becomes ready or is reset.
    changes: watch::Sender<u64>,
}

impl Default for Mirror {
    fn default() -> Self {
        Mirror {
            state: RwLock::default(),
            changes: watch::Sender::new(0),
        }
    }
}

impl Mirror {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes of what the mirror answers (see [`Mirror::changes`]).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn is_ready(&self, which: Bucket) -> bool {
        self.read().half_ready(which)
    }

    /// The status bucket's max age (zero: entries never expire).
    pub fn set_status_ttl(&self, ttl: Duration) {
        self.write().status_ttl = ttl;
    }

    /// The whole history of `which` has been applied: readers may use it.
    pub fn mark_ready(&self, which: Bucket) {
        let mut state = self.write();
        let half = match which {
            Bucket::Records => &mut state.records.ready,
            Bucket::Status => &mut state.status.ready,
        };
        if !*half {
            *half = true;
            drop(state);
            tracing::info!(bucket = ?which, "registry mirror ready");
            self.notify();
        }
    }

    /// Forgets `which` until a new watch has delivered its history again.
    pub fn reset(&self, which: Bucket) {
        let mut state = self.write();
        match which {
            Bucket::Records => state.records.reset(),
            Bucket::Status => state.status.reset(),
        }
        drop(state);
        self.notify();
    }

    /// Applies one watched entry; with `delta == 0` the history is complete.
    pub fn apply_entry(&self, which: Bucket, entry: &kv::Entry) {
        let value = (entry.operation == kv::Operation::Put).then_some(entry.value.as_ref());
        self.apply(
            which,
            &entry.key,
            entry.revision,
            entry.created.unix_timestamp_nanos(),
            value,
            entry.delta,
            now_nanos(),
        );
    }

    /// Applies `value` (`None`: a delete or purge) of `key` at `revision`, stored at `stored`.
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        which: Bucket,
        key: &str,
        revision: u64,
        stored: i128,
        value: Option<&[u8]>,
        delta: u64,
        now: i128,
    ) {
        let mut state = self.write();
        let changed = match which {
            Bucket::Records => {
                let value = value.and_then(|v| match serde_json::from_slice::<RegistryRecord>(v) {
                    Ok(r) => Some(Arc::new(r)),
                    Err(e) => {
                        tracing::warn!(key, error = %e, "unreadable registry record; not listed");
                        None
                    }
                });
                state.records.apply(
                    key,
                    Slot {
                        revision,
                        stored,
                        value,
                    },
                )
            }
            Bucket::Status => {
                let value = value.and_then(|v| serde_json::from_slice::<InstanceStatus>(v).ok());
                let changed = state.status.apply(
                    key,
                    Slot {
                        revision,
                        stored,
                        value,
                    },
                );
                // Entries the bucket has expired by now go (nothing else would remove them).
                let ttl = state.status_ttl;
                if !ttl.is_zero() {
                    state
                        .status
                        .entries
                        .retain(|_, s| elapsed(now, s.stored) < ttl);
                }
                changed
            }
        };
        let became_ready = delta == 0 && !state.half_ready(which);
        if became_ready {
            match which {
                Bucket::Records => state.records.ready = true,
                Bucket::Status => state.status.ready = true,
            }
        }
        let visible = state.half_ready(which) && changed;
        drop(state);
        if became_ready {
            tracing::info!(bucket = ?which, "registry mirror ready");
        }
        if visible || became_ready {
            self.notify();
        }
    }

    /// The registration handler's own write of `record` at `revision` (write-through).
    pub fn put_record(&self, prefix: &str, revision: u64, record: RegistryRecord) {
        let mut state = self.write();
        let changed = state.records.apply(
            prefix,
            Slot {
                revision,
                stored: now_nanos(),
                value: Some(Arc::new(record)),
            },
        );
        let visible = changed && state.records.ready;
        drop(state);
        if visible {
            self.notify();
        }
    }

    /// Every record, by prefix; `None` until the history is in.
    pub fn records(&self) -> Option<Vec<Arc<RegistryRecord>>> {
        let state = self.read();
        state.records.ready.then(|| {
            state
                .records
                .entries
                .values()
                .filter_map(|s| s.value.clone())
                .collect()
        })
    }

    /// The record of `prefix` (`Some(None)`: not registered); `None` until the history is in.
    pub fn record(&self, prefix: &str) -> Option<Option<Arc<RegistryRecord>>> {
        let state = self.read();
        state.records.ready.then(|| {
            state
                .records
                .entries
                .get(prefix)
                .and_then(|s| s.value.clone())
        })
    }

    /// Every unexpired, readable status at `now` (key `<prefix>.<instance id>`), by key, with the
    /// time since nats-server stored it; `None` until the history is in.
    pub fn instances(&self, now: i128) -> Option<Vec<(String, ObservedInstance)>> {
        let state = self.read();
        state.status.ready.then(|| {
            state
                .status
                .entries
                .iter()
                .filter(|(_, s)| !state.expired(now, s.stored))
                .filter_map(|(key, s)| {
                    let status = s.value.clone()?;
                    Some((
                        key.clone(),
                        ObservedInstance {
                            status,
                            since_heartbeat: elapsed(now, s.stored),
                        },
                    ))
                })
                .collect()
        })
    }

    /// How long from `now` until the next live instance's status expires, if any does.
    pub fn next_expiry(&self, now: i128) -> Option<Duration> {
        let state = self.read();
        if !state.status.ready || state.status_ttl.is_zero() {
            return None;
        }
        state
            .status
            .entries
            .values()
            .filter(|s| s.value.as_ref().is_some_and(|v| v.state.is_live()))
            .filter(|s| !state.expired(now, s.stored))
            .map(|s| state.status_ttl.saturating_sub(elapsed(now, s.stored)))
            .min()
    }
}

impl Registry {
    /// Follows both buckets into the mirror for as long as the process runs.
    pub fn spawn_mirror(&self) {
        tokio::spawn(follow(
            self.records.clone(),
            self.mirror.clone(),
            Bucket::Records,
        ));
        tokio::spawn(follow(
            self.status.clone(),
            self.mirror.clone(),
            Bucket::Status,
        ));
    }

    /// Changes of the mirror: a status, a record, or a half becoming ready. (Status entries that
    /// expire send none; see [`Registry::next_expiry`].)
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.mirror.subscribe()
    }

    /// How long until the next live instance's status expires, when the mirror knows it.
    pub fn next_expiry(&self) -> Option<Duration> {
        self.mirror.next_expiry(now_nanos())
    }
}

/// Watches `kv` into `which` half of the mirror; on every end, clears it and watches again.
async fn follow(kv: kv::Store, mirror: Arc<Mirror>, which: Bucket) {
    loop {
        match watch_into(&kv, &mirror, which).await {
            Ok(()) => {
                tracing::info!(bucket = %kv.name, "registry mirror: the watch ended; watching again")
            }
            Err(e) => {
                tracing::warn!(bucket = %kv.name, error = %format!("{e:#}"), "registry mirror: watching again")
            }
        }
        mirror.reset(which);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn watch_into(kv: &kv::Store, mirror: &Mirror, which: Bucket) -> anyhow::Result<()> {
    let mut entries = kv.watch_with_history(">").await?;
    // Read after the watch began: no message then means no history to wait for (anything stored
    // since arrives through the watch with `delta == 0`).
    let info = kv.stream.get_info().await?;
    if which == Bucket::Status {
        mirror.set_status_ttl(info.config.max_age);
    }
    if info.state.messages == 0 {
        mirror.mark_ready(which);
    }
    loop {
        let next = if mirror.is_ready(which) {
            entries.next().await
        } else {
            match tokio::time::timeout(HISTORY_STALL, entries.next()).await {
                Ok(next) => next,
                Err(_) => anyhow::bail!("no history delivered within {HISTORY_STALL:?}"),
            }
        };
        match next {
            None => return Ok(()),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(entry)) => mirror.apply_entry(which, &entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphony_protocol::KeyId;
    use symphony_protocol::manifest::Manifest;
    use symphony_protocol::messages::InstanceState;

    const SEC: i128 = 1_000_000_000;

    fn record(prefix: &str, description: &str) -> Vec<u8> {
        let manifest = serde_json::json!({
            "manifest_version": 1, "name": prefix, "prefix": prefix, "description": description,
            "sdk": {"name": "t", "version": "0"}, "capabilities": [], "resources": [], "routes": [],
            "menus": [], "widgets": [], "buckets": [], "endpoints": []
        });
        let manifest = Manifest::parse(&serde_json::to_vec(&manifest).unwrap()).unwrap();
        serde_json::to_vec(&RegistryRecord {
            manifest,
            registered_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        })
        .unwrap()
    }

    fn status(prefix: &str, id: &KeyId, state: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "v": 1, "prefix": prefix, "instance_id": id, "name": prefix, "state": state,
            "started_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    fn descriptions(m: &Mirror) -> Vec<String> {
        m.records()
            .unwrap()
            .iter()
            .map(|r| format!("{}={}", r.manifest.prefix, r.manifest.description))
            .collect()
    }

    #[test]
    fn nothing_is_answered_until_the_history_is_in() {
        let m = Mirror::default();
        assert!(m.records().is_none() && m.record("a").is_none());
        assert!(m.instances(0).is_none() && m.next_expiry(0).is_none());
        m.apply(Bucket::Records, "b", 1, 0, Some(&record("b", "1")), 1, 0);
        assert!(m.records().is_none(), "one more entry is pending");
        m.apply(Bucket::Records, "a", 2, 0, Some(&record("a", "1")), 0, 0);
        assert_eq!(descriptions(&m), ["a=1", "b=1"], "by prefix");
        assert!(m.instances(0).is_none(), "each half has its own history");
        m.mark_ready(Bucket::Status);
        assert_eq!(m.instances(0), Some(vec![]));

        m.reset(Bucket::Records);
        assert!(m.records().is_none(), "a new watch rebuilds from scratch");
        m.mark_ready(Bucket::Records);
        assert_eq!(descriptions(&m), Vec::<String>::new());
    }

    #[test]
    fn revisions_order_the_writes_and_the_watch() {
        let m = Mirror::default();
        m.mark_ready(Bucket::Records);
        let rx = m.subscribe();
        // The handler's own write arrives before the watcher delivers it.
        let r2: RegistryRecord = serde_json::from_slice(&record("a", "2")).unwrap();
        m.put_record("a", 2, r2);
        assert_eq!(descriptions(&m), ["a=2"]);
        assert!(rx.has_changed().unwrap());
        // The watcher catches up with revision 1, then delivers 2 itself.
        m.apply(Bucket::Records, "a", 1, 0, Some(&record("a", "1")), 1, 0);
        assert_eq!(descriptions(&m), ["a=2"], "an older revision never wins");
        m.apply(Bucket::Records, "a", 2, 5, Some(&record("a", "2")), 0, 0);
        m.apply(Bucket::Records, "a", 3, 6, Some(&record("a", "3")), 0, 0);
        assert_eq!(descriptions(&m), ["a=3"]);
        // A delete hides the key, and an older write-through cannot bring it back.
        m.apply(Bucket::Records, "a", 4, 7, None, 0, 0);
        let r3: RegistryRecord = serde_json::from_slice(&record("a", "3")).unwrap();
        m.put_record("a", 3, r3);
        assert_eq!(descriptions(&m), Vec::<String>::new());
        assert_eq!(m.record("a"), Some(None));
    }

    #[test]
    fn statuses_expire_at_read_time_by_the_buckets_max_age() {
        let m = Mirror::default();
        m.set_status_ttl(Duration::from_secs(10));
        let (a, b) = (KeyId::generate(), KeyId::generate());
        let t0 = 1_000 * SEC;
        m.apply(
            Bucket::Status,
            &format!("hello.{a}"),
            1,
            t0,
            Some(&status("hello", &a, "ok")),
            1,
            t0,
        );
        m.apply(
            Bucket::Status,
            &format!("hello.{b}"),
            2,
            t0 + 4 * SEC,
            Some(&status("hello", &b, "disconnected")),
            0,
            t0 + 4 * SEC,
        );
        let at = |t: i128| -> Vec<(String, u64)> {
            m.instances(t)
                .unwrap()
                .into_iter()
                .map(|(_, i)| {
                    (
                        i.status.instance_id.to_string(),
                        i.since_heartbeat.as_secs(),
                    )
                })
                .collect()
        };
        let mut both = vec![(a.to_string(), 9), (b.to_string(), 5)];
        both.sort_by(|x, y| format!("hello.{}", x.0).cmp(&format!("hello.{}", y.0)));
        assert_eq!(at(t0 + 9 * SEC), both, "by key, with the time since stored");
        assert_eq!(
            at(t0 + 10 * SEC),
            [(b.to_string(), 6)],
            "gone at its max age, with no notification"
        );
        assert_eq!(at(t0 + 14 * SEC), Vec::<(String, u64)>::new());
        assert_eq!(at(t0 - SEC).len(), 2, "a clock behind the store");
        assert_eq!(at(t0 - SEC)[0].1, 0);

        // Only live instances count for the next expiry.
        assert_eq!(
            m.next_expiry(t0 + 3 * SEC),
            Some(Duration::from_secs(7)),
            "a's"
        );
        assert_eq!(
            m.next_expiry(t0 + 10 * SEC - 1),
            Some(Duration::from_nanos(1))
        );
        assert_eq!(m.next_expiry(t0 + 11 * SEC), None, "a expired, b not live");
        // A new status of a renews it; expired entries are dropped on the way.
        m.apply(
            Bucket::Status,
            &format!("hello.{a}"),
            3,
            t0 + 12 * SEC,
            Some(&status("hello", &a, "warning")),
            0,
            t0 + 15 * SEC,
        );
        assert_eq!(
            m.read().status.entries.len(),
            1,
            "b's expired entry is gone"
        );
        let now = m.instances(t0 + 15 * SEC).unwrap();
        assert_eq!(now.len(), 1);
        assert_eq!(now[0].1.status.state, InstanceState::Warning);
        assert_eq!(now[0].1.since_heartbeat, Duration::from_secs(3));
    }

    #[test]
    fn a_zero_max_age_never_expires_and_unreadable_statuses_are_skipped() {
        let m = Mirror::default();
        let a = KeyId::generate();
        m.apply(Bucket::Status, "x.y", 1, 0, Some(b"{not json"), 1, 0);
        m.apply(
            Bucket::Status,
            &format!("hello.{a}"),
            2,
            0,
            Some(&status("hello", &a, "ok")),
            0,
            0,
        );
        let later = 1_000_000 * SEC;
        let all = m.instances(later).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, format!("hello.{a}"));
        assert_eq!(m.next_expiry(later), None);
    }

    #[test]
    fn changes_are_announced_only_once_ready() {
        let m = Mirror::default();
        let mut rx = m.subscribe();
        let a = KeyId::generate();
        let key = format!("hello.{a}");
        m.apply(
            Bucket::Status,
            &key,
            1,
            0,
            Some(&status("hello", &a, "ok")),
            3,
            0,
        );
        assert!(!rx.has_changed().unwrap(), "history, not yet ready");
        m.apply(
            Bucket::Status,
            &key,
            2,
            0,
            Some(&status("hello", &a, "ok")),
            0,
            0,
        );
        assert!(rx.has_changed().unwrap(), "ready");
        rx.mark_unchanged();
        m.apply(
            Bucket::Status,
            &key,
            2,
            0,
            Some(&status("hello", &a, "ok")),
            0,
            0,
        );
        assert!(rx.has_changed().unwrap(), "a redelivery may announce too");
        rx.mark_unchanged();
        m.apply(
            Bucket::Status,
            &key,
            1,
            0,
            Some(&status("hello", &a, "error")),
            0,
            0,
        );
        assert!(!rx.has_changed().unwrap(), "an older revision is no change");
    }
}

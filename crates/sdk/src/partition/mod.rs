//! Work partitioning (docs/protocol.md §12.4): the [`WorkPartitioner`] handle an extension asks
//! `is_my_work`, `fence` and `fenced_put`, over the claim state of `symphony_protocol::partition::Member`;
//! the I/O that feeds that state (buckets, watchers, the claim loop) lives in `claims.rs`.
//!
//! Not here: who owns a key and when a claim holds — that logic is the protocol crate's, shared with the
//! simulation in `bench/`.

mod claims;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_nats::HeaderMap;
use async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE;
use async_nats::jetstream::{self, context::PublishErrorKind, stream::LastRawMessageErrorKind};
use bytes::Bytes;
use symphony_protocol::partition::{FENCE_HEADER, Member};

use crate::error::{Error, Result};

pub(crate) use claims::Membership;

/// How many times a fenced write is tried when other writes keep landing between its read and its write.
const FENCED_PUT_ATTEMPTS: usize = 16;

/// The rebalance callback: `(total_instances, my_item_count)`.
type OnRebalance = dyn Fn(usize, usize) + Send + Sync;

/// What the handles and the claim loop share.
struct Shared {
    /// The origin of the member's monotonic clock.
    epoch: Instant,
    /// Set by [`enable_work_partitioning`](crate::Extension::enable_work_partitioning).
    on_rebalance: Mutex<Option<Arc<OnRebalance>>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Present while the instance is a member (from the run's start until it stops).
    member: Option<Member>,
    /// Every key given to `is_my_work` or `track`, and not forgotten.
    tracked: HashSet<String>,
    /// JetStream on the session's connection, for fenced writes.
    js: Option<jetstream::Context>,
    /// The last `(total_instances, my_item_count)` given to the callback.
    reported: Option<(usize, usize)>,
}

/// A cloneable handle on this instance's share of the work (docs/protocol.md §12.4), from
/// [`Extension::work_partitioner`](crate::Extension::work_partitioner). Owns nothing until
/// [`enable_work_partitioning`](crate::Extension::enable_work_partitioning) was called and the running
/// extension's first claim completed; nothing again once the run stops.
///
/// Re-evaluate ownership on every pass of a work loop rather than caching it: when instances join or
/// leave, `is_my_work` answers change.
///
/// ```no_run
/// use cirata_symphony::Extension;
///
/// # async fn demo() -> cirata_symphony::Result<()> {
/// let mut ext = Extension::new("Replicator", "replicator");
/// ext.enable_work_partitioning(|total, mine| {
///     println!("rebalanced: {total} instances, I own {mine} items");
/// });
/// let partitioner = ext.work_partitioner();
/// tokio::spawn(async move {
///     loop {
///         for key in ["orders", "invoices", "customers"] {
///             if partitioner.is_my_work(key) {
///                 // process the item
///             }
///         }
///         tokio::time::sleep(std::time::Duration::from_secs(1)).await;
///     }
/// });
/// ext.run().await
/// # }
/// ```
#[derive(Clone)]
pub struct WorkPartitioner {
    shared: Arc<Shared>,
}

impl fmt::Debug for WorkPartitioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("WorkPartitioner")
            .field("member", &state.member.as_ref().map(Member::id))
            .field("tracked", &state.tracked.len())
            .finish_non_exhaustive()
    }
}

impl Default for WorkPartitioner {
    fn default() -> Self {
        WorkPartitioner {
            shared: Arc::new(Shared {
                epoch: Instant::now(),
                on_rebalance: Mutex::default(),
                state: Mutex::default(),
            }),
        }
    }
}

impl WorkPartitioner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Milliseconds on this process's monotonic clock.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.shared.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Sets the rebalance callback; the extension is a member from its next run on.
    pub(crate) fn enable(&self, on_rebalance: Arc<OnRebalance>) {
        *self
            .shared
            .on_rebalance
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(on_rebalance);
    }

    /// Whether partitioning is enabled.
    pub(crate) fn is_enabled(&self) -> bool {
        self.shared
            .on_rebalance
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Whether this instance owns `key` now. Remembers `key` for
    /// [`my_item_count`](WorkPartitioner::my_item_count) until it is [`forget`](WorkPartitioner::forget)-ten.
    ///
    /// ```
    /// let ext = cirata_symphony::Extension::new("Replicator", "replicator");
    /// let partitioner = ext.work_partitioner();
    /// assert!(!partitioner.is_my_work("orders")); // not running: owns nothing
    /// ```
    pub fn is_my_work(&self, key: &str) -> bool {
        let now = self.now_ms();
        let mut state = self.state();
        if !state.tracked.contains(key) {
            state.tracked.insert(key.to_owned());
        }
        state.member.as_ref().is_some_and(|m| m.owns(key, now))
    }

    /// How many of the remembered keys this instance owns now.
    ///
    /// ```
    /// let partitioner = cirata_symphony::Extension::new("Replicator", "replicator").work_partitioner();
    /// partitioner.track(["a", "b"]);
    /// assert_eq!(partitioner.my_item_count(), 0);
    /// ```
    pub fn my_item_count(&self) -> usize {
        let now = self.now_ms();
        let state = self.state();
        state
            .member
            .as_ref()
            .map_or(0, |m| m.count_owned(&state.tracked, now))
    }

    /// Remembers `keys` (as [`is_my_work`](WorkPartitioner::is_my_work) does) without asking about them.
    ///
    /// ```
    /// let partitioner = cirata_symphony::Extension::new("Replicator", "replicator").work_partitioner();
    /// partitioner.track(["orders", "invoices"]);
    /// ```
    pub fn track<I, K>(&self, keys: I)
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        let mut state = self.state();
        state.tracked.extend(keys.into_iter().map(Into::into));
    }

    /// Stops remembering `key`.
    ///
    /// ```
    /// let partitioner = cirata_symphony::Extension::new("Replicator", "replicator").work_partitioner();
    /// partitioner.track(["orders"]);
    /// partitioner.forget("orders");
    /// ```
    pub fn forget(&self, key: &str) {
        self.state().tracked.remove(key);
    }

    /// The fencing token of the claim under which this instance owns `key` now: a later owner's token
    /// is always greater. [`Error::NotMyWork`] (code `not_my_work`) when it does not own `key`.
    ///
    /// ```
    /// use cirata_symphony::{Error, Extension};
    /// let partitioner = Extension::new("Replicator", "replicator").work_partitioner();
    /// assert!(matches!(partitioner.fence("orders"), Err(Error::NotMyWork { .. })));
    /// ```
    pub fn fence(&self, key: &str) -> Result<u64> {
        let now = self.now_ms();
        self.state()
            .member
            .as_ref()
            .and_then(|m| m.fence(key, now))
            .ok_or_else(|| Error::NotMyWork {
                key: key.to_owned(),
            })
    }

    /// Writes `value` under `key` of the KV bucket `bucket` only if `key` is this instance's now
    /// ([`Error::NotMyWork`] otherwise) and the entry's current fence is not greater than this
    /// instance's token ([`Error::FencedOut`], code `fenced_out`, otherwise): reads the entry's last
    /// message, compares its `Symphony-Fence` header, and writes with header `Symphony-Fence: <token>`
    /// and `Nats-Expected-Last-Subject-Sequence` of what it read, trying again when another write landed
    /// in between. So a paused old owner's late write cannot overwrite the new owner's. Returns the
    /// entry's new revision.
    ///
    /// ```no_run
    /// # async fn demo(partitioner: cirata_symphony::WorkPartitioner) -> cirata_symphony::Result<()> {
    /// partitioner.fenced_put("replicator_state", "orders", "offset=42").await?;
    /// # Ok(()) }
    /// ```
    pub async fn fenced_put(
        &self,
        bucket: &str,
        key: &str,
        value: impl Into<Bytes>,
    ) -> Result<u64> {
        let value = value.into();
        if !is_valid_kv_key(key) {
            return Err(kv_error(
                bucket,
                format!("{key:?} is not a valid key (letters, digits, -, /, _, = and inner dots)"),
            ));
        }
        let js = self.state().js.clone().ok_or(Error::NotConnected {
            what: "fenced_put()",
        })?;
        let stream = js
            .get_stream_no_info(format!("KV_{bucket}"))
            .await
            .map_err(|e| kv_error(bucket, e.to_string()))?;
        let subject = format!("$KV.{bucket}.{key}");
        for _ in 0..FENCED_PUT_ATTEMPTS {
            let token = self.fence(key)?;
            let (sequence, stored) = match stream.get_last_raw_message_by_subject(&subject).await {
                Ok(last) => (last.sequence, fence_of(&last.headers)),
                Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => (0, None),
                Err(e) => return Err(kv_error(bucket, e.to_string())),
            };
            check_fence(bucket, key, token, stored)?;
            let mut headers = HeaderMap::new();
            headers.insert(FENCE_HEADER, token.to_string().as_str());
            headers.insert(
                NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
                sequence.to_string().as_str(),
            );
            let acked = match js
                .publish_with_headers(subject.clone(), headers, value.clone())
                .await
            {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match acked {
                Ok(ack) => return Ok(ack.sequence),
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => continue,
                Err(e) => return Err(kv_error(bucket, e.to_string())),
            }
        }
        Err(kv_error(
            bucket,
            format!("{key:?} kept changing under {FENCED_PUT_ATTEMPTS} fenced writes; try again"),
        ))
    }

    /// The rebalance to report, if `(total, mine)` changed since the last one.
    fn take_rebalance(&self) -> Option<(Arc<OnRebalance>, usize, usize)> {
        let now = self.now_ms();
        let callback = self
            .shared
            .on_rebalance
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let mut state = self.state();
        let member = state.member.as_ref()?;
        let numbers = (member.view().len(), member.count_owned(&state.tracked, now));
        if state.reported == Some(numbers) {
            return None;
        }
        state.reported = Some(numbers);
        Some((callback, numbers.0, numbers.1))
    }

    /// Calls the rebalance callback if `(total, mine)` changed (outside every lock, so it may ask the
    /// partitioner anything).
    fn report_rebalance(&self) {
        if let Some((callback, total, mine)) = self.take_rebalance() {
            tracing::info!(total, mine, "work rebalanced");
            callback(total, mine);
        }
    }
}

/// A write with `token` over an entry fenced with `stored` is allowed unless `stored` is greater.
fn check_fence(bucket: &str, key: &str, token: u64, stored: Option<u64>) -> Result<()> {
    match stored {
        Some(stored) if stored > token => Err(Error::FencedOut {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            token,
            stored,
        }),
        _ => Ok(()),
    }
}

/// The `Symphony-Fence` of a stored message (none, or unreadable: unfenced).
fn fence_of(headers: &HeaderMap) -> Option<u64> {
    headers.get(FENCE_HEADER)?.as_str().trim().parse().ok()
}

/// A KV key as NATS allows it.
fn is_valid_kv_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('.')
        && !key.ends_with('.')
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-/_=.".contains(&c))
}

fn kv_error(bucket: &str, detail: String) -> Error {
    Error::KeyValue {
        bucket: bucket.to_owned(),
        detail,
    }
}

#[cfg(test)]
mod tests;

//! The I/O of a member (docs/protocol.md §12.4): creates the two partitioning buckets, watches the view
//! the server writes and the members' records, and claims — every `CLAIM_EVERY_MS` and at once when the
//! view or another member's record changes — completing a claim only once this member's own watcher has
//! delivered the claim's revision. A graceful leave stops owning, then deletes the record.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use symphony_protocol::partition::{
    CLAIM_EVERY_MS, MEMBERS_BUCKET, MEMBERS_MAX_AGE_SECS, Member, MemberRecord, VIEW_BUCKET,
    VIEW_KEY, View, member_key, member_of_key,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::WorkPartitioner;
use crate::error::{Error, Result};

/// How long a failed watch waits before it is made again.
const REWATCH_AFTER: Duration = Duration::from_secs(1);
/// How long a claim's put may take.
const PUT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a graceful leave waits for its record's deletion.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A running member: its claim loop, until [`leave`](Membership::leave).
pub(crate) struct Membership {
    partitioner: WorkPartitioner,
    members: kv::Store,
    me: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Opens bucket `name`, creating it (history 1, `max_age`) when it is missing. Another instance may
/// create it at the same moment: then it is opened.
async fn ensure_bucket(
    js: &jetstream::Context,
    name: &str,
    description: &str,
    max_age: Duration,
) -> Result<kv::Store> {
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    let config = kv::Config {
        bucket: name.to_owned(),
        description: description.to_owned(),
        history: 1,
        max_age,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    };
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        Err(created) => js.get_key_value(name).await.map_err(|_| Error::Partition {
            detail: format!("could not create the bucket {name}: {created}"),
        }),
    }
}

impl Membership {
    /// Makes instance `me` a member: creates the buckets if missing (before the status reports
    /// `partitioning`, so the server finds the view bucket) and starts the claim loop on `nc`.
    pub(crate) async fn start(
        partitioner: &WorkPartitioner,
        nc: &async_nats::Client,
        me: &str,
    ) -> Result<Membership> {
        let js = jetstream::new(nc.clone());
        let view = ensure_bucket(
            &js,
            VIEW_BUCKET,
            "Symphony work partitioning: the live members, written by the platform",
            Duration::ZERO,
        )
        .await?;
        let members = ensure_bucket(
            &js,
            MEMBERS_BUCKET,
            "Symphony work partitioning: the view each member acts on",
            Duration::from_secs(MEMBERS_MAX_AGE_SECS),
        )
        .await?;
        {
            let mut state = partitioner.state();
            state.member = Some(Member::new(me));
            state.js = Some(js);
            state.reported = None;
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(claim_loop(
            Loop {
                partitioner: partitioner.clone(),
                view,
                members: members.clone(),
                me: me.to_owned(),
            },
            stopped,
        ));
        tracing::info!(instance_id = %me, "work partitioning started");
        Ok(Membership {
            partitioner: partitioner.clone(),
            members,
            me: me.to_owned(),
            stop,
            task,
        })
    }

    /// Leaves gracefully: stops the claim loop, stops owning anything, then deletes this member's record
    /// so the others take its keys over at once.
    pub(crate) async fn leave(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        {
            let mut state = self.partitioner.state();
            if let Some(member) = state.member.as_mut() {
                member.release();
            }
            state.member = None;
            state.js = None;
        }
        let key = member_key(&self.me);
        match tokio::time::timeout(LEAVE_TIMEOUT, self.members.delete(&key)).await {
            Ok(Ok(())) => tracing::debug!(%key, "left the work partitioning"),
            Ok(Err(e)) => tracing::warn!(%key, error = %e, "could not delete the member record"),
            Err(_) => tracing::warn!(%key, "the member record's deletion timed out"),
        }
    }
}

/// What the claim loop works with.
struct Loop {
    partitioner: WorkPartitioner,
    view: kv::Store,
    members: kv::Store,
    me: String,
}

/// Where one watch of the two buckets stands.
#[derive(Default)]
struct Progress {
    /// The highest revision the records' watcher has delivered.
    delivered: u64,
    /// Claims put and not yet delivered back: `(seq, revision)`.
    pending: Vec<(u64, u64)>,
    /// The other members' records as last seen, to tell a change from a renewal.
    records: HashMap<String, Option<Vec<String>>>,
}

async fn claim_loop(l: Loop, mut stopped: watch::Receiver<bool>) {
    loop {
        let watched = async {
            let views = l.view.watch_with_history(VIEW_KEY).await?;
            let records = l.members.watch_with_history(">").await?;
            Ok::<_, kv::WatchError>((views, records))
        }
        .await;
        let (views, records) = match watched {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "could not watch the partitioning buckets; trying again");
                tokio::select! {
                    _ = stopped.changed() => return,
                    () = tokio::time::sleep(REWATCH_AFTER) => continue,
                }
            }
        };
        if watch_and_claim(&l, views, records, &mut stopped).await {
            return;
        }
        tokio::select! {
            _ = stopped.changed() => return,
            () = tokio::time::sleep(REWATCH_AFTER) => {}
        }
    }
}

/// Runs one watch of both buckets, claiming as it goes. `true`: stopped; `false`: a watcher ended, watch
/// again.
async fn watch_and_claim(
    l: &Loop,
    mut views: kv::Watch,
    mut records: kv::Watch,
    stopped: &mut watch::Receiver<bool>,
) -> bool {
    let every = Duration::from_millis(CLAIM_EVERY_MS);
    let mut progress = Progress::default();
    let mut next_claim = Instant::now();
    loop {
        tokio::select! {
            _ = stopped.changed() => return true,
            entry = views.next() => {
                let Some(Ok(entry)) = entry else {
                    tracing::warn!("the partition view's watcher ended; watching again");
                    return false;
                };
                if set_view(&l.partitioner, &entry) {
                    next_claim = Instant::now();
                }
            }
            entry = records.next() => {
                let Some(Ok(entry)) = entry else {
                    tracing::warn!("the member records' watcher ended; watching again");
                    return false;
                };
                if seen_record(l, &mut progress, &entry) {
                    next_claim = Instant::now();
                }
                complete_delivered(&l.partitioner, &mut progress);
            }
            () = tokio::time::sleep_until(next_claim) => {
                claim(l, &mut progress).await;
                complete_delivered(&l.partitioner, &mut progress);
                next_claim = Instant::now() + every;
            }
        }
    }
}

/// Adopts the view in `entry`; whether it changed.
fn set_view(partitioner: &WorkPartitioner, entry: &kv::Entry) -> bool {
    let members = match entry.operation {
        kv::Operation::Put => match serde_json::from_slice::<View>(&entry.value) {
            Ok(view) => view.members,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an unreadable partition view");
                return false;
            }
        },
        kv::Operation::Delete | kv::Operation::Purge => Vec::new(),
    };
    let mut state = partitioner.state();
    let Some(member) = state.member.as_mut() else {
        return false;
    };
    let before = member.view().to_vec();
    member.set_view(members);
    let changed = member.view() != before.as_slice();
    if changed {
        tracing::debug!(members = ?member.view(), "partition view changed");
    }
    changed
}

/// Takes in a member record (written or deleted); whether another member's record changed.
fn seen_record(l: &Loop, progress: &mut Progress, entry: &kv::Entry) -> bool {
    progress.delivered = progress.delivered.max(entry.revision);
    let Some(instance) = member_of_key(&entry.key) else {
        return false;
    };
    if instance == l.me {
        return false;
    }
    let members = match entry.operation {
        kv::Operation::Put => match serde_json::from_slice::<MemberRecord>(&entry.value) {
            Ok(record) => Some(record.members),
            Err(e) => {
                tracing::warn!(key = %entry.key, error = %e, "ignoring an unreadable member record");
                return false;
            }
        },
        kv::Operation::Delete | kv::Operation::Purge => None,
    };
    let now = l.partitioner.now_ms();
    if let Some(member) = l.partitioner.state().member.as_mut() {
        member.record(instance, members.clone(), now);
    }
    let before = progress
        .records
        .insert(instance.to_owned(), members.clone());
    before.as_ref() != Some(&members)
}

/// Writes a claim: the record of the current view. Its completion waits for the watcher.
async fn claim(l: &Loop, progress: &mut Progress) {
    let start = {
        let now = l.partitioner.now_ms();
        let mut state = l.partitioner.state();
        let Some(member) = state.member.as_mut() else {
            return;
        };
        member.begin_claim(now)
    };
    let payload = serde_json::to_vec(&start.record).expect("a member record always serializes");
    let key = member_key(&l.me);
    match tokio::time::timeout(PUT_TIMEOUT, l.members.put(&key, payload.into())).await {
        Ok(Ok(revision)) => progress.pending.push((start.seq, revision)),
        // The claim's outcome is unknown: the member keeps acting as if it had been written.
        Ok(Err(e)) => tracing::warn!(%key, error = %e, "could not write the claim"),
        Err(_) => tracing::warn!(%key, "the claim's write timed out"),
    }
}

/// Completes the claims the records' watcher has delivered (so every record written before them has been
/// seen), then reports a rebalance.
fn complete_delivered(partitioner: &WorkPartitioner, progress: &mut Progress) {
    let delivered = progress.delivered;
    let ready: Vec<(u64, u64)> = progress
        .pending
        .iter()
        .copied()
        .filter(|(_, revision)| *revision <= delivered)
        .collect();
    if ready.is_empty() {
        return;
    }
    progress
        .pending
        .retain(|(_, revision)| *revision > delivered);
    let now = partitioner.now_ms();
    {
        let mut state = partitioner.state();
        let Some(member) = state.member.as_mut() else {
            return;
        };
        for (seq, revision) in ready {
            member.complete_claim(seq, revision, now);
        }
    }
    partitioner.report_rebalance();
}

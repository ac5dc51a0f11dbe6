//! One member: the real `symphony_protocol::partition::Member` and, around it, what docs/protocol.md
//! §12.4 says an SDK does — watch the view and the members bucket, claim every `CLAIM_EVERY_MS` and at
//! once when its inputs change, complete a claim only when its own watcher has delivered the put.

use std::collections::{BTreeMap, VecDeque};

use symphony_protocol::partition::{CLAIM_EVERY_MS, LEASE_MS, Member, RECORD_LIVE_MS};

use crate::model::{Clock, Mutation};
use crate::world::{Ev, World};

/// Where a member is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Handling its watchers, acknowledgements and claim timer.
    Running,
    /// Frozen (a network pause, a stop-the-world stall): handles nothing, its clock runs on.
    Paused,
    /// Left gracefully: released, record deleted.
    Left,
    /// Silent forever.
    Crashed,
}

/// A claim begun and not yet completed or failed.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    /// The member's clock just before the put was sent: the lease runs from here.
    sent_local: u64,
    /// The revision the put was stored at, once acknowledged.
    rev: Option<u64>,
}

/// One member: the real `Member` plus the SDK around it.
pub struct Node {
    /// The real claim state.
    pub member: Member,
    /// This member's own monotonic clock.
    pub clock: Clock,
    pub phase: Phase,
    /// Set whenever a call may have changed the member's answers; the checker clears it.
    pub changed: bool,
    /// Whether writes and views are delivered to it (not after it left or crashed).
    pub(crate) watching: bool,
    /// Members-bucket watcher: (ready at, index into the log), in revision order.
    pub(crate) watch_q: VecDeque<(u64, usize)>,
    /// View watcher: (ready at, members).
    pub(crate) view_q: VecDeque<(u64, Vec<String>)>,
    /// Put outcomes: (ready at, claim seq, revision or error).
    pub(crate) acks: Vec<(u64, u64, Option<u64>)>,
    /// When the last message queued on each watcher, and the last put, are due: each watcher and the
    /// connection keep their order.
    pub(crate) last_watch_ready: u64,
    pub(crate) last_view_ready: u64,
    pub(crate) last_store: u64,
    /// The last revision the members-bucket watcher delivered.
    pub(crate) watch_pos: u64,
    /// Claims in flight, by `ClaimStart::seq`.
    pub(crate) claims: BTreeMap<u64, Claim>,
    /// When (on its clock) the periodic claim is due; `None` before the first claim.
    pub(crate) next_claim_local: Option<u64>,
    /// What the member was last told of each other member's record.
    pub(crate) fed: BTreeMap<String, Vec<String>>,
    /// The view or another member's record changed: claim at the end of this step.
    pub(crate) change_pending: bool,
    /// The earliest wake-up already scheduled.
    pub(crate) wake_at: Option<u64>,
}

impl Node {
    /// The earliest thing this member has to handle (only those due by `now` when `only_due`).
    pub(crate) fn next_item(&self, now: u64, only_due: bool) -> Option<(u64, Item)> {
        let timer = self
            .next_claim_local
            .map(|l| (self.clock.global_at(l), Item::Timer));
        let ack = self
            .acks
            .iter()
            .enumerate()
            .min_by_key(|(_, a)| a.0)
            .map(|(i, a)| (a.0, Item::Ack(i)));
        [
            self.view_q.front().map(|v| (v.0, Item::View)),
            self.watch_q.front().map(|w| (w.0, Item::Watch)),
            ack,
            timer,
        ]
        .into_iter()
        .flatten()
        .filter(|(t, _)| !only_due || *t <= now)
        .min_by_key(|(t, _)| *t)
    }
}

/// What a member handles next.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Item {
    View,
    Watch,
    Ack(usize),
    Timer,
}

impl World {
    /// A running member handles everything that is due, checking after each step, then claims if its
    /// inputs changed.
    pub(crate) fn wake(&mut self, i: usize) {
        if self.nodes[i].wake_at.is_some_and(|w| w <= self.now) {
            self.nodes[i].wake_at = None;
        }
        if self.nodes[i].phase != Phase::Running {
            return;
        }
        while let Some((_, item)) = self.nodes[i].next_item(self.now, true) {
            self.handle(i, item);
            self.check();
        }
        if self.nodes[i].change_pending {
            self.nodes[i].change_pending = false;
            self.begin_claim(i);
            self.check();
        }
        if let Some((at, _)) = self.nodes[i].next_item(self.now, false) {
            self.schedule_wake(i, at);
        }
    }

    fn handle(&mut self, i: usize, item: Item) {
        let local = self.nodes[i].clock.local_ms(self.now);
        match item {
            Item::View => {
                let node = &mut self.nodes[i];
                let (_, view) = node.view_q.pop_front().expect("due");
                if view != node.member.view() {
                    node.member.set_view(view);
                    node.changed = true;
                    node.change_pending = true;
                }
            }
            Item::Watch => {
                let (_, idx) = self.nodes[i].watch_q.pop_front().expect("due");
                let e = &self.kv[idx];
                let seen_at = match self.mutation {
                    Mutation::RecordLiveForLease => local.saturating_sub(RECORD_LIVE_MS - LEASE_MS),
                    _ => local,
                };
                let node = &mut self.nodes[i];
                node.watch_pos = e.rev;
                let ignored = self.mutation == Mutation::IgnoreRecords;
                if !ignored {
                    node.member.record(&e.instance, e.value.clone(), seen_at);
                }
                let mut lapse = None;
                if !ignored && e.instance != node.member.id() {
                    let differs = match (&e.value, node.fed.get(&e.instance)) {
                        (Some(v), Some(f)) => v != f,
                        (None, None) => false,
                        _ => true,
                    };
                    match &e.value {
                        Some(v) => {
                            node.fed.insert(e.instance.clone(), v.clone());
                            lapse = Some(node.clock.global_at(seen_at + RECORD_LIVE_MS));
                        }
                        None => {
                            node.fed.remove(&e.instance);
                        }
                    }
                    if differs {
                        node.changed = true;
                        node.change_pending = true;
                    }
                }
                if let Some(at) = lapse {
                    self.push(at, Ev::Check);
                }
                self.try_complete(i);
            }
            Item::Ack(a) => {
                let (_, seq, rev) = self.nodes[i].acks.swap_remove(a);
                match rev {
                    Some(rev) => {
                        if let Some(c) = self.nodes[i].claims.get_mut(&seq) {
                            c.rev = Some(rev);
                        }
                        if self.mutation == Mutation::NoOwnPutWait {
                            self.complete(i, seq);
                        } else {
                            self.try_complete(i);
                        }
                    }
                    None => {
                        self.nodes[i].claims.remove(&seq);
                    }
                }
            }
            Item::Timer => {
                self.nodes[i].next_claim_local = Some(local + CLAIM_EVERY_MS);
                self.begin_claim(i);
            }
        }
    }

    /// Completes the latest acknowledged claim the watcher has delivered (earlier ones are superseded).
    fn try_complete(&mut self, i: usize) {
        let node = &self.nodes[i];
        let seq = node
            .claims
            .iter()
            .filter(|(_, c)| c.rev.is_some_and(|r| r <= node.watch_pos))
            .map(|(s, _)| *s)
            .max();
        if let Some(seq) = seq {
            self.complete(i, seq);
        }
    }

    fn complete(&mut self, i: usize, seq: u64) {
        let local = self.nodes[i].clock.local_ms(self.now);
        let node = &mut self.nodes[i];
        let Some(claim) = node.claims.get(&seq).cloned() else {
            return;
        };
        let Some(rev) = claim.rev else { return };
        node.member.complete_claim(seq, rev, local);
        node.changed = true;
        node.claims.retain(|s, _| *s > seq);
        self.counts.claims_completed += 1;
        let lease_end = node.clock.global_at(claim.sent_local + LEASE_MS);
        self.push(lease_end, Ev::Check);
    }

    pub(crate) fn begin_claim(&mut self, i: usize) {
        self.counts.claims_begun += 1;
        let local = self.nodes[i].clock.local_ms(self.now);
        let node = &mut self.nodes[i];
        let start = node.member.begin_claim(local);
        node.claims.insert(
            start.seq,
            Claim {
                sent_local: local,
                rev: None,
            },
        );
        // Not `changed`: the claim writes the current view, and owning a key already requires
        // owning it in the current view, so a claim's start alone changes no answer (the spot
        // checks would see it if it did).
        if node.next_claim_local.is_none() {
            node.next_claim_local = Some(local + CLAIM_EVERY_MS);
        }
        self.send_put(i, Some(start.record.members), Some(start.seq));
        let next = self.nodes[i].next_item(self.now, false).map(|(t, _)| t);
        if let Some(at) = next {
            self.schedule_wake(i, at);
        }
    }
}

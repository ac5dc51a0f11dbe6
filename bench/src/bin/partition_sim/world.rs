//! The simulated world: the members bucket (one ordered log of writes, revision = position), the
//! server that writes the view, the network between them and the members, and the event loop that
//! runs it all on one global clock, calling the checker after every step.
//!
//! The network: every put travels to the bucket (in order per member, as on one connection), may be
//! lost (an error after a timeout), or stored with its acknowledgement lost (an error, yet the record is
//! there); every watcher — one per member for the members bucket, one for the view — delivers in order,
//! each message after its own random delay, some of them stalling 1–15 s (and everything behind them).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use serde::Serialize;
use symphony_protocol::partition::owner;

use crate::actions::{Action, Measure, Recovery};
use crate::checker::Checker;
use crate::model::{MS, Mutation, Net, SEC};
use crate::node::{Node, Phase};
use crate::rng::Rng;

/// A record write (or delete) in the members bucket.
pub(crate) struct Entry {
    pub(crate) rev: u64,
    pub(crate) instance: String,
    pub(crate) value: Option<Vec<String>>,
    pub(crate) at: u64,
}

/// A put on its way to the bucket: a claim's record (`seq` names the claim) or a leaver's delete.
pub(crate) struct Put {
    pub(crate) node: usize,
    pub(crate) value: Option<Vec<String>>,
    pub(crate) seq: Option<u64>,
    pub(crate) sent: u64,
    pub(crate) ack_lost: bool,
}

/// Something that happens at an instant of global time.
pub(crate) enum Ev {
    /// A member has something due (a delivery, an acknowledgement, its claim timer).
    Wake(usize),
    /// A put reaches the bucket.
    Store(Put),
    /// The server learns an instance's presence changed (it reported `partitioning`, or left).
    Presence { node: usize, present: bool },
    /// The server writes the view if its member list changed.
    ServerWrite,
    /// A paused member thaws.
    Resume(usize),
    /// A lease or a record's liveness runs out: check.
    Check,
    /// The 100 ms check grid.
    Grid,
    /// A scripted membership change.
    Act(Action),
}

struct Scheduled {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// What happened in one run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    /// Membership changes made.
    pub joins: u64,
    pub leaves: u64,
    pub crashes: u64,
    pub pauses: u64,
    /// Pauses long enough for the server to drop the member from the view (and take it back later).
    pub pauses_dropped: u64,
    /// Puts sent, lost before the bucket, stored with the acknowledgement lost.
    pub puts: u64,
    pub puts_lost: u64,
    pub acks_lost: u64,
    /// Watcher messages that stalled 1–15 s.
    pub watcher_stalls: u64,
    /// Views the server wrote.
    pub view_writes: u64,
    pub claims_begun: u64,
    pub claims_completed: u64,
}

/// The simulation.
pub struct World {
    /// Global time, µs.
    pub now: u64,
    pub(crate) rng: Rng,
    pub(crate) net: Net,
    pub(crate) mutation: Mutation,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    /// Every member that ever joined, by index.
    pub nodes: Vec<Node>,
    /// The members bucket: every write and delete, in revision order.
    pub(crate) kv: Vec<Entry>,
    /// The server's presence: instances reporting `partitioning`.
    pub(crate) present: BTreeSet<String>,
    /// The view the server last wrote.
    pub(crate) server_view: Vec<String>,
    pub checker: Checker,
    pub counts: Counts,
    /// Times to full ownership after the changes that ran uninterrupted.
    pub recoveries: Vec<Recovery>,
    /// Measurements cut short by the next change.
    pub interrupted: u64,
    /// The change being timed.
    pub(crate) measure: Option<Measure>,
    /// Every key's rendezvous owner among the running members (refreshed when they change).
    pub(crate) expected: Vec<usize>,
    /// Every key has been owned by exactly `expected` at some check since the running members last
    /// changed.
    pub settled_since_change: bool,
    grid_until: u64,
}

/// The grid of check instants, besides events and deadlines.
const GRID_US: u64 = 100 * MS;

impl World {
    pub fn new(rng: Rng, net: Net, mutation: Mutation, checker: Checker) -> World {
        World {
            now: 0,
            rng,
            net,
            mutation,
            queue: BinaryHeap::new(),
            seq: 0,
            nodes: Vec::new(),
            kv: Vec::new(),
            present: BTreeSet::new(),
            server_view: Vec::new(),
            checker,
            counts: Counts::default(),
            recoveries: Vec::new(),
            interrupted: 0,
            measure: None,
            expected: Vec::new(),
            settled_since_change: false,
            grid_until: 0,
        }
    }

    pub(crate) fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at: at.max(self.now),
            seq: self.seq,
            ev,
        });
    }

    /// Schedules `action` at `at`.
    pub fn schedule(&mut self, at: u64, action: Action) {
        self.push(at, Ev::Act(action));
    }

    /// Runs every event up to `until` (µs), checking on a 100 ms grid throughout.
    pub fn run(&mut self, until: u64) {
        if self.grid_until <= self.now {
            self.push(self.now, Ev::Grid);
        }
        self.grid_until = until;
        while let Some(top) = self.queue.peek() {
            if top.at > until {
                break;
            }
            let Scheduled { at, ev, .. } = self.queue.pop().expect("peeked");
            self.now = at;
            match ev {
                Ev::Wake(i) => self.wake(i),
                Ev::Store(put) => self.store(put),
                Ev::Presence { node, present } => {
                    let id = self.nodes[node].member.id().to_owned();
                    if present {
                        self.present.insert(id);
                    } else {
                        self.present.remove(&id);
                    }
                    let delay = if self.rng.chance(0.1) {
                        self.rng.range(SEC, 5 * SEC)
                    } else {
                        self.rng.range(10 * MS, SEC)
                    };
                    self.push(self.now + delay, Ev::ServerWrite);
                }
                Ev::ServerWrite => self.server_write(),
                Ev::Resume(i) => {
                    if self.nodes[i].phase == Phase::Paused {
                        self.nodes[i].phase = Phase::Running;
                        self.running_changed();
                        self.schedule_wake(i, self.now);
                    }
                }
                Ev::Check => self.check(),
                Ev::Grid => {
                    self.check();
                    self.checker.spot_check(self.now, &self.nodes);
                    if self.now + GRID_US <= self.grid_until {
                        self.push(self.now + GRID_US, Ev::Grid);
                    }
                }
                Ev::Act(action) => {
                    self.act(action);
                    self.check();
                }
            }
        }
        self.now = until;
    }

    pub(crate) fn check(&mut self) {
        self.checker.check(self.now, &mut self.nodes);
        if !self.settled_since_change && self.checker.settled_on(&self.expected) {
            self.settled_since_change = true;
        }
        if let Some(m) = &self.measure
            && self.checker.settled_on(&m.expected)
        {
            self.recoveries.push(Recovery {
                kind: m.kind,
                seconds: (self.now - m.t0) as f64 / SEC as f64,
                slow_detect: m.slow_detect,
            });
            self.measure = None;
        }
    }

    pub(crate) fn running_changed(&mut self) {
        self.expected = self.expected_owners();
        self.settled_since_change = false;
    }

    pub(crate) fn expected_owners(&self) -> Vec<usize> {
        let running: Vec<(String, usize)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.phase == Phase::Running)
            .map(|(i, n)| (n.member.id().to_owned(), i))
            .collect();
        let ids: Vec<&str> = running.iter().map(|(id, _)| id.as_str()).collect();
        let index: BTreeMap<&str, usize> =
            running.iter().map(|(id, i)| (id.as_str(), *i)).collect();
        self.checker
            .keys()
            .iter()
            .map(|k| owner(&ids, k).map_or(usize::MAX, |o| index[o]))
            .collect()
    }

    /// A link's delay (µs): mostly sub-5 ms, sometimes up to 200 ms, with probability `stall_p` a
    /// 1–15 s stall.
    pub(crate) fn link(&mut self, stall_p: f64) -> u64 {
        if self.rng.chance(stall_p) {
            self.counts.watcher_stalls += 1;
            return self.rng.range(SEC, 15 * SEC);
        }
        if self.rng.chance(0.9) {
            self.rng.range(100, 5 * MS)
        } else {
            self.rng.range(5 * MS, 200 * MS)
        }
    }

    pub(crate) fn schedule_wake(&mut self, i: usize, at: u64) {
        if self.nodes[i].wake_at.is_none_or(|w| at < w) {
            self.nodes[i].wake_at = Some(at);
            self.push(at, Ev::Wake(i));
        }
    }

    fn server_write(&mut self) {
        let view: Vec<String> = self.present.iter().cloned().collect();
        if view == self.server_view {
            return;
        }
        self.counts.view_writes += 1;
        self.server_view = view.clone();
        for j in 0..self.nodes.len() {
            if self.nodes[j].watching {
                self.deliver_view(j, view.clone());
            }
        }
    }

    pub(crate) fn deliver_view(&mut self, j: usize, view: Vec<String>) {
        let delay = self.link(self.net.stall_p);
        let node = &mut self.nodes[j];
        let ready = node.last_view_ready.max(self.now + delay);
        node.last_view_ready = ready;
        node.view_q.push_back((ready, view));
        self.schedule_wake(j, ready);
    }

    pub(crate) fn deliver_record(&mut self, j: usize, idx: usize) {
        let delay = self.link(self.net.stall_p);
        let node = &mut self.nodes[j];
        let ready = node.last_watch_ready.max(self.now + delay);
        node.last_watch_ready = ready;
        node.watch_q.push_back((ready, idx));
        self.schedule_wake(j, ready);
    }

    pub(crate) fn send_put(&mut self, i: usize, value: Option<Vec<String>>, seq: Option<u64>) {
        self.counts.puts += 1;
        let roll = self.rng.unit();
        if roll < self.net.put_lost_p {
            self.counts.puts_lost += 1;
            if let Some(seq) = seq {
                let err = self.now + self.rng.range(2 * SEC, 5 * SEC);
                self.nodes[i].acks.push((err, seq, None));
                self.schedule_wake(i, err);
            }
            return;
        }
        let ack_lost = roll < self.net.put_lost_p + self.net.ack_lost_p;
        let delay = self.link(0.0);
        let at = self.nodes[i].last_store.max(self.now + delay);
        self.nodes[i].last_store = at;
        let sent = self.now;
        self.push(
            at,
            Ev::Store(Put {
                node: i,
                value,
                seq,
                sent,
                ack_lost,
            }),
        );
    }

    fn store(&mut self, put: Put) {
        let rev = self.kv.len() as u64 + 1;
        self.kv.push(Entry {
            rev,
            instance: self.nodes[put.node].member.id().to_owned(),
            value: put.value,
            at: self.now,
        });
        let idx = self.kv.len() - 1;
        for j in 0..self.nodes.len() {
            if self.nodes[j].watching {
                self.deliver_record(j, idx);
            }
        }
        let Some(seq) = put.seq else { return };
        if !matches!(self.nodes[put.node].phase, Phase::Running | Phase::Paused) {
            return;
        }
        let ack = if put.ack_lost {
            self.counts.acks_lost += 1;
            let err = put.sent + self.rng.range(2 * SEC, 5 * SEC);
            (err.max(self.now), seq, None)
        } else {
            let delay = self.link(0.0);
            (self.now + delay, seq, Some(rev))
        };
        self.nodes[put.node].acks.push(ack);
        self.schedule_wake(put.node, ack.0);
    }
}

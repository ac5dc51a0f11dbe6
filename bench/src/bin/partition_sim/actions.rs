//! Membership changes — joins, graceful leaves, crashes, pauses, injected watcher stalls — and the
//! time each one takes until every key has its new owner.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use symphony_protocol::partition::{MEMBERS_MAX_AGE_SECS, Member};

use crate::model::{Clock, MAX_RATE, MS, SEC};
use crate::node::{Node, Phase};
use crate::world::{Ev, World};

/// A scripted membership change; the target (if not given) is picked among the running members when
/// it happens.
#[derive(Debug, Clone)]
pub enum Action {
    /// A new member; `watch_stall` holds its members-bucket watcher's first delivery that long (µs).
    Join {
        rate: Option<f64>,
        watch_stall: Option<u64>,
    },
    /// Holds one of `target`'s watchers (the view's when `view`, else the members bucket's) for `dur`
    /// µs: everything delivered to it meanwhile waits.
    Stall {
        target: usize,
        view: bool,
        dur: u64,
    },
    Leave,
    Crash {
        target: Option<usize>,
    },
    /// Frozen `dur` µs; the server drops it from the view after `detect` µs (if the pause lasts that
    /// long; random 3–15 s when not given) and takes it back after it resumes.
    Pause {
        dur: u64,
        target: Option<usize>,
        detect: Option<u64>,
    },
}

/// Time from a membership change to every key being owned by exactly its new owner.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    pub kind: &'static str,
    pub seconds: f64,
    /// For a crash: the server noticed it late (5–30 s).
    pub slow_detect: bool,
}

pub(crate) struct Measure {
    pub(crate) kind: &'static str,
    pub(crate) t0: u64,
    pub(crate) expected: Vec<usize>,
    pub(crate) slow_detect: bool,
}

/// The most members a scenario runs at once.
pub const MAX_MEMBERS: usize = 8;

impl World {
    fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].phase == Phase::Running)
            .collect()
    }

    fn pick_running(&mut self) -> Option<usize> {
        let running = self.running();
        (!running.is_empty()).then(|| running[self.rng.below(running.len() as u64) as usize])
    }

    pub(crate) fn act(&mut self, action: Action) {
        let measure = self.measure.take();
        let mut kind = None;
        let mut slow_detect = false;
        let running = self.running().len();
        let live = running
            + self
                .nodes
                .iter()
                .filter(|n| n.phase == Phase::Paused)
                .count();
        // Keep 2..=MAX_MEMBERS members: a change the count does not allow becomes the opposite one.
        let action = match action {
            Action::Join { .. } if live >= MAX_MEMBERS => Action::Leave,
            Action::Leave | Action::Crash { target: None } | Action::Pause { target: None, .. }
                if running < 2 =>
            {
                Action::Join {
                    rate: None,
                    watch_stall: None,
                }
            }
            a => a,
        };
        if measure.is_some() && !matches!(action, Action::Stall { .. }) {
            self.interrupted += 1;
        }
        match action {
            Action::Join { rate, watch_stall } => {
                self.join(rate, watch_stall);
                kind = Some("join");
            }
            Action::Stall { target, view, dur } => {
                // Not a membership change: nothing to measure or interrupt.
                self.measure = measure;
                let node = &mut self.nodes[target];
                let until = self.now + dur;
                if view {
                    node.last_view_ready = node.last_view_ready.max(until);
                } else {
                    node.last_watch_ready = node.last_watch_ready.max(until);
                }
                return;
            }
            Action::Leave => {
                if let Some(i) = self.pick_running() {
                    self.leave(i);
                    kind = Some("leave");
                }
            }
            Action::Crash { target } => {
                if let Some(i) = target.or_else(|| self.pick_running()) {
                    slow_detect = self.crash(i);
                    kind = Some("crash");
                }
            }
            Action::Pause {
                dur,
                target,
                detect,
            } => {
                if let Some(i) = target.or_else(|| self.pick_running()) {
                    self.pause(i, dur, detect);
                }
            }
        }
        self.running_changed();
        let paused = self.nodes.iter().any(|n| n.phase == Phase::Paused);
        if let Some(kind) = kind
            && !paused
        {
            self.measure = Some(Measure {
                kind,
                t0: self.now,
                expected: self.expected.clone(),
                slow_detect,
            });
        }
    }

    /// A new member: a random id and clock; its watchers start with the bucket's current records and
    /// the current view; it reports `partitioning` shortly after.
    pub fn join(&mut self, rate: Option<f64>, watch_stall: Option<u64>) -> usize {
        self.counts.joins += 1;
        let id = self.rng.instance_id();
        let rate = rate.unwrap_or_else(|| {
            if self.rng.chance(0.3) {
                if self.rng.chance(0.5) {
                    1.0 / MAX_RATE
                } else {
                    MAX_RATE
                }
            } else {
                self.rng.range_f64(1.0 / MAX_RATE, MAX_RATE)
            }
        });
        let clock = Clock {
            start_us: self.now,
            offset_ms: self.rng.range(0, 1_000_000_000),
            rate,
        };
        let i = self.nodes.len();
        self.nodes.push(Node {
            member: Member::new(id),
            clock,
            phase: Phase::Running,
            changed: true,
            watching: true,
            watch_q: VecDeque::new(),
            view_q: VecDeque::new(),
            acks: Vec::new(),
            last_watch_ready: watch_stall.map_or(0, |s| self.now + s),
            last_view_ready: 0,
            last_store: 0,
            watch_pos: 0,
            claims: BTreeMap::new(),
            next_claim_local: None,
            fed: BTreeMap::new(),
            change_pending: false,
            wake_at: None,
        });
        // The watcher's initial values: the latest entry of every key that is neither deleted nor aged out.
        let max_age = MEMBERS_MAX_AGE_SECS * SEC;
        let mut latest: BTreeMap<&str, usize> = BTreeMap::new();
        for (idx, e) in self.kv.iter().enumerate() {
            latest.insert(&e.instance, idx);
        }
        let mut initial: Vec<usize> = latest
            .into_values()
            .filter(|&idx| self.kv[idx].value.is_some() && self.now < self.kv[idx].at + max_age)
            .collect();
        initial.sort_unstable();
        for idx in initial {
            self.deliver_record(i, idx);
        }
        if !self.server_view.is_empty() {
            self.deliver_view(i, self.server_view.clone());
        }
        let report = self.now + self.rng.range(50 * MS, SEC);
        self.push(
            report,
            Ev::Presence {
                node: i,
                present: true,
            },
        );
        i
    }

    fn leave(&mut self, i: usize) {
        self.counts.leaves += 1;
        let node = &mut self.nodes[i];
        node.member.release();
        node.changed = true;
        node.phase = Phase::Left;
        node.watching = false;
        node.watch_q.clear();
        node.view_q.clear();
        node.acks.clear();
        self.send_put(i, None, None);
        let gone = self.now + self.rng.range(10 * MS, 500 * MS);
        self.push(
            gone,
            Ev::Presence {
                node: i,
                present: false,
            },
        );
    }

    /// Returns whether the server notices it late.
    fn crash(&mut self, i: usize) -> bool {
        self.counts.crashes += 1;
        let node = &mut self.nodes[i];
        node.phase = Phase::Crashed;
        node.watching = false;
        node.watch_q.clear();
        node.view_q.clear();
        node.acks.clear();
        let slow = self.rng.chance(self.net.slow_detect_p);
        let detect = if slow {
            self.rng.range(5 * SEC, 30 * SEC)
        } else {
            self.rng.range(100 * MS, SEC)
        };
        self.push(
            self.now + detect,
            Ev::Presence {
                node: i,
                present: false,
            },
        );
        slow
    }

    fn pause(&mut self, i: usize, dur: u64, detect: Option<u64>) {
        self.counts.pauses += 1;
        self.nodes[i].phase = Phase::Paused;
        self.push(self.now + dur, Ev::Resume(i));
        let detect = detect.unwrap_or_else(|| self.rng.range(3 * SEC, 15 * SEC));
        if dur > detect {
            self.counts.pauses_dropped += 1;
            self.push(
                self.now + detect,
                Ev::Presence {
                    node: i,
                    present: false,
                },
            );
            let back = self.now + dur + self.rng.range(100 * MS, 2 * SEC);
            self.push(
                back,
                Ev::Presence {
                    node: i,
                    present: true,
                },
            );
        }
    }
}

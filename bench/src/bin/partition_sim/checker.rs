//! The double-ownership checker. At every instant it is called (every simulation event, the instants a
//! lease or a record's liveness runs out, and a 100 ms grid) it asks every member that has not crashed —
//! running, paused (with its own clock still running: exactly the hazard) or gone after a graceful leave —
//! `fence(key, now)` on the real `Member` for every key, and counts the keys owned by two members at once
//! and the fencing tokens that do not grow from one owner of a key to the next.
//!
//! Asking 1,000 keys × every member at every instant costs SHA-256s by the million, so a member's answers
//! are cached until the member changed (the simulation marks every call that changes its inputs) or the
//! two time-dependent parts of its state did (`holds_lease(now)` and `live_other_ids(now)`, the only ways
//! `now` enters `owns`). That assumption is itself checked: on every grid instant a random sample of keys
//! is asked afresh from every member and compared with the cache (`cache_mismatches`, must be 0), and the
//! `exhaustive` mode asks every key every time.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::node::{Node, Phase};
use crate::rng::Rng;

/// What the checker counted over one run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CheckStats {
    /// Instants at which every non-crashed member's ownership was checked.
    pub instants: u64,
    /// `instants` × keys: (key, instant) pairs checked.
    pub key_instants: u64,
    /// Calls of the real `Member::fence` the checker made.
    pub fence_calls: u64,
    /// (key, instant) pairs with two or more owners. Must be 0.
    pub double_owned: u64,
    /// Instants with at least one key owned twice.
    pub double_instants: u64,
    /// A key's owner changed and the new owner's fencing token was not greater (or one owner's token
    /// went down). Must be 0.
    pub fence_violations: u64,
    /// Ownership changes of a key (from one owner to another), each checked for fencing.
    pub handovers: u64,
    /// Fresh (key, member) answers compared with the cache on grid instants.
    pub spot_checks: u64,
    /// Fresh answers that disagreed with the cache. Must be 0.
    pub cache_mismatches: u64,
    /// (key, instant) pairs owned by exactly one member (availability).
    pub owned_once: u64,
    /// The first few double owners, for the report.
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct Cache {
    valid: bool,
    lease: bool,
    live: BTreeSet<String>,
    bits: Vec<u64>,
    token: Option<u64>,
}

/// Checks that no key has two owners, at every instant it is called.
pub struct Checker {
    keys: Vec<String>,
    words: usize,
    exhaustive: bool,
    caches: Vec<Cache>,
    /// Per key: the last member seen owning it and its token.
    last_owner: Vec<Option<(usize, u64)>>,
    /// Per key: how many members own it now.
    owners_now: Vec<u8>,
    /// Keys owned twice or more at the last instant.
    pub double_now: usize,
    /// Keys owned by nobody at the last instant.
    pub unowned_now: usize,
    pub stats: CheckStats,
    rng: Rng,
}

/// How many keys each spot check asks afresh.
const SPOT_KEYS: usize = 8;

impl Checker {
    pub fn new(keys: Vec<String>, exhaustive: bool, rng: Rng) -> Checker {
        let n = keys.len();
        Checker {
            words: n.div_ceil(64),
            last_owner: vec![None; n],
            owners_now: vec![0; n],
            unowned_now: n,
            double_now: 0,
            keys,
            exhaustive,
            caches: Vec::new(),
            stats: CheckStats::default(),
            rng,
        }
    }

    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Whether `node` owns key number `k` by the last check.
    pub fn owns(&self, node: usize, k: usize) -> bool {
        self.caches
            .get(node)
            .is_some_and(|c| c.valid && c.bits[k / 64] & (1 << (k % 64)) != 0)
    }

    /// Checks every non-crashed member at global time `now_us`.
    pub fn check(&mut self, now_us: u64, nodes: &mut [Node]) {
        if self.caches.len() < nodes.len() {
            self.caches.resize(nodes.len(), Cache::default());
        }
        let mut changed = false;
        for (i, node) in nodes.iter_mut().enumerate() {
            let cache = &mut self.caches[i];
            if node.phase == Phase::Crashed {
                if cache.valid {
                    *cache = Cache::default();
                    changed = true;
                }
                continue;
            }
            let local = node.clock.local_ms(now_us);
            let lease = node.member.holds_lease(local);
            let live: BTreeSet<String> = node.member.live_other_ids(local).into_iter().collect();
            if !self.exhaustive
                && cache.valid
                && !node.changed
                && cache.lease == lease
                && cache.live == live
            {
                continue;
            }
            node.changed = false;
            let mut bits = vec![0u64; self.words];
            let mut token = None;
            for (k, key) in self.keys.iter().enumerate() {
                if let Some(t) = node.member.fence(key, local) {
                    bits[k / 64] |= 1 << (k % 64);
                    token = Some(t);
                }
            }
            self.stats.fence_calls += self.keys.len() as u64;
            if !cache.valid || cache.bits != bits || cache.token != token {
                changed = true;
            }
            *cache = Cache {
                valid: true,
                lease,
                live,
                bits,
                token,
            };
        }
        if changed {
            self.tally(now_us, nodes);
        }
        self.stats.instants += 1;
        self.stats.key_instants += self.keys.len() as u64;
        self.stats.double_owned += self.double_now as u64;
        self.stats.double_instants += u64::from(self.double_now > 0);
        self.stats.owned_once += (self.keys.len() - self.double_now - self.unowned_now) as u64;
    }

    /// Recounts the owners of every key from the caches, and checks the fencing tokens of handovers.
    fn tally(&mut self, now_us: u64, nodes: &[Node]) {
        self.double_now = 0;
        self.unowned_now = 0;
        for k in 0..self.keys.len() {
            let owners: Vec<usize> = (0..self.caches.len())
                .filter(|&i| self.owns(i, k))
                .collect();
            self.owners_now[k] = owners.len().min(255) as u8;
            match owners.len() {
                0 => self.unowned_now += 1,
                1 => {}
                _ => {
                    self.double_now += 1;
                    if self.stats.examples.len() < 5 {
                        let who: Vec<String> = owners
                            .iter()
                            .map(|&i| {
                                format!(
                                    "{} ({:?}, token {:?})",
                                    &nodes[i].member.id()[..6],
                                    nodes[i].phase,
                                    self.caches[i].token
                                )
                            })
                            .collect();
                        self.stats.examples.push(format!(
                            "t={:.3}s key {} owned by {}",
                            now_us as f64 / 1e6,
                            self.keys[k],
                            who.join(" and ")
                        ));
                    }
                }
            }
            for &o in &owners {
                let token = self.caches[o].token.expect("an owner has a token");
                match self.last_owner[k] {
                    // The same owner: a later claim's token, never a smaller one.
                    Some((prev, prev_token)) if prev == o && token < prev_token => {
                        self.stats.fence_violations += 1;
                    }
                    Some((prev, _)) if prev == o => {}
                    Some((_, prev_token)) => {
                        self.stats.handovers += 1;
                        if token <= prev_token {
                            self.stats.fence_violations += 1;
                        }
                    }
                    None => {}
                }
                if self.last_owner[k].is_none_or(|(_, t)| token >= t) {
                    self.last_owner[k] = Some((o, token));
                }
            }
        }
    }

    /// Asks a few random keys afresh from every non-crashed member and compares with the cache.
    pub fn spot_check(&mut self, now_us: u64, nodes: &[Node]) {
        for _ in 0..SPOT_KEYS.min(self.keys.len()) {
            let k = self.rng.below(self.keys.len() as u64) as usize;
            for (i, node) in nodes.iter().enumerate() {
                if node.phase == Phase::Crashed {
                    continue;
                }
                let fresh = node
                    .member
                    .fence(&self.keys[k], node.clock.local_ms(now_us));
                self.stats.fence_calls += 1;
                self.stats.spot_checks += 1;
                let cached = self.owns(i, k).then(|| self.caches[i].token).flatten();
                if fresh != cached {
                    self.stats.cache_mismatches += 1;
                }
            }
        }
    }

    /// Whether every key has exactly one owner and it is `expected[k]` (a node index).
    pub fn settled_on(&self, expected: &[usize]) -> bool {
        self.double_now == 0
            && self.unowned_now == 0
            && expected
                .iter()
                .enumerate()
                .all(|(k, &o)| self.owners_now[k] == 1 && self.owns(o, k))
    }
}

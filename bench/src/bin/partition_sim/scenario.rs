//! The scenarios the checker runs: random churn (joins, graceful leaves, crashes, pauses over a lossy,
//! stalling network) and two directed hazards that sit exactly on the protocol's margins.

use serde::Serialize;
use symphony_protocol::partition::CLAIM_EVERY_MS;

use crate::actions::{Action, Recovery};
use crate::checker::{CheckStats, Checker};
use crate::model::{MAX_RATE, MS, Mutation, Net, SEC};
use crate::rng::Rng;
use crate::world::{Counts, World};

/// The work items every member is asked about.
pub fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("item-{i:05}")).collect()
}

/// Sizes of a churn run.
#[derive(Debug, Clone, Serialize)]
pub struct ChurnSize {
    pub keys: usize,
    /// Membership changes after the warm-up.
    pub changes: usize,
    /// Ask every key of every member at every check instead of caching answers.
    pub exhaustive: bool,
    /// Quiet seconds after the last change.
    pub quiet_s: u64,
}

/// One run's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    pub mutation: Mutation,
    pub sim_seconds: f64,
    pub counts: Counts,
    pub check: CheckStats,
    pub recoveries: Vec<Recovery>,
    /// Recovery measurements cut short by the next change.
    pub interrupted: u64,
    /// After the last change to the running members, at some check, every key had exactly its
    /// rendezvous owner among them as its only owner.
    pub settled_after_last_change: bool,
}

fn finish(scenario: &str, seed: u64, mutation: Mutation, world: World) -> RunReport {
    RunReport {
        scenario: scenario.to_owned(),
        seed,
        mutation,
        sim_seconds: world.now as f64 / SEC as f64,
        settled_after_last_change: world.settled_since_change,
        counts: world.counts,
        check: world.checker.stats,
        recoveries: world.recoveries,
        interrupted: world.interrupted,
    }
}

fn world(seed: u64, mutation: Mutation, keys_n: usize, exhaustive: bool, net: Net) -> World {
    let mut rng = Rng::new(seed);
    let checker = Checker::new(keys(keys_n), exhaustive, rng.fork());
    World::new(rng.fork(), net, mutation, checker)
}

/// Random churn: 2–5 members start, 20 s of warm-up, then `changes` joins (30%), graceful leaves (20%),
/// crashes (20%) and pauses of 2–20 s (30%), 1–12 s apart or (30% of the time) 30–45 s apart so that
/// recoveries can be timed, then `quiet_s` of quiet.
pub fn churn(seed: u64, mutation: Mutation, size: &ChurnSize) -> RunReport {
    let mut w = world(seed, mutation, size.keys, size.exhaustive, Net::default());
    let mut rng = Rng::new(seed ^ 0xC4A2_11E5);
    let start = rng.range(2, 5);
    for i in 0..start {
        w.schedule(
            i * rng.range(0, 500 * MS),
            Action::Join {
                rate: None,
                watch_stall: None,
            },
        );
    }
    let mut t = 20 * SEC;
    for _ in 0..size.changes {
        t += if rng.chance(0.3) {
            rng.range(30 * SEC, 45 * SEC)
        } else {
            rng.range(SEC, 12 * SEC)
        };
        let roll = rng.unit();
        let action = if roll < 0.3 {
            Action::Join {
                rate: None,
                watch_stall: None,
            }
        } else if roll < 0.5 {
            Action::Leave
        } else if roll < 0.7 {
            Action::Crash { target: None }
        } else {
            Action::Pause {
                dur: rng.range(2 * SEC, 20 * SEC),
                target: None,
                detect: None,
            }
        };
        w.schedule(t, action);
    }
    w.run(t + size.quiet_s * SEC);
    finish("churn", seed, mutation, w)
}

/// The pause at the edge of the clock bounds: member 0 runs the slowest clock (1/1.2), the others the
/// fastest (1.2); member 0 freezes for 15 s and the server drops it from the view after 1 s. Its lease
/// (6 s on its clock: 7.2 real s after it sent its record) must run out before the others take its
/// keys (9 s on theirs after they saw that record: 7.5 real s or more).
pub fn edge_pause(seed: u64, mutation: Mutation, keys_n: usize) -> RunReport {
    let net = Net {
        stall_p: 0.0,
        put_lost_p: 0.0,
        ack_lost_p: 0.0,
        slow_detect_p: 0.0,
    };
    let mut w = world(seed, mutation, keys_n, false, net);
    let mut rng = Rng::new(seed ^ 0xED6E);
    for (i, rate) in [1.0 / MAX_RATE, MAX_RATE, MAX_RATE].into_iter().enumerate() {
        w.schedule(
            i as u64 * 100 * MS,
            Action::Join {
                rate: Some(rate),
                watch_stall: None,
            },
        );
    }
    // Any point of member 0's claim cycle.
    let at = 20 * SEC + rng.range(0, CLAIM_EVERY_MS * MS);
    w.schedule(
        at,
        Action::Pause {
            dur: 15 * SEC,
            target: Some(0),
            detect: Some(SEC),
        },
    );
    w.run(at + 45 * SEC);
    finish("edge_pause", seed, mutation, w)
}

/// A join while watchers stall: four members settle; then both their watchers stall 8 s (they keep
/// acting on the old view, and see nobody's new record) and the newcomer's members-bucket watcher
/// stalls 8 s from its start (it has seen nobody's record). The newcomer must not take the keys that
/// move to it while their old owners may still act on the old view.
pub fn stalled_join(seed: u64, mutation: Mutation, keys_n: usize) -> RunReport {
    let net = Net {
        stall_p: 0.0,
        put_lost_p: 0.0,
        ack_lost_p: 0.0,
        slow_detect_p: 0.0,
    };
    let mut w = world(seed, mutation, keys_n, false, net);
    for i in 0..4 {
        w.schedule(
            i * 100 * MS,
            Action::Join {
                rate: None,
                watch_stall: None,
            },
        );
    }
    for target in 0..4 {
        for view in [true, false] {
            w.schedule(
                20 * SEC,
                Action::Stall {
                    target,
                    view,
                    dur: 8 * SEC,
                },
            );
        }
    }
    w.schedule(
        20 * SEC + 10 * MS,
        Action::Join {
            rate: None,
            watch_stall: Some(8 * SEC),
        },
    );
    w.run(60 * SEC);
    finish("stalled_join", seed, mutation, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Small: these run unoptimized, where every SHA-256 is slow.
    const KEYS: usize = 24;

    #[test]
    fn the_protocol_never_double_owns_in_a_short_churn() {
        let size = ChurnSize {
            keys: 16,
            changes: 5,
            exhaustive: false,
            quiet_s: 50,
        };
        let r = churn(1, Mutation::None, &size);
        assert!(r.counts.joins >= 2, "{:?}", r.counts);
        assert!(r.check.instants > 1_000, "{:?}", r.check);
        assert_eq!(r.check.double_owned, 0, "{:?}", r.check.examples);
        assert_eq!(r.check.fence_violations, 0);
        assert!(r.check.owned_once > 0);
        assert!(r.settled_after_last_change);
    }

    #[test]
    fn the_directed_hazards_pass_and_their_mutations_are_caught() {
        for seed in 0..1 {
            let ok = edge_pause(seed, Mutation::None, KEYS);
            assert_eq!(ok.check.double_owned, 0, "{:?}", ok.check.examples);
            assert_eq!(ok.check.fence_violations, 0);
            assert!(ok.settled_after_last_change);
            let ok = stalled_join(seed, Mutation::None, KEYS);
            assert_eq!(ok.check.double_owned, 0, "{:?}", ok.check.examples);
            assert!(ok.settled_after_last_change);
        }
        let broken = edge_pause(0, Mutation::RecordLiveForLease, KEYS);
        assert!(broken.check.double_owned > 0, "{:?}", broken.check);
        // Seed 1: seed 0's newcomer owns none of these few keys.
        let broken = stalled_join(1, Mutation::NoOwnPutWait, KEYS);
        assert!(broken.check.double_owned > 0, "{:?}", broken.check);
    }

    #[test]
    fn a_seed_replays_the_same_run_and_the_cache_agrees_with_asking_every_time() {
        let size = |exhaustive| ChurnSize {
            keys: 6,
            changes: 2,
            exhaustive,
            quiet_s: 10,
        };
        let a = churn(5, Mutation::None, &size(false));
        let b = churn(5, Mutation::None, &size(true));
        assert_eq!(a.counts.claims_completed, b.counts.claims_completed);
        assert_eq!(a.check.instants, b.check.instants);
        assert_eq!(a.check.owned_once, b.check.owned_once);
        assert_eq!(a.check.handovers, b.check.handovers);
        assert_eq!(a.check.cache_mismatches, 0);
        assert!(a.check.fence_calls < b.check.fence_calls);
    }
}

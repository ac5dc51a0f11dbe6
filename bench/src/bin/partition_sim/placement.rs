//! Figures 1 and 2 of issue 13: how many keys move on a join and on a leave, against the ideal, and
//! how even the load is — for the protocol's plain rendezvous hashing (the real `owner`), and for two
//! designs that bound the load, which need every member to know the whole key set.

use serde::Serialize;
use symphony_protocol::partition::{owner, score};

use crate::rng::Rng;

/// Sizes of the placement figures.
#[derive(Debug, Clone, Serialize)]
pub struct PlacementSize {
    pub keys: usize,
    pub seeds: u64,
    /// Instances from 2 to this many.
    pub max_n: usize,
    /// The designs' load bound: no instance above `cap × K / n` keys.
    pub cap: f64,
}

/// Mean and extreme of one figure over the seeds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub max: f64,
}

impl Spread {
    fn of(xs: &[f64]) -> Spread {
        Spread {
            mean: xs.iter().sum::<f64>() / xs.len() as f64,
            max: xs.iter().copied().fold(f64::MIN, f64::max),
        }
    }
}

/// The figures at `n` instances.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub n: usize,
    /// Keys moved on a join n → n+1, over K/(n+1).
    pub join: Spread,
    /// Keys moved on a leave n → n−1 (a random instance leaves), over K/n.
    pub leave: Spread,
    /// The most loaded instance's keys over K/n.
    pub balance: Spread,
}

/// One assignment design's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Design {
    pub name: &'static str,
    /// Whether every member computes the owner from the member list and the key alone (the
    /// protocol's requirement today), rather than from a shared key set or a kept table.
    pub needs: &'static str,
    pub rows: Vec<Row>,
    /// Keys that changed owner between two instances present both before and after a join or a
    /// leave, over every n and seed: moves the change did not call for.
    pub moved_between_staying: u64,
}

impl Design {
    pub fn worst_join(&self) -> f64 {
        self.rows.iter().map(|r| r.join.max).fold(0.0, f64::max)
    }
    pub fn worst_leave(&self) -> f64 {
        self.rows.iter().map(|r| r.leave.max).fold(0.0, f64::max)
    }
    pub fn worst_balance(&self) -> f64 {
        self.rows.iter().map(|r| r.balance.max).fold(0.0, f64::max)
    }
}

/// The designs measured side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// docs/protocol.md §12.4: the highest score wins.
    Rendezvous,
    /// Rendezvous over `VIRTUAL_IDS` ids per instance (`<id>#<j>`): an instance's score is its best.
    Virtual,
    /// Keys in byte order, each to its highest-scoring instance below the cap.
    BoundedLoads,
    /// Rendezvous, then every instance above the cap hands its excess — the keys it loses least on —
    /// to their best instance below the cap.
    Repaired,
    /// The key-optimal stable matching with capacities (deferred acceptance): each key asks the
    /// instances in its score order; an instance holds the cap keys it scores highest.
    Stable,
    /// Not a function of the view: an assignment table someone keeps. A newcomer takes from every
    /// instance its keys above ⌈K/(n+1)⌉ (those the newcomer scores highest); a leaver's keys go,
    /// in key order, to their highest-scoring instance below ⌈K/(n−1)⌉.
    Table,
}

/// Virtual ids per instance for [`Scheme::Virtual`].
const VIRTUAL_IDS: usize = 8;

/// What a design computes the owner from (for [`Design::needs`]).
pub const VIEW_ONLY: &str = "member list";
pub const KEY_SET: &str = "member list + the whole key set";
pub const TABLE: &str = "a table kept by one writer + the key set";

const SCHEMES: [(Scheme, &str, &str); 6] = [
    (Scheme::Rendezvous, "rendezvous (the protocol)", VIEW_ONLY),
    (
        Scheme::Virtual,
        "rendezvous, 8 virtual ids per instance",
        VIEW_ONLY,
    ),
    (
        Scheme::BoundedLoads,
        "bounded loads, keys in order",
        KEY_SET,
    ),
    (Scheme::Repaired, "rendezvous + overflow repair", KEY_SET),
    (Scheme::Stable, "stable matching with capacities", KEY_SET),
    (Scheme::Table, "assignment table, minimal moves", TABLE),
];

/// The owner (a column of `scores`) of every key among `members` under `scheme`.
fn assign(scheme: Scheme, scores: &[Vec<u64>], members: &[usize], cap: f64) -> Vec<usize> {
    let k = scores.len();
    let n = members.len();
    let best = |row: &Vec<u64>, allowed: &dyn Fn(usize) -> bool| {
        members
            .iter()
            .copied()
            .filter(|&m| allowed(m))
            .max_by_key(|&m| row[m])
    };
    let limit = (cap * k as f64 / n as f64)
        .floor()
        .max(k.div_ceil(n) as f64) as usize;
    let width = scores.first().map_or(0, Vec::len);
    match scheme {
        // `scores` holds each instance's best virtual score for `Virtual`.
        Scheme::Rendezvous | Scheme::Virtual => scores
            .iter()
            .map(|row| best(row, &|_| true).expect("members"))
            .collect(),
        Scheme::BoundedLoads => {
            let mut load = vec![0usize; width];
            scores
                .iter()
                .map(|row| {
                    let m = best(row, &|m| load[m] < limit).expect("room");
                    load[m] += 1;
                    m
                })
                .collect()
        }
        Scheme::Repaired => {
            let mut owners = assign(Scheme::Rendezvous, scores, members, cap);
            let mut load = vec![0usize; width];
            for &o in &owners {
                load[o] += 1;
            }
            let mut sorted = members.to_vec();
            sorted.sort_unstable();
            for &m in &sorted {
                if load[m] <= limit {
                    continue;
                }
                // What moving each key costs: its score here minus its best score elsewhere.
                let mut mine: Vec<(u64, usize)> = (0..k)
                    .filter(|&key| owners[key] == m)
                    .map(|key| {
                        let alt = best(&scores[key], &|x| x != m && load[x] < limit)
                            .expect("room elsewhere");
                        (scores[key][m] - scores[key][alt], key)
                    })
                    .collect();
                mine.sort_unstable();
                for (_, key) in mine {
                    if load[m] <= limit {
                        break;
                    }
                    let alt =
                        best(&scores[key], &|x| x != m && load[x] < limit).expect("room elsewhere");
                    owners[key] = alt;
                    load[m] -= 1;
                    load[alt] += 1;
                }
            }
            owners
        }
        Scheme::Stable => {
            use std::cmp::Reverse;
            use std::collections::BinaryHeap;
            // Each key's instances, best first.
            let prefs: Vec<Vec<usize>> = scores
                .iter()
                .map(|row| {
                    let mut p = members.to_vec();
                    p.sort_unstable_by_key(|&m| Reverse(row[m]));
                    p
                })
                .collect();
            let mut next = vec![0usize; k];
            let mut held: Vec<BinaryHeap<Reverse<(u64, usize)>>> = vec![BinaryHeap::new(); width];
            let mut free: Vec<usize> = (0..k).rev().collect();
            while let Some(key) = free.pop() {
                let m = prefs[key][next[key]];
                next[key] += 1;
                let heap = &mut held[m];
                heap.push(Reverse((scores[key][m], key)));
                if heap.len() > limit {
                    let Reverse((_, out)) = heap.pop().expect("over the cap");
                    free.push(out);
                }
            }
            let mut owners = vec![usize::MAX; k];
            for (m, heap) in held.iter().enumerate() {
                for Reverse((_, key)) in heap {
                    owners[*key] = m;
                }
            }
            owners
        }
        Scheme::Table => unreachable!("the table is not a function of the view"),
    }
}

fn moved(a: &[usize], b: &[usize]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

/// Keys moved from one instance to another when neither is `changed` (the newcomer or the leaver).
fn moved_between_staying(a: &[usize], b: &[usize], changed: usize) -> u64 {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x != y && **x != changed && **y != changed)
        .count() as u64
}

fn max_load(owners: &[usize], width: usize) -> usize {
    let mut load = vec![0usize; width];
    for &o in owners {
        load[o] += 1;
    }
    load.into_iter().max().unwrap_or(0)
}

/// A newcomer joins the table: it takes every instance's keys above ⌈K/(n+1)⌉.
fn table_join(owners: &mut [usize], scores: &[Vec<u64>], members: &[usize], newcomer: usize) {
    let target = owners.len().div_ceil(members.len() + 1);
    for &m in members {
        let mut mine: Vec<usize> = (0..owners.len()).filter(|&k| owners[k] == m).collect();
        if mine.len() <= target {
            continue;
        }
        mine.sort_unstable_by_key(|&k| std::cmp::Reverse(scores[k][newcomer]));
        for &k in &mine[..mine.len() - target] {
            owners[k] = newcomer;
        }
    }
}

/// `leaver` leaves the table: its keys go to their best instance below ⌈K/(n−1)⌉.
fn table_leave(owners: &mut [usize], scores: &[Vec<u64>], rest: &[usize], leaver: usize) {
    let target = owners.len().div_ceil(rest.len());
    let width = scores.first().map_or(0, Vec::len);
    let mut load = vec![0usize; width];
    for &o in owners.iter() {
        load[o] += 1;
    }
    for k in 0..owners.len() {
        if owners[k] != leaver {
            continue;
        }
        let to = rest
            .iter()
            .copied()
            .filter(|&m| load[m] < target)
            .max_by_key(|&m| scores[k][m])
            .expect("room");
        owners[k] = to;
        load[to] += 1;
    }
}

/// Every design's figures for n = 2..=max_n, over `seeds` sets of random instance ids.
pub fn figures(size: &PlacementSize) -> Vec<Design> {
    let keys = crate::scenario::keys(size.keys);
    let kf = size.keys as f64;
    let ns: Vec<usize> = (2..=size.max_n).collect();
    // [scheme][n index] → samples
    let mut join = vec![vec![Vec::new(); ns.len()]; SCHEMES.len()];
    let mut leave = join.clone();
    let mut balance = join.clone();
    let mut between = vec![0u64; SCHEMES.len()];
    let mut record =
        |si: usize, ni: usize, n: usize, moved_in: usize, moved_out: usize, max: usize| {
            join[si][ni].push(moved_in as f64 / (kf / (n + 1) as f64));
            leave[si][ni].push(moved_out as f64 / (kf / n as f64));
            balance[si][ni].push(max as f64 / (kf / n as f64));
        };
    for seed in 0..size.seeds {
        let mut rng = Rng::new(0xBA1A_0CE5 ^ seed);
        let mut ids: Vec<String> = (0..=size.max_n).map(|_| rng.instance_id()).collect();
        // Instances join in a random order (the score table's columns are in id order).
        let order: Vec<usize> = {
            let mut o: Vec<usize> = (0..ids.len()).collect();
            for i in (1..o.len()).rev() {
                o.swap(i, rng.below(i as u64 + 1) as usize);
            }
            o
        };
        // Which of the n instances leaves, for each n.
        let leavers: Vec<usize> = ns.iter().map(|&n| rng.below(n as u64) as usize).collect();
        ids.sort();
        let width = ids.len();
        let scores: Vec<Vec<u64>> = keys
            .iter()
            .map(|key| ids.iter().map(|id| score(id, key)).collect())
            .collect();
        let virtual_scores: Vec<Vec<u64>> = keys
            .iter()
            .map(|key| {
                ids.iter()
                    .map(|id| {
                        (0..VIRTUAL_IDS)
                            .map(|j| score(&format!("{id}#{j}"), key))
                            .max()
                            .expect("ids")
                    })
                    .collect()
            })
            .collect();
        for (ni, &n) in ns.iter().enumerate() {
            let before: Vec<usize> = order[..n].to_vec();
            let after: Vec<usize> = order[..=n].to_vec();
            let shrunk: Vec<usize> = before
                .iter()
                .copied()
                .filter(|&m| m != before[leavers[ni]])
                .collect();
            // The real owner, for plain rendezvous: the score table must agree with it.
            let view: Vec<&str> = before.iter().map(|&m| ids[m].as_str()).collect();
            let real: Vec<usize> = keys
                .iter()
                .map(|key| {
                    let o = owner(&view, key).expect("members");
                    ids.iter().position(|id| id == o).expect("an id")
                })
                .collect();
            for (si, &(scheme, _, _)) in SCHEMES.iter().enumerate() {
                let table = match scheme {
                    Scheme::Table => continue,
                    Scheme::Virtual => &virtual_scores,
                    _ => &scores,
                };
                let a = assign(scheme, table, &before, size.cap);
                if scheme == Scheme::Rendezvous {
                    assert_eq!(a, real, "the score table disagrees with partition::owner");
                }
                let b = assign(scheme, table, &after, size.cap);
                let c = assign(scheme, table, &shrunk, size.cap);
                record(si, ni, n, moved(&a, &b), moved(&a, &c), max_load(&a, width));
                between[si] += moved_between_staying(&a, &b, order[n])
                    + moved_between_staying(&a, &c, before[leavers[ni]]);
            }
        }
        // The table evolves: instances join one by one in `order`.
        let si = SCHEMES.len() - 1;
        let mut owners = vec![order[0]; size.keys];
        table_join(&mut owners, &scores, &order[..1], order[1]);
        for (ni, &n) in ns.iter().enumerate() {
            let before = &order[..n];
            let mut shrunk_owners = owners.clone();
            let leaver = before[leavers[ni]];
            let rest: Vec<usize> = before.iter().copied().filter(|&m| m != leaver).collect();
            table_leave(&mut shrunk_owners, &scores, &rest, leaver);
            let mut grown = owners.clone();
            table_join(&mut grown, &scores, before, order[n]);
            let max = max_load(&owners, width);
            record(
                si,
                ni,
                n,
                moved(&owners, &grown),
                moved(&owners, &shrunk_owners),
                max,
            );
            owners = grown;
        }
    }
    SCHEMES
        .iter()
        .enumerate()
        .map(|(si, &(_, name, needs))| Design {
            name,
            needs,
            moved_between_staying: between[si],
            rows: ns
                .iter()
                .enumerate()
                .map(|(ni, &n)| Row {
                    n,
                    join: Spread::of(&join[si][ni]),
                    leave: Spread::of(&leave[si][ni]),
                    balance: Spread::of(&balance[si][ni]),
                })
                .collect(),
        })
        .collect()
}

/// The expected max/mean of plain rendezvous at `n` instances and `k` keys (normal approximation of
/// the largest of `n` Binomial(k, 1/n) loads).
pub fn expected_rendezvous_balance(n: usize, k: usize) -> f64 {
    // E[max of n standard normals], by Blom's approximation of the top order statistic.
    let p = (n as f64 - 0.375) / (n as f64 + 0.25);
    1.0 + probit(p) * ((n as f64 - 1.0) / k as f64).sqrt()
}

/// The standard normal quantile (Acklam's rational approximation; ample for a report).
fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn designs_keep_their_bound_and_rendezvous_moves_only_the_newcomers_keys() {
        let size = PlacementSize {
            keys: 400,
            seeds: 2,
            max_n: 4,
            cap: 1.05,
        };
        let designs = figures(&size);
        assert_eq!(designs.len(), SCHEMES.len());
        // The capped designs and the table keep the bound.
        for d in designs.iter().filter(|d| d.needs != VIEW_ONLY) {
            assert!(d.worst_balance() <= 1.05, "{}", d.name);
        }
        // Rendezvous and the table move only the newcomer's or the leaver's keys; the table no
        // more than the ideal (up to rounding).
        assert!(designs[0].rows.iter().all(|r| r.join.mean > 0.5));
        assert_eq!(designs[0].moved_between_staying, 0);
        let table = designs.last().expect("designs");
        assert_eq!(table.needs, TABLE);
        assert_eq!(table.moved_between_staying, 0);
        assert!(table.worst_join() <= 1.01 && table.worst_leave() <= 1.01);
    }

    #[test]
    fn probit_is_the_normal_quantile() {
        assert!(probit(0.5).abs() < 1e-9);
        assert!((probit(0.975) - 1.959_964).abs() < 1e-4);
        assert!((probit(0.01) + 2.326_348).abs() < 1e-4);
    }
}

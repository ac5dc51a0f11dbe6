//! `partition-sim`: issue 13's figures for work partitioning (docs/protocol.md §12.4). Keys moved on a
//! join and a leave and the balance, for the protocol's rendezvous hashing and for two load-bounding
//! designs; and a deterministic simulation of members running the real
//! `symphony_protocol::partition::Member` through joins, leaves, crashes and pauses on a lossy,
//! stalling network, with a checker that counts keys owned by two members at once. Prints the
//! Markdown section of bench/REPORT.md; `--write-report` puts it there and writes
//! bench/results/partition_sim.json.

mod actions;
mod checker;
mod model;
mod node;
mod placement;
mod report;
mod rng;
mod scenario;
mod world;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;

use model::{Mutation, Net};
use placement::PlacementSize;
use report::Results;
use scenario::ChurnSize;

#[derive(Parser, Debug)]
#[command(
    name = "partition-sim",
    about = "Work partitioning: keys moved, balance, and a double-ownership check under churn"
)]
struct Args {
    /// Keys for the moved/balance figures.
    #[arg(long, default_value_t = 10_000)]
    placement_keys: usize,
    /// Sets of random instance ids for the moved/balance figures.
    #[arg(long, default_value_t = 20)]
    placement_seeds: u64,
    /// Instances, 2 to this many.
    #[arg(long, default_value_t = 16)]
    max_instances: usize,
    /// The load-bounding designs' cap: at most this × K/n keys per instance.
    #[arg(long, default_value_t = report::GOAL)]
    cap: f64,
    /// Keys the churn checker asks about.
    #[arg(long, default_value_t = 1_000)]
    churn_keys: usize,
    /// Random churn runs (seeds 0..).
    #[arg(long, default_value_t = 24)]
    churn_runs: u64,
    /// Membership changes per churn run.
    #[arg(long, default_value_t = 12)]
    changes: usize,
    /// Runs of each directed hazard.
    #[arg(long, default_value_t = 16)]
    directed_runs: u64,
    /// Churn runs repeated with each broken member.
    #[arg(long, default_value_t = 8)]
    mutated_runs: u64,
    /// Churn runs repeated without the checker's cache (and with it, to compare).
    #[arg(long, default_value_t = 2)]
    exhaustive_runs: u64,
    /// Keys of those runs (asking every key every time is slow).
    #[arg(long, default_value_t = 100)]
    exhaustive_keys: usize,
    /// Write the section into this report and the raw results next to it in results/.
    #[arg(long, num_args = 0..=1, default_missing_value = "bench/REPORT.md")]
    write_report: Option<PathBuf>,
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let placement_size = PlacementSize {
        keys: args.placement_keys,
        seeds: args.placement_seeds,
        max_n: args.max_instances,
        cap: args.cap,
    };
    eprintln!("placement figures…");
    let designs = placement::figures(&placement_size);

    let churn_size = ChurnSize {
        keys: args.churn_keys,
        changes: args.changes,
        exhaustive: false,
        quiet_s: 50,
    };
    eprintln!("churn…");
    let churn: Vec<_> = (0..args.churn_runs)
        .map(|seed| scenario::churn(seed, Mutation::None, &churn_size))
        .collect();
    eprintln!("directed hazards…");
    let mut directed = Vec::new();
    for seed in 0..args.directed_runs {
        directed.push(scenario::edge_pause(seed, Mutation::None, args.churn_keys));
        directed.push(scenario::stalled_join(
            seed,
            Mutation::None,
            args.churn_keys,
        ));
    }
    eprintln!("broken members…");
    let mut mutated = Vec::new();
    for m in [
        Mutation::RecordLiveForLease,
        Mutation::NoOwnPutWait,
        Mutation::IgnoreRecords,
    ] {
        for seed in 0..args.mutated_runs {
            mutated.push(scenario::churn(seed, m, &churn_size));
            mutated.push(scenario::edge_pause(seed, m, args.churn_keys));
            mutated.push(scenario::stalled_join(seed, m, args.churn_keys));
        }
    }
    eprintln!("exhaustive checks…");
    let cached_size = ChurnSize {
        keys: args.exhaustive_keys,
        ..churn_size.clone()
    };
    let exhaustive_size = ChurnSize {
        exhaustive: true,
        ..cached_size.clone()
    };
    let mut exhaustive = Vec::new();
    for seed in 0..args.exhaustive_runs {
        let a = scenario::churn(seed, Mutation::None, &cached_size);
        let b = scenario::churn(seed, Mutation::None, &exhaustive_size);
        anyhow::ensure!(
            (a.check.double_owned, a.check.owned_once, a.check.handovers)
                == (b.check.double_owned, b.check.owned_once, b.check.handovers),
            "seed {seed}: the cached checker and the exhaustive one disagree"
        );
        exhaustive.push(b);
    }

    let results = Results {
        commit: commit(),
        elapsed_s: started.elapsed().as_secs_f64(),
        placement_size,
        designs,
        churn_size,
        net: Net::default(),
        churn,
        directed,
        mutated,
        exhaustive,
    };
    let section = report::markdown(&results);
    print!("{section}");
    if let Some(path) = args.write_report {
        let old = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        std::fs::write(&path, report::splice(&old, &section))
            .with_context(|| format!("writing {}", path.display()))?;
        let json = path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("results/partition_sim.json");
        std::fs::write(&json, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("writing {}", json.display()))?;
        eprintln!("wrote {} and {}", path.display(), json.display());
    }
    Ok(())
}

//! Python and Rust instances of one extension share its work (issue 13, docs/protocol.md §12.4): three
//! instances of the Python example `examples/python/workers` and two of the Rust fixture `multi-ext`,
//! all started from one token, partition 1,000 work items. After settling every item is owned by
//! exactly one instance and the counts add up to 1,000; a Python instance is killed (SIGKILL), its
//! items go to the four survivors, every survivor's `on_rebalance` reports four instances, and a
//! checker that samples all instances through the churn never sees an item owned twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use anyhow::{Context, ensure};
use serde_json::Value;
use symphony_protocol::messages::{ExtensionView, InstanceState};
use symphony_tests::{DEFAULT_DEADLINE, Extension, Platform, PlatformOptions, bins, eventually};
use tokio::sync::watch;

mod common;

use common::{account_user, ask, check_ownership, owned, owned_twice};

const PREFIX: &str = "workers";
const ITEMS: usize = 1000;

/// One running instance: its process, SDK and the handler that lists what it owns.
struct Running {
    process: Extension,
    rust: bool,
    id: String,
}

impl Running {
    fn handler(&self) -> &'static str {
        if self.rust { "local-status" } else { "owned" }
    }
}

/// The live members the extension view lists (instances that report `partitioning`).
async fn members(platform: &Platform, token: &str) -> anyhow::Result<BTreeSet<String>> {
    let resp = platform
        .get(&format!("/extensions/{PREFIX}"), Some(token))
        .await;
    ensure!(resp.status() == 200, "HTTP {}", resp.status());
    let view: ExtensionView = resp.json().await?;
    Ok(view
        .instances
        .iter()
        .filter(|i| i.state != InstanceState::Disconnected && i.partitioning)
        .map(|i| i.instance_id.to_string())
        .collect())
}

/// Starts one instance and waits for it to become a member; its id.
async fn start(
    platform: &Platform,
    token: &str,
    config: &std::path::Path,
    rust: bool,
    known: &BTreeSet<String>,
) -> Running {
    let items = ITEMS.to_string();
    let process = if rust {
        Extension::spawn(
            &bins::binary("multi-ext"),
            config,
            &[
                ("SYMPHONY_TOKEN", token),
                ("MULTI_EXT_PREFIX", PREFIX),
                ("MULTI_EXT_NAME", "Workers"),
                ("MULTI_EXT_KEYS", items.as_str()),
            ],
        )
    } else {
        Extension::spawn_python(
            &bins::workspace_root().join("examples/python/workers/main.py"),
            config,
            &[
                ("SYMPHONY_TOKEN", token),
                ("WORKERS_PREFIX", PREFIX),
                ("WORKERS_ITEMS", items.as_str()),
            ],
        )
    };
    let id = eventually("a new member", DEFAULT_DEADLINE, || async {
        members(platform, token)
            .await?
            .into_iter()
            .find(|m| !known.contains(m))
            .context("no new member yet")
    })
    .await;
    Running { process, rust, id }
}

/// Every instance's owned set, asked one after another.
async fn owned_by_all(
    nc: &async_nats::Client,
    running: &[&Running],
) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let mut out = BTreeMap::new();
    for r in running {
        out.insert(
            r.id.clone(),
            owned(&ask(nc, PREFIX, &r.id, r.handler()).await?),
        );
    }
    Ok(out)
}

/// Every item owned by exactly one of `owned`.
fn exactly_once(owned: &BTreeMap<String, BTreeSet<String>>) -> anyhow::Result<()> {
    let mut seen = BTreeSet::new();
    for (instance, items) in owned {
        for item in items {
            ensure!(
                seen.insert(item.clone()),
                "{item} owned twice (also by {instance})"
            );
        }
    }
    ensure!(seen.len() == ITEMS, "{} of {ITEMS} items owned", seen.len());
    Ok(())
}

/// What an instance reports as its item count (`work_items` of `local-status`, both SDKs).
async fn work_items(nc: &async_nats::Client, id: &str) -> anyhow::Result<u64> {
    let status: Value = ask(nc, PREFIX, id, "local-status").await?;
    status["work_items"].as_u64().context("work_items")
}

#[tokio::test]
async fn python_and_rust_instances_own_every_item_exactly_once_through_a_crash() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let token = platform.extension_key("Workers", PREFIX, &[]).await;
    let nc = account_user(&platform, PREFIX).await;
    let configs = tempfile::tempdir().unwrap();

    let mut running: Vec<Running> = Vec::new();
    for (n, rust) in [false, true, false, true, false].into_iter().enumerate() {
        let known: BTreeSet<String> = running.iter().map(|r| r.id.clone()).collect();
        let config = configs.path().join(format!("instance-{n}"));
        running.push(start(&platform, &token, &config, rust, &known).await);
    }
    let targets = Arc::new(Mutex::new(
        running
            .iter()
            .map(|r| (r.id.clone(), r.handler().to_owned()))
            .collect::<Vec<_>>(),
    ));
    let (stop, stopped) = watch::channel(false);
    let checker = tokio::spawn(check_ownership(
        nc.clone(),
        PREFIX,
        targets.clone(),
        stopped,
    ));

    // Settled: each item owned once, and each instance's count is what it owns.
    let all: Vec<&Running> = running.iter().collect();
    eventually(
        "five instances share the items",
        DEFAULT_DEADLINE,
        || async {
            let owned = owned_by_all(&nc, &all).await?;
            exactly_once(&owned)?;
            ensure!(
                owned.values().all(|o| !o.is_empty()),
                "an instance owns nothing"
            );
            let mut total = 0;
            for r in &all {
                let count = work_items(&nc, &r.id).await?;
                ensure!(
                    count == owned[&r.id].len() as u64,
                    "{} counts {count}",
                    r.id
                );
                total += count;
            }
            ensure!(total == ITEMS as u64, "the counts add up to {total}");
            Ok(())
        },
    )
    .await;

    // SIGKILL a Python instance: the four survivors take its items over.
    let mut victim = running.remove(0);
    assert!(!victim.rust);
    targets.lock().unwrap().retain(|(id, _)| *id != victim.id);
    victim.process.kill9().await;
    let survivors: Vec<&Running> = running.iter().collect();
    eventually(
        "four instances share the items",
        DEFAULT_DEADLINE,
        || async {
            let now = members(&platform, &token).await?;
            ensure!(
                !now.contains(&victim.id),
                "the killed instance is still a member"
            );
            let owned = owned_by_all(&nc, &survivors).await?;
            exactly_once(&owned)?;
            Ok(())
        },
    )
    .await;
    // Every survivor's on_rebalance said four instances.
    eventually(
        "every survivor rebalanced to four",
        DEFAULT_DEADLINE,
        || async {
            for r in &survivors {
                if r.rust {
                    let status = ask(&nc, PREFIX, &r.id, "local-status").await?;
                    let last = status["rebalances"]
                        .as_array()
                        .and_then(|a| a.last())
                        .and_then(|l| l[0].as_u64());
                    ensure!(
                        last == Some(4),
                        "{}: rebalances {}",
                        r.id,
                        status["rebalances"]
                    );
                } else {
                    let log = format!("{}{}", r.process.stdout(), r.process.stderr());
                    ensure!(
                        log.contains("Rebalanced: 4 instances active"),
                        "{}: no rebalance to four in its log",
                        r.id
                    );
                }
            }
            Ok(())
        },
    )
    .await;

    stop.send(true).unwrap();
    let samples = checker.await.unwrap();
    let sampled: BTreeSet<&str> = samples.iter().map(|s| s.instance.as_str()).collect();
    assert_eq!(sampled.len(), 5, "every instance was sampled: {sampled:?}");
    let twice = owned_twice(&samples);
    assert!(twice.is_empty(), "owned twice: {twice:?}");
}

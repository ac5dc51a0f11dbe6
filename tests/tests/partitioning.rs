//! Work partitioning (docs/protocol.md §12.4) with `multi-ext` instances tracking 1,000 work items: one
//! instance owns them all; a second joins and the items are owned exactly once, the counts adding up;
//! `fence` and `fenced_put` refuse what an instance does not own and a stale token; SIGKILL one and the
//! survivor's rebalance reports one instance, after which it owns everything (and its fence is greater
//! than the dead owner's); a graceful stop deletes the member's record. A checker samples every
//! instance's owned set through the whole churn and never sees an item owned twice. The key JWTs live
//! a few seconds, so the instances renew (and move their handlers) throughout.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use anyhow::{Context, ensure};
use async_nats::jetstream;
use serde_json::{Value, json};
use symphony_protocol::messages::{ExtensionView, InstanceState};
use symphony_protocol::partition::{
    FENCE_HEADER, MEMBERS_BUCKET, VIEW_BUCKET, VIEW_KEY, View, member_key,
};
use symphony_protocol::{KeyId, subjects};
use symphony_tests::{DEFAULT_DEADLINE, Extension, Platform, PlatformOptions, bins, eventually};
use tokio::sync::watch;

mod common;

use common::{Sample, account_user, check_ownership, owned, owned_twice};

const PREFIX: &str = "part";
/// The key JWT lifetime the server gets here, in seconds: the instances renew during the test.
const LIFETIME: &str = "6s";
const ITEMS: usize = 1000;

/// `GET /api/v1/extensions/<PREFIX>`, failing (not panicking) before the first registration.
async fn try_view(platform: &Platform, token: &str) -> anyhow::Result<ExtensionView> {
    let resp = platform
        .get(&format!("/extensions/{PREFIX}"), Some(token))
        .await;
    ensure!(resp.status() == 200, "HTTP {}", resp.status());
    Ok(resp.json().await?)
}

/// The live instances that report `partitioning` (the members, §12.4).
fn members(view: &ExtensionView) -> Vec<String> {
    view.instances
        .iter()
        .filter(|i| i.state != InstanceState::Disconnected && i.partitioning)
        .map(|i| i.instance_id.to_string())
        .collect()
}

/// The members in the view the server wrote into the extension's bucket.
async fn stored_view(js: &jetstream::Context) -> anyhow::Result<Vec<String>> {
    let bucket = js.get_key_value(VIEW_BUCKET).await?;
    let value = bucket.get(VIEW_KEY).await?.context("no view yet")?;
    Ok(serde_json::from_slice::<View>(&value)?.members)
}

/// What an instance's `local-status` says.
async fn status(nc: &async_nats::Client, instance: &str) -> anyhow::Result<Value> {
    let instance = KeyId::parse(instance).context("an instance id")?;
    let subject = subjects::instance_handler_subject(PREFIX, &instance, "local-status");
    let reply = nc.request(subject, "{}".into()).await?;
    Ok(serde_json::from_slice(&reply.payload)?)
}

fn rebalances(status: &Value) -> Vec<(u64, u64)> {
    status["rebalances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
        .collect()
}

async fn fenced_put(nc: &async_nats::Client, instance: &str, key: &str, value: &str) -> Value {
    let instance = KeyId::parse(instance).unwrap();
    let subject = subjects::instance_handler_subject(PREFIX, &instance, "fenced-put");
    let body = json!({"bucket": format!("{PREFIX}_data"), "key": key, "value": value});
    let reply = nc
        .request(subject, body.to_string().into())
        .await
        .expect("fenced-put answers");
    serde_json::from_slice(&reply.payload).unwrap()
}

/// The `Symphony-Fence` of the last write of `key` in the data bucket.
async fn stored_fence(js: &jetstream::Context, key: &str) -> u64 {
    let stream = js.get_stream(format!("KV_{PREFIX}_data")).await.unwrap();
    let last = stream
        .get_last_raw_message_by_subject(&format!("$KV.{PREFIX}_data.{key}"))
        .await
        .unwrap();
    last.headers
        .get(FENCE_HEADER)
        .expect("a fenced write")
        .as_str()
        .parse()
        .unwrap()
}

fn start(token: &str, config: &std::path::Path) -> Extension {
    let items = ITEMS.to_string();
    Extension::spawn(
        &bins::binary("multi-ext"),
        config,
        &[
            ("SYMPHONY_TOKEN", token),
            ("MULTI_EXT_PREFIX", PREFIX),
            ("MULTI_EXT_KEYS", items.as_str()),
        ],
    )
}

/// Waits for a live member other than `known`; its id.
async fn new_member(platform: &Platform, token: &str, known: &[&str]) -> String {
    eventually("a new member", DEFAULT_DEADLINE, || async {
        let view = try_view(platform, token).await?;
        members(&view)
            .into_iter()
            .find(|m| !known.contains(&m.as_str()))
            .context("no new member yet")
    })
    .await
}

#[tokio::test]
async fn items_are_owned_exactly_once_through_a_join_and_a_crash() {
    let platform = Platform::start(
        PlatformOptions::fast()
            .arg("--key-jwt-lifetime-for-tests")
            .arg(LIFETIME),
    )
    .await;
    let token = platform.extension_key("Multi Fixture", PREFIX, &[]).await;
    let nc = account_user(&platform, PREFIX).await;
    let js = jetstream::new(nc.clone());
    let configs = tempfile::tempdir().unwrap();
    let all: BTreeSet<String> = (0..ITEMS).map(|i| format!("item-{i}")).collect();

    let (stop, stopped) = watch::channel(false);
    let mut first = start(&token, &configs.path().join("a"));
    let a = new_member(&platform, &token, &[]).await;
    let targets = Arc::new(Mutex::new(vec![(a.clone(), "local-status".to_owned())]));
    let checker = tokio::spawn(check_ownership(
        nc.clone(),
        PREFIX,
        targets.clone(),
        stopped.clone(),
    ));

    {
        // Alone, the first instance owns every item.
        eventually("the first instance owns all", DEFAULT_DEADLINE, || async {
            let s = status(&nc, &a).await?;
            ensure!(s["work_items"] == ITEMS, "{}", s["work_items"]);
            ensure!(owned(&s) == all, "owned {}", owned(&s).len());
            ensure!(
                rebalances(&s).last() == Some(&(1, ITEMS as u64)),
                "{:?}",
                rebalances(&s)
            );
            Ok(())
        })
        .await;
        let bucket = js
            .get_key_value(MEMBERS_BUCKET)
            .await
            .expect("the SDK made the members bucket");
        assert!(
            bucket.get(member_key(&a)).await.unwrap().is_some(),
            "a's record"
        );

        // A second joins: every item is owned exactly once, and both own a share.
        let mut second = start(&token, &configs.path().join("b"));
        let b = new_member(&platform, &token, &[&a]).await;
        targets
            .lock()
            .unwrap()
            .push((b.clone(), "local-status".to_owned()));
        let (mine_a, mine_b) = eventually("the items split", DEFAULT_DEADLINE, || async {
            let (sa, sb) = (status(&nc, &a).await?, status(&nc, &b).await?);
            let (oa, ob) = (owned(&sa), owned(&sb));
            ensure!(oa.is_disjoint(&ob), "owned twice");
            ensure!(oa.len() + ob.len() == ITEMS, "{} + {}", oa.len(), ob.len());
            ensure!(
                !oa.is_empty() && !ob.is_empty(),
                "{} / {}",
                oa.len(),
                ob.len()
            );
            ensure!(
                sa["work_items"] == oa.len() && sb["work_items"] == ob.len(),
                "counts"
            );
            ensure!(
                rebalances(&sb).last() == Some(&(2, ob.len() as u64)),
                "{:?}",
                rebalances(&sb)
            );
            Ok((oa, ob))
        })
        .await;
        assert_eq!(mine_a.union(&mine_b).cloned().collect::<BTreeSet<_>>(), all);
        assert_eq!(
            stored_view(&js).await.unwrap(),
            View::new([a.clone(), b.clone()]).members
        );

        // Fences: an item of a's is written under a's token; b may not write it.
        let item_a = mine_a.iter().next().unwrap().clone();
        let written = fenced_put(&nc, &a, &item_a, "by a").await;
        let fence_a = written["fence"]
            .as_u64()
            .unwrap_or_else(|| panic!("{written}"));
        assert_eq!(stored_fence(&js, &item_a).await, fence_a);
        let refused = fenced_put(&nc, &b, &item_a, "by b").await;
        assert_eq!(refused["refused"]["code"], "not_my_work", "{refused}");

        // SIGKILL a: b's rebalance reports one instance, and b then owns everything.
        first.kill9().await;
        eventually("b alone owns all", DEFAULT_DEADLINE, || async {
            ensure!(
                stored_view(&js).await? == [b.clone()],
                "the view still has a"
            );
            let s = status(&nc, &b).await?;
            ensure!(owned(&s) == all, "owned {}", owned(&s).len());
            ensure!(s["work_items"] == ITEMS, "{}", s["work_items"]);
            ensure!(
                rebalances(&s).last() == Some(&(1, ITEMS as u64)),
                "{:?}",
                rebalances(&s)
            );
            Ok(())
        })
        .await;
        // The new owner's token is greater: its write goes over a's.
        let written = fenced_put(&nc, &b, &item_a, "by b").await;
        let fence_b = written["fence"]
            .as_u64()
            .unwrap_or_else(|| panic!("{written}"));
        assert!(fence_b > fence_a, "{fence_b} > {fence_a}");
        assert_eq!(stored_fence(&js, &item_a).await, fence_b);
        assert_eq!(
            js.get_key_value(format!("{PREFIX}_data"))
                .await
                .unwrap()
                .get(&item_a)
                .await
                .unwrap()
                .as_deref(),
            Some(&b"by b"[..])
        );
        // A write from a later owner (a greater fence) fences b's stale token out.
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(FENCE_HEADER, (fence_b + 1_000_000).to_string().as_str());
        js.publish_with_headers(
            format!("$KV.{PREFIX}_data.{item_a}"),
            headers,
            "later".into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
        let refused = fenced_put(&nc, &b, &item_a, "stale").await;
        assert_eq!(refused["refused"]["code"], "fenced_out", "{refused}");

        // A graceful stop deletes the member's record.
        second.terminate().await;
        eventually("b's record is deleted", DEFAULT_DEADLINE, || async {
            ensure!(bucket.get(member_key(&b)).await?.is_none(), "still there");
            Ok(())
        })
        .await;
    }
    stop.send(true).unwrap();
    let samples = checker.await.unwrap();
    let per_instance: BTreeMap<&str, usize> = samples.iter().fold(BTreeMap::new(), |mut m, s| {
        *m.entry(s.instance.as_str()).or_default() += 1;
        m
    });
    assert_eq!(
        per_instance.len(),
        2,
        "both instances were sampled: {per_instance:?}"
    );
    let twice = owned_twice(&samples);
    assert!(twice.is_empty(), "owned twice: {twice:?}");
}

/// The checker itself: an item in one instance's sample and in another's samples on both sides of it is
/// reported; an item that moved between the samples is not.
#[test]
fn the_checker_flags_only_an_item_owned_on_both_sides() {
    let sample = |instance: &str, items: &[&str]| Sample {
        instance: instance.to_owned(),
        owned: items.iter().map(|s| (*s).to_owned()).collect(),
    };
    let moved = [
        sample("a", &["k1", "k2"]),
        sample("b", &["k2"]),
        sample("a", &["k1"]),
    ];
    assert!(owned_twice(&moved).is_empty());
    let twice = [
        sample("a", &["k1", "k2"]),
        sample("b", &["k2"]),
        sample("a", &["k1", "k2"]),
    ];
    assert_eq!(owned_twice(&twice), ["k2: b and a (sample 1)"]);
}

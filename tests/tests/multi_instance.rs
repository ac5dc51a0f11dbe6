//! Several instances of one extension (docs/protocol.md §12): three `multi-ext` processes started from
//! one token are three instances. Micro endpoints are load-balanced over all of them and `$SRV.PING`,
//! `INFO` and `STATS` show each; instance handlers answer for their own instance only, over NATS and
//! through the gateway's `?instance=` (an unknown instance is `404 instance_not_found`); each command is
//! handled by exactly one instance, over NATS and through `POST /api/v1/extensions/<P>/commands/<name>`;
//! instance handlers and commands keep answering across JWT renewals (§2.2; the key JWTs live a few
//! seconds here); after a SIGKILL the survivors answer every later request.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::ensure;
use async_nats::Client;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use symphony_protocol::messages::{ExtensionView, InstanceState};
use symphony_protocol::{ErrorCode, ErrorReply, KeyId, subjects};
use symphony_tests::users::ADMIN_PASSWORD;
use symphony_tests::{DEFAULT_DEADLINE, Extension, Platform, PlatformOptions, bins, eventually};

mod common;

use common::account_user;

const PREFIX: &str = "multi";
/// How many whoami requests a round sends.
const ROUND: usize = 60;
/// The key JWT lifetime the server gets here, in seconds: renewals happen during the test.
const LIFETIME: i64 = 6;
/// How long a discovery request waits for the answers it expects.
const DISCOVERY: Duration = Duration::from_secs(10);

/// The live instances in a view (docs/protocol.md §5.4).
fn live(view: &ExtensionView) -> BTreeSet<String> {
    view.instances
        .iter()
        .filter(|i| i.state != InstanceState::Disconnected)
        .map(|i| i.instance_id.to_string())
        .collect()
}

/// `GET /api/v1/extensions/<PREFIX>`, failing (not panicking) before the first registration.
async fn try_view(platform: &Platform, token: &str) -> anyhow::Result<ExtensionView> {
    let resp = platform
        .get(&format!("/extensions/{PREFIX}"), Some(token))
        .await;
    ensure!(resp.status() == 200, "HTTP {}", resp.status());
    Ok(resp.json().await?)
}

/// Waits until the extension has exactly `n` live instances, all `ok`; their ids.
async fn wait_live(platform: &Platform, token: &str, n: usize) -> BTreeSet<String> {
    eventually(&format!("{n} live instances"), DEFAULT_DEADLINE, || async {
        let view = try_view(platform, token).await?;
        let ids = live(&view);
        ensure!(ids.len() == n, "live: {ids:?}");
        ensure!(
            view.instances
                .iter()
                .filter(|i| ids.contains(i.instance_id.as_str()))
                .all(|i| i.state == InstanceState::Ok),
            "not all ok"
        );
        Ok(ids)
    })
    .await
}

/// A request that must be answered; the reply as JSON.
async fn ask(nc: &Client, subject: &str, body: &Value) -> Value {
    let reply = nc
        .request(subject.to_owned(), body.to_string().into())
        .await
        .unwrap_or_else(|e| panic!("{subject}: {e}"));
    serde_json::from_slice(&reply.payload)
        .unwrap_or_else(|e| panic!("{subject}: not JSON ({e}): {:?}", reply.payload))
}

/// `ROUND` whoami requests; how many each instance answered.
async fn whoami_round(nc: &Client) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for _ in 0..ROUND {
        let reply = ask(
            nc,
            &format!("cirata.extensions.{PREFIX}.whoami"),
            &json!({}),
        )
        .await;
        let id = reply["instance_id"]
            .as_str()
            .expect("an instance id")
            .to_owned();
        *by.entry(id).or_default() += 1;
    }
    by
}

/// Publishes to a discovery subject and collects up to `n` replies, for at most `within`.
async fn discover(nc: &Client, subject: &str, n: usize, within: Duration) -> Vec<Value> {
    let inbox = nc.new_inbox();
    let mut sub = nc.subscribe(inbox.clone()).await.unwrap();
    nc.publish_with_reply(subject.to_owned(), inbox, "".into())
        .await
        .unwrap();
    let mut replies = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while replies.len() < n {
        match tokio::time::timeout_at(deadline, sub.next()).await {
            Ok(Some(m)) => replies.push(serde_json::from_slice(&m.payload).unwrap()),
            _ => break,
        }
    }
    replies
}

/// The `whoami` endpoint of a micro INFO or STATS reply.
fn whoami(reply: &Value) -> &Value {
    reply["endpoints"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["name"] == "whoami"))
        .unwrap_or_else(|| panic!("no whoami endpoint in {reply}"))
}

#[tokio::test]
async fn three_instances_share_endpoints_answer_for_themselves_and_split_commands() {
    let platform = Platform::start(
        PlatformOptions::fast()
            .admin_password(ADMIN_PASSWORD)
            .arg("--key-jwt-lifetime-for-tests")
            .arg(&format!("{LIFETIME}s")),
    )
    .await;
    let admin = platform.login_admin().await;
    let token = platform.extension_key("Multi Fixture", PREFIX, &[]).await;
    let configs = tempfile::tempdir().unwrap();
    let mut instances: Vec<Extension> = (0..3)
        .map(|i| {
            Extension::spawn(
                &bins::binary("multi-ext"),
                &configs.path().join(format!("i{i}")),
                &[("SYMPHONY_TOKEN", token.as_str())],
            )
        })
        .collect();
    let ids = wait_live(&platform, &token, 3).await;
    let view = platform.extension_http(PREFIX, &token).await;
    assert_eq!(
        view.manifest.instance_handlers,
        ["local-status", "fenced-put", "boom"]
    );
    assert_eq!(view.manifest.commands.len(), 1);
    assert_eq!(view.manifest.commands[0].name, "reindex");
    assert_eq!(view.manifest.commands[0].description, "Rebuild the index");
    let nc = account_user(&platform, PREFIX).await;

    // Load balancing: every instance serves a share of the endpoint, and the micro discovery shows
    // all three with the requests each served.
    let counts = whoami_round(&nc).await;
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        ids,
        "{counts:?}"
    );
    let pings = discover(&nc, &format!("$SRV.PING.{PREFIX}"), 3, DISCOVERY).await;
    let services: BTreeSet<&str> = pings.iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(services.len(), 3, "{pings:?}");
    for info in discover(&nc, &format!("$SRV.INFO.{PREFIX}"), 3, DISCOVERY).await {
        assert_eq!(info["name"], PREFIX, "{info}");
        assert_eq!(
            whoami(&info)["subject"],
            format!("cirata.extensions.{PREFIX}.whoami"),
            "{info}"
        );
    }
    let stats = discover(&nc, &format!("$SRV.STATS.{PREFIX}"), 3, DISCOVERY).await;
    assert_eq!(stats.len(), 3, "{stats:?}");
    let mut served: Vec<usize> = stats
        .iter()
        .map(|s| whoami(s)["num_requests"].as_u64().unwrap() as usize)
        .collect();
    let mut answered: Vec<usize> = counts.values().copied().collect();
    served.sort_unstable();
    answered.sort_unstable();
    assert_eq!(served, answered, "STATS against the replies");

    // Instance handlers: only the addressed instance answers, for itself.
    for id in &ids {
        let instance = KeyId::parse(id).unwrap();
        let subject = subjects::instance_handler_subject(PREFIX, &instance, "local-status");
        let status = ask(&nc, &subject, &json!({})).await;
        assert_eq!(status["instance_id"], id.as_str(), "{status}");
        assert_eq!(
            status["caller"],
            Value::Null,
            "not through the gateway: no caller"
        );
    }
    let first = KeyId::parse(ids.iter().next().unwrap()).unwrap();
    // An unknown name: not_found with the 404 service error code.
    let reply = nc
        .request(
            subjects::instance_handler_subject(PREFIX, &first, "nope"),
            "{}".into(),
        )
        .await
        .unwrap();
    let headers = reply.headers.as_ref().expect("error headers");
    assert_eq!(
        headers.get("Nats-Service-Error-Code").map(|v| v.as_str()),
        Some("404")
    );
    let error: ErrorReply = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(error.error.code, ErrorCode::NotFound);
    // A handler that panics: the failure reply of §5.5, and the instance keeps serving.
    let reply = nc
        .request(
            subjects::instance_handler_subject(PREFIX, &first, "boom"),
            "{}".into(),
        )
        .await
        .unwrap();
    let headers = reply.headers.as_ref().expect("error headers");
    assert_eq!(
        headers.get("Nats-Service-Error-Code").map(|v| v.as_str()),
        Some("500")
    );
    let error: ErrorReply = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(error.error.code, ErrorCode::HandlerFailed);
    assert!(error.error.message.contains("boom on purpose"), "{error:?}");
    // Nobody serves a made-up instance.
    let nobody = nc
        .request(
            subjects::instance_handler_subject(PREFIX, &KeyId::generate(), "local-status"),
            "{}".into(),
        )
        .await
        .unwrap_err();
    assert_eq!(nobody.kind(), async_nats::RequestErrorKind::NoResponders);

    // Through the gateway: `?instance=` reaches that instance, with the signed caller.
    for id in &ids {
        let reply = platform
            .call(
                Method::GET,
                &format!("/extension/{PREFIX}/local-status?instance={id}"),
                Some(&admin.token),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{reply}");
        assert_eq!(reply.json()["instance_id"], id.as_str(), "{reply}");
        assert_eq!(reply.json()["caller"], "user:admin", "{reply}");
    }
    for unknown in [KeyId::generate().to_string(), "not-an-id".to_owned()] {
        let reply = platform
            .call(
                Method::GET,
                &format!("/extension/{PREFIX}/local-status?instance={unknown}"),
                Some(&admin.token),
                None,
            )
            .await;
        reply.assert_error(404, ErrorCode::InstanceNotFound);
    }

    // Commands: each is handled by exactly one instance, over NATS and through the platform.
    let command = subjects::command_subject(PREFIX, "reindex");
    let mut handled_by = BTreeMap::new();
    for n in 0..30u64 {
        let reply = ask(&nc, &command, &json!({"id": n})).await;
        assert_eq!(reply["id"], n, "{reply}");
        handled_by.insert(n, reply["instance_id"].as_str().unwrap().to_owned());
    }
    for n in 30..33u64 {
        let reply = platform
            .call(
                Method::POST,
                &format!("/extensions/{PREFIX}/commands/reindex"),
                Some(&admin.token),
                Some(&json!({"id": n})),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply}");
        assert_eq!(reply.json()["id"], n, "{reply}");
        handled_by.insert(n, reply.json()["instance_id"].as_str().unwrap().to_owned());
    }
    let undeclared = platform
        .call(
            Method::POST,
            &format!("/extensions/{PREFIX}/commands/nope"),
            Some(&admin.token),
            Some(&json!({})),
        )
        .await;
    undeclared.assert_error(404, ErrorCode::CommandNotFound);
    let mut seen: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for id in &ids {
        let instance = KeyId::parse(id).unwrap();
        let subject = subjects::instance_handler_subject(PREFIX, &instance, "local-status");
        let status = ask(&nc, &subject, &json!({})).await;
        for n in status["commands"].as_array().unwrap() {
            seen.entry(n.as_u64().unwrap())
                .or_default()
                .push(id.clone());
        }
    }
    assert_eq!(seen.len(), handled_by.len(), "{seen:?}");
    for (n, by) in &seen {
        assert_eq!(by, &[handled_by[n].clone()], "command {n}");
    }

    // Renewals move the listeners to a connection with the new JWT without a request going
    // unanswered, and keep the instance ids: requests one after another until every instance renewed
    // at least twice.
    let until = symphony_protocol::time::now_unix() + 2 * LIFETIME + 1;
    let mut n = 1000u64;
    while symphony_protocol::time::now_unix() <= until {
        for id in &ids {
            let instance = KeyId::parse(id).unwrap();
            let subject = subjects::instance_handler_subject(PREFIX, &instance, "local-status");
            let status = ask(&nc, &subject, &json!({})).await;
            assert_eq!(status["instance_id"], id.as_str(), "{status}");
        }
        let reply = ask(&nc, &command, &json!({"id": n})).await;
        assert_eq!(reply["id"], n, "{reply}");
        n += 1;
    }
    assert_eq!(wait_live(&platform, &token, 3).await, ids);

    // SIGKILL one: once the platform saw it go, every later request is answered by the other two.
    instances[0].kill9().await;
    let survivors = wait_live(&platform, &token, 2).await;
    assert!(ids.is_superset(&survivors));
    let gone: BTreeSet<String> = ids.difference(&survivors).cloned().collect();
    assert_eq!(gone.len(), 1);
    let counts = whoami_round(&nc).await;
    assert_eq!(counts.values().sum::<usize>(), ROUND);
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        survivors,
        "{counts:?}"
    );
    // A third answer would come with the other two: two seconds are plenty for it to show.
    let pings = discover(
        &nc,
        &format!("$SRV.PING.{PREFIX}"),
        3,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(pings.len(), 2, "{pings:?}");
    for n in 100..110u64 {
        let reply = ask(&nc, &command, &json!({"id": n})).await;
        assert!(
            survivors.contains(reply["instance_id"].as_str().unwrap()),
            "{reply}"
        );
    }
    drop(instances);
}

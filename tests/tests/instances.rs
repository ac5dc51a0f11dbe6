//! Instances (docs/protocol.md §12): an instance id per exchange that renewals keep, instance
//! handlers behind the gateway's `?instance=`, the commands channel, and the partition view the
//! server writes into the extension's account. Raw NATS connections stand in for SDKs here; the
//! SDKs' own tests run real extensions.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use symphony_protocol::ErrorCode;
use symphony_protocol::jwt::{UserClaims, decode};
use symphony_protocol::messages::RegisterReply;
use symphony_protocol::partition::{VIEW_BUCKET, VIEW_KEY, View};
use symphony_tests::platform::{Platform, PlatformOptions};
use symphony_tests::poll::{DEFAULT_DEADLINE, eventually};
use symphony_tests::{KeyConn, manifest};

/// Heartbeats the tests write themselves, so statuses must not expire under them.
fn options() -> PlatformOptions {
    PlatformOptions::default()
        .heartbeat("1s")
        .status_ttl("1h")
        .admin_password(symphony_tests::users::ADMIN_PASSWORD)
}

/// The manifest of extension `multi`: one command and one instance handler.
fn multi_manifest() -> Value {
    let mut m = manifest::minimal("Multi", "multi");
    m["commands"] = json!([{"name": "reindex", "description": "Rebuild the index"}]);
    m["instance_handlers"] = json!(["local-status"]);
    m
}

/// Publishes this instance's status through JetStream, as an SDK's heartbeat does.
async fn report(conn: &KeyConn, prefix: &str, state: &str, partitioning: bool) {
    let instance = conn.instance_id();
    let status = json!({
        "v": 1, "prefix": prefix, "instance_id": instance, "key_id": conn.key_id(),
        "name": "Multi", "state": state, "partitioning": partitioning,
        "started_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
    });
    async_nats::jetstream::new(conn.client.clone())
        .publish(
            format!("$KV.symphony_status.{prefix}.{instance}"),
            serde_json::to_vec(&status).unwrap().into(),
        )
        .await
        .expect("publish a status")
        .await
        .expect("JetStream stores the status");
}

/// A running instance of `multi`: connected, registered and reporting `ok`.
async fn instance(platform: &Platform, token: &str) -> KeyConn {
    let conn = platform.connect_as(token).await;
    let reply: RegisterReply = conn
        .request_json(&conn.register_subject(), &multi_manifest())
        .await
        .expect("multi registers");
    assert_eq!(
        &reply.instance_id,
        conn.instance_id(),
        "registration names the instance"
    );
    report(&conn, "multi", "ok", false).await;
    conn
}

#[tokio::test]
async fn every_exchange_is_a_new_instance_and_a_renewal_keeps_its_id() {
    let platform = Platform::start(options()).await;
    let token = platform.extension_key("Multi", "multi", &[]).await;
    let other = platform.extension_key("Other", "other", &[]).await;

    // Two pods from one token: two instances, one key (one nkey).
    let a = platform.exchange(&token).await;
    let b = platform.exchange(&token).await;
    let (ia, ib) = (
        a.instance_id.clone().unwrap(),
        b.instance_id.clone().unwrap(),
    );
    assert_ne!(ia, ib, "each exchange is an instance of its own");
    assert_eq!(a.id, b.id);
    assert_eq!(
        a.seed, b.seed,
        "one key, one nkey: revoking it ends every instance"
    );
    let jti = |jwt: &str| decode::<UserClaims>(jwt).unwrap().jti;
    assert_eq!(jti(&a.jwt), ia.as_str(), "the JWT's jti is the instance id");

    // A renewal keeps the id (and the JWT names it again).
    let renewed = platform
        .call(
            Method::GET,
            &format!("/apikey?instance={ia}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(renewed.status, 200, "{renewed}");
    let renewed: symphony_protocol::messages::ApiKey =
        serde_json::from_str(&renewed.text()).unwrap();
    assert_eq!(renewed.instance_id.as_ref(), Some(&ia));
    assert_eq!(jti(&renewed.jwt), ia.as_str());

    // Someone else's instance, a made-up one, or garbage: refused, typed.
    let theirs = platform.exchange(&other).await.instance_id.unwrap();
    for (query, what) in [
        (format!("instance={theirs}"), "another key's instance"),
        (
            format!("instance={}", symphony_protocol::KeyId::generate()),
            "a made-up id",
        ),
        ("instance=not-an-id".to_owned(), "garbage"),
    ] {
        let reply = platform
            .call(Method::GET, &format!("/apikey?{query}"), Some(&token), None)
            .await;
        reply.assert_error(400, ErrorCode::InvalidRequest);
        assert!(!reply.text().contains("seed"), "{what}: nothing minted");
    }

    // An instance's JWT registers only as itself.
    let mut conn_a = KeyConn::connect(a).await;
    let conn_b = KeyConn::connect(b).await;
    conn_a
        .assert_publish_denied(&conn_b.register_subject())
        .await;
    let reply: RegisterReply = conn_a
        .request_json(&conn_a.register_subject(), &multi_manifest())
        .await
        .expect("registers as itself");
    assert_eq!(reply.instance_id, ia);
}

#[tokio::test]
async fn instance_handlers_are_reached_through_the_gateway_with_instance() {
    let platform = Platform::start(options()).await;
    let admin = platform.login_admin().await.token;
    let token = platform.extension_key("Multi", "multi", &[]).await;
    let one = instance(&platform, &token).await;
    let two = instance(&platform, &token).await;
    // Each instance answers its own handlers, naming itself and what it was sent.
    for conn in [&one, &two] {
        let mut sub = conn
            .client
            .subscribe(format!(
                "cirata.extensions.multi.instance.{}.>",
                conn.instance_id()
            ))
            .await
            .unwrap();
        let (client, me) = (conn.client.clone(), conn.instance_id().to_string());
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let headers = msg.headers.clone().unwrap_or_default();
                let reply = json!({
                    "instance_id": me,
                    "subject": msg.subject.as_str(),
                    "caller": headers.get("Symphony-Caller").map(|v| v.to_string()),
                    "signed": headers.get("Symphony-Caller-Signature").is_some(),
                    "query": headers.get("Symphony-Query").map(|v| v.to_string()),
                    "payload": String::from_utf8_lossy(&msg.payload),
                });
                if let Some(to) = msg.reply {
                    let _ = client
                        .publish(to, serde_json::to_vec(&reply).unwrap().into())
                        .await;
                }
            }
        });
        conn.client.flush().await.unwrap();
    }

    let url = |id: &str| format!("/extension/multi/local-status?instance={id}");
    for conn in [&one, &two] {
        let id = conn.instance_id().to_string();
        let reply = eventually(
            "the instance is live for the gateway",
            DEFAULT_DEADLINE,
            || async {
                let r = platform
                    .send(platform.api(Method::GET, &url(&id), Some(&admin)))
                    .await;
                anyhow::ensure!(r.status == 200, "{r}");
                Ok(r)
            },
        )
        .await;
        let body = reply.json();
        assert_eq!(
            body["instance_id"],
            json!(id),
            "only the targeted instance answers"
        );
        assert_eq!(
            body["subject"],
            json!(format!(
                "cirata.extensions.multi.instance.{id}.local-status"
            ))
        );
        assert_eq!(body["caller"], json!("user:admin"));
        assert_eq!(body["signed"], json!(true));
        assert_eq!(body["query"], json!(format!("instance={id}")));
    }
    // POST carries its body.
    let id = one.instance_id().to_string();
    let posted = platform
        .send(
            platform
                .api(Method::POST, &url(&id), Some(&admin))
                .body("ping"),
        )
        .await;
    assert_eq!(posted.json()["payload"], json!("ping"), "{posted}");

    // Unknown, malformed, another extension's, or not live: 404 instance_not_found.
    let other = platform.extension_key("Other", "other", &[]).await;
    let theirs = platform.connect_as(&other).await;
    for bad in [
        symphony_protocol::KeyId::generate().to_string(),
        "nonsense".to_owned(),
        theirs.instance_id().to_string(),
    ] {
        platform
            .send(platform.api(Method::GET, &url(&bad), Some(&admin)))
            .await
            .assert_error(404, ErrorCode::InstanceNotFound);
    }
    report(&two, "multi", "disconnected", false).await;
    let gone = two.instance_id().to_string();
    eventually(
        "a disconnected instance is not found",
        DEFAULT_DEADLINE,
        || async {
            let r = platform
                .send(platform.api(Method::GET, &url(&gone), Some(&admin)))
                .await;
            anyhow::ensure!(r.status == 404, "{r}");
            r.assert_error(404, ErrorCode::InstanceNotFound);
            Ok(())
        },
    )
    .await;

    // The handler name is one token; a caller without the right to call multi is refused.
    platform
        .send(platform.api(
            Method::GET,
            &format!("/extension/multi/a/b?instance={id}"),
            Some(&admin),
        ))
        .await
        .assert_error(400, ErrorCode::InvalidPath);
    let nobody = platform.add_user(&admin, "nobody", &["viewer"]).await;
    platform
        .send(platform.api(Method::GET, &url(&id), Some(&nobody.token)))
        .await
        .assert_error(403, ErrorCode::Forbidden);
}

#[tokio::test]
async fn each_command_is_handled_by_exactly_one_instance() {
    let platform = Platform::start(options()).await;
    let admin = platform.login_admin().await.token;
    let token = platform.extension_key("Multi", "multi", &[]).await;
    let path = "/extensions/multi/commands/reindex";

    // Declared, but nobody listens yet: 503 no_responders.
    let lone = instance(&platform, &token).await;
    platform
        .send(platform.api(Method::POST, path, Some(&admin)))
        .await
        .assert_error(503, ErrorCode::NoResponders);

    let instances = [
        lone,
        instance(&platform, &token).await,
        instance(&platform, &token).await,
    ];
    let (tx, mut handled) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    for conn in &instances {
        let mut sub = conn
            .client
            .queue_subscribe(
                symphony_protocol::subjects::command_subject("multi", "reindex"),
                symphony_protocol::subjects::COMMANDS_QUEUE.to_owned(),
            )
            .await
            .unwrap();
        let (client, me, tx) = (
            conn.client.clone(),
            conn.instance_id().to_string(),
            tx.clone(),
        );
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let body = String::from_utf8_lossy(&msg.payload).into_owned();
                let _ = tx.send((me.clone(), body.clone()));
                if let Some(to) = msg.reply {
                    let reply = json!({"by": me, "got": body});
                    let _ = client.publish(to, reply.to_string().into()).await;
                }
            }
        });
        conn.client.flush().await.unwrap();
    }
    drop(tx);

    const N: usize = 30;
    let mut answered_by: HashMap<String, usize> = HashMap::new();
    for n in 0..N {
        let reply = platform
            .send(
                platform
                    .api(Method::POST, path, Some(&admin))
                    .json(&json!({"n": n})),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply}");
        let body = reply.json();
        assert_eq!(body["got"], json!(json!({"n": n}).to_string()));
        *answered_by
            .entry(body["by"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    // Every command reached exactly one instance: N deliveries in all, one per command.
    let mut deliveries: HashMap<String, usize> = HashMap::new();
    while let Ok(Some((by, body))) =
        tokio::time::timeout(Duration::from_millis(500), handled.recv()).await
    {
        *deliveries.entry(body).or_default() += 1;
        assert!(answered_by.contains_key(&by));
    }
    assert_eq!(
        deliveries.len(),
        N,
        "every command delivered: {deliveries:?}"
    );
    assert!(
        deliveries.values().all(|c| *c == 1),
        "none twice: {deliveries:?}"
    );
    assert!(
        answered_by.len() > 1,
        "the queue group spreads them: {answered_by:?}"
    );

    // Undeclared or malformed names: 404 command_not_found; a caller who may not call: 403.
    for bad in ["nope", "a.b", "%20"] {
        platform
            .send(platform.api(
                Method::POST,
                &format!("/extensions/multi/commands/{bad}"),
                Some(&admin),
            ))
            .await
            .assert_error(404, ErrorCode::CommandNotFound);
    }
    let nobody = platform.add_user(&admin, "nobody", &["viewer"]).await;
    platform
        .send(platform.api(Method::POST, path, Some(&nobody.token)))
        .await
        .assert_error(403, ErrorCode::Forbidden);
}

/// The stored view of `multi`, read with an instance's own JetStream.
async fn stored_view(conn: &KeyConn) -> Option<View> {
    let kv = async_nats::jetstream::new(conn.client.clone())
        .get_key_value(VIEW_BUCKET)
        .await
        .ok()?;
    let entry = kv.get(VIEW_KEY).await.ok()??;
    serde_json::from_slice(&entry).ok()
}

#[tokio::test]
async fn the_server_writes_the_partition_view_from_presence() {
    let platform = Platform::start(options()).await;
    let token = platform.extension_key("Multi", "multi", &[]).await;
    let a = instance(&platform, &token).await;
    let b = instance(&platform, &token).await;
    let c = instance(&platform, &token).await;
    // The SDK creates the bucket before it reports `partitioning`.
    async_nats::jetstream::new(a.client.clone())
        .create_key_value(async_nats::jetstream::kv::Config {
            bucket: VIEW_BUCKET.to_owned(),
            history: 1,
            ..Default::default()
        })
        .await
        .expect("the instance creates the view bucket in its own account");
    for conn in [&a, &b] {
        report(conn, "multi", "ok", true).await;
    }
    let members = |conns: &[&KeyConn]| {
        let mut m: Vec<String> = conns.iter().map(|c| c.instance_id().to_string()).collect();
        m.sort();
        m
    };
    let wait_view = |want: Vec<String>, what: &'static str| {
        let a = &a;
        async move {
            eventually(what, DEFAULT_DEADLINE, || async {
                let view = stored_view(a).await;
                anyhow::ensure!(
                    view.as_ref().map(|v| &v.members) == Some(&want),
                    "stored {view:?}, want {want:?}"
                );
                Ok(())
            })
            .await
        }
    };
    // c does not partition: not a member.
    wait_view(members(&[&a, &b]), "a and b are the members").await;
    report(&c, "multi", "ok", true).await;
    wait_view(members(&[&a, &b, &c]), "c joins").await;
    report(&b, "multi", "disconnected", true).await;
    wait_view(members(&[&a, &c]), "b leaves").await;
}

#[tokio::test]
async fn revoking_a_key_ends_every_instance_of_it() {
    let platform = Platform::start(options()).await;
    let admin = platform.login_admin().await.token;
    let created = platform
        .create_key(
            &admin,
            &json!({"name": "Multi", "prefix": "multi", "capabilities": ["sub:extensions.multi.>"]}),
        )
        .await;
    let mut one = instance(&platform, &created.token).await;
    let mut two = instance(&platform, &created.token).await;
    assert_ne!(one.instance_id(), two.instance_id());
    one.assert_no_violations("instance one is connected").await;
    two.assert_no_violations("instance two is connected").await;

    let revoked = platform.revoke_key(&admin, created.id.as_str()).await;
    assert!(revoked.status < 300, "{revoked}");
    for (conn, what) in [(&mut one, "instance one"), (&mut two, "instance two")] {
        let errors = symphony_tests::users::wait_disconnected(conn, what).await;
        assert!(
            symphony_tests::users::says_revoked(&errors),
            "{what}: dropped as revoked: {errors:?}"
        );
    }
    // And neither can come back as a new instance.
    platform
        .call(Method::GET, "/apikey", Some(&created.token), None)
        .await
        .assert_error(401, ErrorCode::TokenRevoked);
}

//! Attacks on the isolation boundary (docs/security.md §2.1–2.4; docs/protocol.md §3.1). Each test is
//! an attack that worked while every extension, key and user shared one NATS account, and shows it
//! refused now that each extension has its own account and callers live in the clients account.

use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt as _;
use reqwest::Method;
use serde_json::json;
use symphony_protocol::ErrorCode;
use symphony_protocol::messages::{ClusterInfo, ExtensionState, InstanceState, ProvisionReply};
use symphony_protocol::subjects;
use symphony_tests::extension::Extension;
use symphony_tests::users::ADMIN_PASSWORD;
use symphony_tests::{KeyConn, Platform, PlatformOptions, bins, eventually, manifest};

async fn platform() -> Platform {
    Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await
}

/// A key bound to no prefix (the clients account) with `capabilities`.
async fn client(p: &Platform, capabilities: &[&str]) -> KeyConn {
    p.connect_as(&p.key_create(capabilities, None, &[]).await)
        .await
}

/// Serves `cirata.extensions.<prefix>.echo` on `conn` until the task is dropped.
fn serve_echo(conn: &KeyConn, prefix: &str) -> tokio::task::JoinHandle<()> {
    let client = conn.client.clone();
    let subject = format!("cirata.extensions.{prefix}.echo");
    tokio::spawn(async move {
        let mut sub = client.subscribe(subject).await.unwrap();
        while let Some(msg) = sub.next().await {
            if let Some(reply) = msg.reply {
                let _ = client.publish(reply, msg.payload).await;
            }
        }
    })
}

/// Attack: a viewer's key asks a platform service with a reply subject in the platform's KV
/// (`$KV.symphony_roles.x`), so the server's own connection writes a non-role and every roles read
/// fails. Now the request crosses a service import: the server answers the reply subject
/// nats-server made up, and the answer lands in the caller's own account.
#[tokio::test]
async fn a_reply_subject_cannot_make_the_server_write_platform_state() {
    let p = platform().await;
    let admin = p.login_admin().await;
    let viewer = p.add_user(&admin.token, "vic", &["viewer"]).await;
    let key = p.create_key(&viewer.token, &json!({"name": "x"})).await;
    let conn = p.connect_as(&key.token).await;
    // The barrier: a registration key of the same account listens on its inbox.
    let witness = p.connect_as(&p.token_create_registration().await).await;
    let barrier = format!("{}.barrier", subjects::registration_inbox(witness.key_id()));
    let mut arrived = witness.client.subscribe(barrier.clone()).await.unwrap();
    for reply in [
        "$KV.symphony_roles.x".to_owned(),
        "$KV.symphony_users.admin".to_owned(),
        format!("$KV.symphony_keys.{}", key.id),
        "$JS.API.STREAM.DELETE.KV_symphony_keys".to_owned(),
        barrier,
    ] {
        conn.client
            .publish_with_reply(subjects::CLUSTER_INFO, reply, "".into())
            .await
            .unwrap();
    }
    conn.client.flush().await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), arrived.next())
        .await
        .expect("the server answered the last request, in the caller's account")
        .unwrap();
    let _: ClusterInfo = serde_json::from_slice(&answer.payload).unwrap();

    let roles = p
        .call(Method::GET, "/roles", Some(&admin.token), None)
        .await;
    assert_eq!(roles.status, 200, "{roles}");
    assert!(
        !roles.text().contains("\"x\""),
        "no role x was written: {roles}"
    );
    assert_eq!(p.userinfo(&admin.token).await.status, 200);
    assert_eq!(p.exchange(&key.token).await.id, key.id, "keys untouched");
    let stream = p.call(Method::GET, "/keys", Some(&admin.token), None).await;
    assert_eq!(stream.status, 200, "the keys stream still exists: {stream}");
}

/// Attack: an extension creates a push consumer on its own KV stream whose deliver subject is
/// another extension's service subject or another key's registration subject. A consumer delivers
/// inside its own account now, where those subjects reach nobody else (and the registry checks who
/// sent a registration).
#[tokio::test]
async fn a_push_consumer_delivers_only_inside_its_own_account() {
    let p = platform().await;
    let mut victim = p.registered_extension("Victim", "victim", &[]).await;
    let mut hijacked = victim
        .assert_subscribe_allowed("cirata.extensions.victim.hijack")
        .await;
    let evil = p.registered_extension("Evil", "evil", &[]).await;

    let js = jetstream::new(evil.client.clone());
    let kv = js.get_key_value("evil_data").await.unwrap();
    let forged = serde_json::to_vec(&manifest::minimal("Hijacked", "victim")).unwrap();
    kv.put("payload", forged.into()).await.unwrap();
    let stream = js.get_stream("KV_evil_data").await.unwrap();
    // The barrier: a consumer delivering to evil's own inbox, created last.
    let own = format!("{}.probe", evil.key.inbox_prefix);
    let mut probe = evil.client.subscribe(own.clone()).await.unwrap();
    for target in [
        "cirata.extensions.victim.hijack".to_owned(),
        victim.register_subject(),
        own,
    ] {
        stream
            .create_consumer(jetstream::consumer::push::Config {
                deliver_subject: target,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(10), probe.next())
        .await
        .expect("evil's own consumer delivered")
        .unwrap();
    victim
        .assert_nothing_received(&mut hijacked, "a consumer of another account")
        .await;
    let view = p.try_extension("victim").await.unwrap();
    assert_eq!(
        view.name, "Victim",
        "the victim's registration is untouched"
    );
    victim.assert_no_violations("victim").await;
}

/// Attack: a key allowed to subscribe to another extension's subjects subscribes to its service
/// subject and answers its requests. A `sub` capability reaches only events now; only the extension
/// answers its requests, and an undeclared call is refused by nats-server.
#[tokio::test]
async fn nobody_but_the_extension_answers_its_requests() {
    let p = platform().await;
    let victim = p.registered_extension("Victim", "victim", &[]).await;
    let _echo = serve_echo(&victim, "victim");
    let admin = p.login_admin().await;
    let viewer = p.add_user(&admin.token, "vic", &["viewer"]).await;
    let key = p
        .create_key(
            &viewer.token,
            &json!({"name": "spy", "capabilities": ["sub:extensions.victim.echo"]}),
        )
        .await;
    let mut spy = p.connect_as(&key.token).await;
    spy.assert_subscribe_denied("cirata.extensions.victim.echo")
        .await;
    spy.assert_subscribe_denied("cirata.extensions.>").await;
    let mut events = spy.assert_subscribe_allowed("extensions.victim.echo").await;
    // An extension with the same capability: its events, never its requests, no fake events.
    let mut spy_ext = p
        .registered_extension("Spy", "spy", &["sub:extensions.victim.echo"])
        .await;
    spy_ext
        .assert_subscribe_denied("cirata.extensions.victim.echo")
        .await;
    spy_ext
        .assert_publish_denied("extensions.victim.echo")
        .await;
    spy_ext
        .assert_publish_denied("cirata.extensions.victim.echo")
        .await;
    let mut ext_events = spy_ext
        .assert_subscribe_allowed("extensions.victim.echo")
        .await;

    // Events reach both; a declared call reaches the victim, which answers.
    victim
        .client
        .publish("extensions.victim.echo", "event".into())
        .await
        .unwrap();
    victim.client.flush().await.unwrap();
    for sub in [&mut events, &mut ext_events] {
        let got = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("the event arrives through the stream import")
            .unwrap();
        assert_eq!(got.payload.as_ref(), b"event");
    }
    let caller = p
        .registered_extension("Caller", "caller", &["pub:extensions.victim.echo"])
        .await;
    let reply = caller
        .client
        .request("cirata.extensions.victim.echo", "ping".into())
        .await
        .expect("a declared call is answered by the extension");
    assert_eq!(reply.payload.as_ref(), b"ping");
    let mut outsider = client(&p, &["sub:extensions.victim.other"]).await;
    outsider
        .assert_publish_denied("cirata.extensions.victim.echo")
        .await;
}

/// Attack: a connection named like another extension's instance (`<prefix>-<key id>`) closes, and
/// the server marks that instance disconnected (removing its REST routes). The server now believes
/// a disconnect advisory only for the instance's own user in its extension's account.
#[tokio::test]
async fn a_spoofed_disconnect_advisory_changes_nothing() {
    let p = platform().await;
    let config = tempfile::tempdir().unwrap();
    let registration = p.token_create_registration().await;
    let _catalog = Extension::spawn_with_token(&bins::catalog(), config.path(), &registration);
    p.wait_extension("catalog", "catalog OK", |v| {
        anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
        Ok(())
    })
    .await;
    let catalog_token =
        std::fs::read_to_string(Extension::stored_token_path(config.path(), "catalog")).unwrap();
    let catalog_id = symphony_tests::platform::key_id_of(catalog_token.trim());

    // The attacker: any key, connecting under the victim instance's connection name.
    let key = p
        .exchange(&p.key_create(&["sub:extensions.catalog.x"], None, &[]).await)
        .await;
    let kp = std::sync::Arc::new(nkeys::KeyPair::from_seed(&key.seed).unwrap());
    let spoof = async_nats::ConnectOptions::with_jwt(key.jwt.clone(), move |nonce| {
        let kp = kp.clone();
        async move { kp.sign(&nonce).map_err(async_nats::AuthError::new) }
    })
    .name(format!("catalog-{catalog_id}"))
    .custom_inbox_prefix(key.inbox_prefix.clone())
    .connect(key.nats_urls.clone())
    .await
    .unwrap();
    spoof.flush().await.unwrap();
    drop(spoof);

    // The barrier: a real instance killed after the spoof is marked disconnected by its advisory.
    let hello_config = tempfile::tempdir().unwrap();
    let hello_token = p.token_create_registration().await;
    let mut hello = Extension::spawn_with_token(&bins::hello(), hello_config.path(), &hello_token);
    p.wait_extension("hello", "hello OK", |v| {
        anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
        Ok(())
    })
    .await;
    hello.kill9().await;
    p.wait_extension("hello", "hello's advisory handled", |v| {
        anyhow::ensure!(
            v.instances
                .iter()
                .all(|i| i.state == InstanceState::Disconnected),
            "not yet"
        );
        Ok(())
    })
    .await;
    let view = p.try_extension("catalog").await.unwrap();
    assert_eq!(view.state, ExtensionState::Ok, "catalog stays up");
    assert!(
        view.instances
            .iter()
            .all(|i| i.state != InstanceState::Disconnected),
        "{view:?}"
    );
}

/// Attack: whoever holds a registration token (or a developer) provisions a key for an existing
/// prefix by reusing its extension name, and gets its account. A prefix is recorded with its
/// owner now: an unbound token of someone else is refused without naming the extension, a user
/// needs roles that cover the prefix, and a token bound to one prefix provisions only that one.
#[tokio::test]
async fn a_prefix_belongs_to_its_owner() {
    let p = platform().await;
    let admin = p.login_admin().await;
    // `owned` is made by the CLI (an administrator).
    let owned = p
        .registered_extension("Owned Secret Name", "owned", &[])
        .await;
    let dev = p.add_user(&admin.token, "devon", &["developer"]).await;

    let provision = |token: String, prefix: &'static str| {
        let p = &p;
        async move {
            let conn = p.connect_as(&token).await;
            conn.request_json::<ProvisionReply>(
                &subjects::provision(conn.key_id()),
                &manifest::provision_request("Owned Secret Name", prefix),
            )
            .await
        }
    };
    let unbound = p.create_registration(&dev.token, "unbound").await;
    let err = provision(unbound.token, "owned").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PrefixOwned, "{err:?}");
    assert!(
        !err.message.contains("Secret") && !err.hint.clone().unwrap_or_default().contains("Secret"),
        "the refusal names no extension: {err:?}"
    );

    // A user whose roles do not cover the prefix binds nothing to it.
    p.put_role(
        &admin.token,
        "mine-only",
        &json!({"name": "mine-only", "pub": ["extensions.mine.>"], "sub": ["extensions.mine.>"], "extensions": ["mine"]}),
    )
    .await;
    let narrow = p.add_user(&admin.token, "nora", &["mine-only"]).await;
    for body in [
        json!({"name": "k", "prefix": "owned"}),
        json!({"name": "t", "registration": true, "prefix": "owned"}),
    ] {
        p.create_key_reply(&narrow.token, &body)
            .await
            .assert_error(403, ErrorCode::CapabilityForbidden);
    }

    // A token bound to the prefix (made by a user whose roles cover it) adds an instance, audited;
    // the same token cannot provision another prefix.
    let bound = p
        .create_key(
            &dev.token,
            &json!({"name": "bound", "registration": true, "prefix": "owned"}),
        )
        .await;
    let other = p
        .create_key(
            &dev.token,
            &json!({"name": "bound2", "registration": true, "prefix": "owned"}),
        )
        .await;
    let err = provision(other.token, "elsewhere").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PrefixMismatch, "{err:?}");
    let reply = provision(bound.token, "owned")
        .await
        .expect("a bound token provisions its prefix");
    let audit = p.audit(&admin.token, 50).await;
    assert!(
        audit.iter().any(|e| e.action == "provisioned"
            && e.target == format!("key:{}", reply.id)
            && e.detail.contains("owned by")),
        "joining someone else's prefix is audited: {audit:?}"
    );
    drop(owned);
}

/// Attack: an extension creates streams that capture other extensions' or the platform's subjects.
/// Its JetStream is its own account's: it sees only its own traffic.
#[tokio::test]
async fn an_extension_stream_captures_only_its_own_account() {
    let p = platform().await;
    let victim = p.registered_extension("Victim", "victim", &[]).await;
    let _echo = serve_echo(&victim, "victim");
    let evil = p.registered_extension("Evil", "evil", &[]).await;
    let js = jetstream::new(evil.client.clone());
    let mut capture = js
        .create_stream(jetstream::stream::Config {
            name: "CAPTURE".into(),
            subjects: vec![
                "cirata.extensions.victim.>".into(),
                "$KV.symphony_keys.>".into(),
                "cirata.services.>".into(),
            ],
            ..Default::default()
        })
        .await
        .expect("an extension creates streams in its own account");
    let caller = client(&p, &["pub:extensions.victim.echo"]).await;
    let reply = caller
        .client
        .request("cirata.extensions.victim.echo", "hi".into())
        .await
        .expect("the victim answers");
    assert_eq!(reply.payload.as_ref(), b"hi");
    let _ = p
        .exchange(&p.key_create(&["sub:extensions.victim.x"], None, &[]).await)
        .await;
    let info = capture.info().await.unwrap();
    assert_eq!(
        info.state.messages, 0,
        "nothing of another account was captured"
    );
    // And the platform's streams are not in the extension's account at all.
    assert!(js.get_stream("KV_symphony_keys").await.is_err());
}

/// The seed's runtime bucket: an extension asks the cluster info and creates a bucket with that
/// replica count in its own account; another extension cannot see it.
#[tokio::test]
async fn an_extension_creates_buckets_at_runtime_in_its_own_account() {
    let p = platform().await;
    let ext = p.registered_extension("Runtime", "rt", &[]).await;
    let info: ClusterInfo = ext
        .request_json(subjects::CLUSTER_INFO, &json!({}))
        .await
        .unwrap();
    let js = jetstream::new(ext.client.clone());
    let kv = js
        .create_key_value(jetstream::kv::Config {
            bucket: "runtime_data".into(),
            description: "Created on demand".into(),
            num_replicas: info.replicas,
            ..Default::default()
        })
        .await
        .expect("create a bucket at runtime");
    kv.put("k", "v".into()).await.unwrap();
    let other = p.registered_extension("Other", "other", &[]).await;
    let seen = jetstream::new(other.client.clone())
        .get_key_value("runtime_data")
        .await;
    assert!(seen.is_err(), "another extension cannot see it");
}

/// An extension over its storage limit gets JetStream's error; the platform and other extensions
/// keep working. Limits change live, by an administrator only.
#[tokio::test]
async fn an_extension_over_its_storage_limit_is_refused_alone() {
    let p = platform().await;
    let admin = p.login_admin().await;
    let hog = p.registered_extension("Hog", "hog", &[]).await;
    let neighbour = p.registered_extension("Neighbour", "neighbour", &[]).await;
    let limits =
        json!({"disk_storage": 256 * 1024, "mem_storage": 0, "streams": 10, "consumer": 100});
    let viewer = p.add_user(&admin.token, "vic", &["viewer"]).await;
    p.call(
        Method::PUT,
        "/extensions/hog/limits",
        Some(&viewer.token),
        Some(&limits),
    )
    .await
    .assert_error(403, ErrorCode::Forbidden);
    let set = p
        .call(
            Method::PUT,
            "/extensions/hog/limits",
            Some(&admin.token),
            Some(&limits),
        )
        .await;
    assert_eq!(set.status, 200, "{set}");
    assert_eq!(set.json()["limits"]["disk_storage"], 256 * 1024);

    let kv = jetstream::new(hog.client.clone())
        .get_key_value("hog_data")
        .await
        .unwrap();
    let chunk = bytes::Bytes::from(vec![b'x'; 16 * 1024]);
    let refused = eventually(
        "the hog hits its storage limit",
        Duration::from_secs(60),
        || {
            let kv = kv.clone();
            let chunk = chunk.clone();
            async move {
                for i in 0..64 {
                    if let Err(e) = kv.put(format!("k{i}"), chunk.clone()).await {
                        return Ok(e.to_string());
                    }
                }
                anyhow::bail!("64 x 16 KiB written")
            }
        },
    )
    .await;
    assert!(
        refused.contains("resource limits exceeded for account"),
        "JetStream's limit error: {refused}"
    );
    let other = jetstream::new(neighbour.client.clone())
        .get_key_value("neighbour_data")
        .await
        .unwrap();
    other
        .put("still", chunk.clone())
        .await
        .expect("the neighbour keeps writing");
    assert_eq!(
        p.extensions().await.len(),
        2,
        "the platform keeps answering"
    );
}

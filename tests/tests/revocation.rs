//! Revocation (`DELETE /api/v1/key/{id}`) is enforced by nats-server: the live connections of the
//! key are dropped, reconnecting is refused, the token is refused over HTTP, and the key list and
//! the audit trail say so. With the real `hello` example running on a key a signed-in developer
//! created with `POST /api/v1/keys`.

use anyhow::{Context as _, ensure};
use async_nats::ConnectErrorKind;
use reqwest::Method;
use serde_json::json;
use symphony_protocol::ErrorCode;
use symphony_protocol::messages::{ClusterInfo, ExtensionState, KeyKind};
use symphony_protocol::subjects;
use symphony_protocol::time::now_unix;
use symphony_tests::OfKey;
use symphony_tests::extension::Extension;
use symphony_tests::platform::summarize;
use symphony_tests::users::{ADMIN_PASSWORD, assert_unauthorized, says_revoked, wait_disconnected};
use symphony_tests::{
    DEFAULT_DEADLINE, KeyConn, Platform, PlatformOptions, RestReply, bins, eventually,
    parse_rfc3339,
};

#[tokio::test]
async fn revoking_a_key_drops_its_running_extension_and_refuses_the_key_everywhere() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let admin = platform.login_admin().await;
    let dana = platform
        .add_user(&admin.token, "dana", &["developer"])
        .await;
    let vik = platform.add_user(&admin.token, "vik", &["viewer"]).await;

    let created = platform
        .create_key(
            &dana.token,
            &json!({
                "name": "hello",
                "prefix": "hello",
                "capabilities": ["sub:extensions.hello.>"],
                "expires_in": "30d",
                "notes": "hello on the build box"
            }),
        )
        .await;
    let id = created.id.to_string();
    // A second key of the same user, to show that revocation is per key.
    let bystander = platform
        .create_key(
            &dana.token,
            &json!({"name": "bystander", "capabilities": ["pub:extensions.hello.ping"]}),
        )
        .await;

    let api = platform.exchange(&created.token).await;
    let configs = tempfile::tempdir().unwrap();
    let hello = Extension::spawn(
        &bins::hello(),
        &configs.path().join("running"),
        &[("SYMPHONY_TOKEN", created.token.as_str())],
    );
    platform.wait_instance_ok("hello", &id).await;
    // Another live connection as the same key watches what nats-server does to it.
    let mut watcher = KeyConn::connect(api.clone()).await;
    let bystander_conn = platform.connect_as(&bystander.token).await;

    // The key list: owner, kind, expiry, last use and the running instance.
    let listed = eventually(
        "dana's key lists a connected instance",
        DEFAULT_DEADLINE,
        || async {
            let k = platform
                .key_view(&dana.token, &id)
                .await
                .context("dana's key is not listed")?;
            ensure!(k.connected_instances >= 1, "{k:?}");
            Ok(k)
        },
    )
    .await;
    assert_eq!(
        (
            listed.owner.as_str(),
            listed.kind,
            listed.prefix.as_deref(),
            listed.notes.as_str(),
            listed.revoked,
            listed.used
        ),
        (
            "dana",
            KeyKind::ApiKey,
            Some("hello"),
            "hello on the build box",
            false,
            false
        ),
        "{listed:?}"
    );
    let now = now_unix();
    let expires = parse_rfc3339(listed.expires_at.as_deref().expect("the key expires"));
    let days = ((expires - now) / 3600) as f64 / 24.0;
    assert!((29.0..=30.0).contains(&days), "expires_in 30d: {listed:?}");
    assert_eq!(created.expires_at, listed.expires_at);
    let last_used = parse_rfc3339(listed.last_used.as_deref().expect("the exchange is a use"));
    let created_at = parse_rfc3339(&listed.created_at);
    assert!(
        created_at <= last_used && last_used <= now_unix(),
        "{listed:?}"
    );

    // Only the owner and administrators see and manage a key.
    assert!(platform.key_view(&vik.token, &id).await.is_none());
    platform
        .revoke_key(&vik.token, &id)
        .await
        .assert_error(404, ErrorCode::KeyNotFound);
    assert!(platform.key_view(&admin.token, &id).await.is_some());
    assert_eq!(platform.apikey(&created.token).await.status(), 200);

    // Revoke.
    let revoked = platform.revoke_key(&dana.token, &id).await;
    assert_eq!(revoked.status, 204, "{revoked}");

    // nats-server drops the live connections of the key, saying why.
    let errors = wait_disconnected(&mut watcher, "a connection of the revoked key").await;
    assert!(
        says_revoked(&errors),
        "nats-server tells the client its authentication was revoked: {errors:?}"
    );
    eventually(
        "hello notices that it lost NATS",
        DEFAULT_DEADLINE,
        || async {
            let stderr = hello.stderr();
            ensure!(stderr.contains("disconnected from NATS"), "{stderr}");
            Ok(())
        },
    )
    .await;
    // Its status is no longer refreshed: the instance expires and the extension is Inactive.
    platform
        .wait_extension("hello", "hello Inactive after revocation", |v| {
            ensure!(v.state == ExtensionState::Inactive, "{}", summarize(v));
            ensure!(
                v.instances.iter().all(|i| !i.of_key(&id)),
                "{}",
                summarize(v)
            );
            Ok(())
        })
        .await;

    // Reconnecting with the JWT issued before the revocation is refused.
    let refused = KeyConn::try_connect_to(api.clone(), &api.nats_urls)
        .await
        .err()
        .expect("a revoked key cannot connect");
    assert_eq!(
        refused.kind(),
        ConnectErrorKind::AuthorizationViolation,
        "{refused}"
    );
    // Other keys of the same user are untouched.
    let info: ClusterInfo = bystander_conn
        .request_json(subjects::CLUSTER_INFO, &json!({}))
        .await
        .expect("the other key still works");
    assert_eq!(info.cluster_size, 1);

    // The token is refused over HTTP.
    let exchange = RestReply::read(platform.apikey(&created.token).await)
        .await
        .unwrap();
    assert_unauthorized(&exchange, &[ErrorCode::TokenRevoked], "GET /apikey");
    let api_call = platform
        .call(Method::GET, "/extensions/all", Some(&created.token), None)
        .await;
    assert_unauthorized(&api_call, &[ErrorCode::TokenRevoked], "GET /extensions/all");

    // A fresh start of the extension with the revoked token fails at once.
    let mut again = Extension::spawn(
        &bins::hello(),
        &configs.path().join("again"),
        &[("SYMPHONY_TOKEN", created.token.as_str())],
    );
    let status = again.wait().await;
    assert!(
        !status.success(),
        "hello must not start with a revoked token:\n{}",
        again.logs(20)
    );
    assert!(
        again.stderr().contains("token_revoked"),
        "{}",
        again.logs(20)
    );

    // The list shows the key revoked, with no connected instance.
    eventually(
        "dana's key is revoked with no instance",
        DEFAULT_DEADLINE,
        || async {
            let k = platform
                .key_view(&dana.token, &id)
                .await
                .context("a revoked key stays listed")?;
            ensure!(k.revoked && k.connected_instances == 0, "{k:?}");
            Ok(())
        },
    )
    .await;

    // An administrator revokes anyone's key: here dana's registration token.
    let registration = platform.create_registration(&dana.token, "later").await;
    let by_admin = platform
        .revoke_key(&admin.token, registration.id.as_str())
        .await;
    assert_eq!(by_admin.status, 204, "{by_admin}");
    let exchange = RestReply::read(platform.apikey(&registration.token).await)
        .await
        .unwrap();
    assert_unauthorized(
        &exchange,
        &[ErrorCode::TokenRevoked],
        "GET /apikey with a revoked registration token",
    );
    assert!(
        platform
            .key_view(&dana.token, registration.id.as_str())
            .await
            .is_some_and(|k| k.revoked),
        "dana sees her registration token revoked"
    );

    // The audit trail.
    let audit = platform.audit(&admin.token, 100).await;
    let has = |action: &str, actor: &str, target: &str| {
        audit
            .iter()
            .any(|e| e.action == action && e.actor == actor && e.target == target)
    };
    let key_target = format!("key:{id}");
    assert!(has("key_created", "dana", &key_target), "{audit:?}");
    assert!(has("key_revoked", "dana", &key_target), "{audit:?}");
    assert!(
        has("key_revoked", "admin", &format!("key:{}", registration.id)),
        "{audit:?}"
    );
}

/// Deleting a user revokes the keys they own: the exchange answers 401 `token_revoked` afterwards,
/// while the keys of other users keep working.
#[tokio::test]
async fn deleting_a_user_revokes_their_keys() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let admin = platform.login_admin().await;
    let dev = platform
        .add_user(&admin.token, "dana", &["developer"])
        .await;
    let body = json!({"name": "dana's", "capabilities": ["pub:extensions.catalog.list"]});
    let danas = platform.create_key(&dev.token, &body).await;
    let admins = platform.create_key(&admin.token, &body).await;
    assert_eq!(platform.apikey(&danas.token).await.status(), 200);

    let deleted = platform
        .call(Method::DELETE, "/users/dana", Some(&admin.token), None)
        .await;
    assert_eq!(deleted.status, 204, "{deleted}");

    let after = platform.apikey(&danas.token).await;
    assert_eq!(after.status(), 401);
    let body: serde_json::Value = after.json().await.unwrap();
    assert_eq!(body["code"], "token_revoked", "{body}");
    assert_eq!(
        platform.apikey(&admins.token).await.status(),
        200,
        "other users' keys keep working"
    );
    let audit = platform.audit(&admin.token, 20).await;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "user_deleted" && e.detail.contains("1 keys revoked")),
        "{audit:?}"
    );
}

/// Every write to `symphony_keys` is a compare-and-swap: an owner's edit racing an administrator's
/// revocation never brings the key back, and an exchange racing the revocation never yields a JWT
/// nats-server accepts afterwards (the revocation entry of a revoked key covers JWTs minted after
/// it). Many rounds, each a real race over HTTP.
#[tokio::test]
async fn an_edit_or_exchange_racing_a_revocation_never_resurrects_the_key() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let admin = platform.login_admin().await;
    let dana = platform
        .add_user(&admin.token, "dana", &["developer"])
        .await;
    for round in 0..12 {
        let created = platform
            .create_key(
                &dana.token,
                &json!({"name": format!("race {round}"), "prefix": "racer",
                        "capabilities": ["sub:extensions.racer.>"]}),
            )
            .await;
        let id = created.id.to_string();
        let edit = json!({"notes": format!("edited in round {round}"),
                          "capabilities": ["sub:extensions.racer.x"]});
        let path = format!("/key/{id}");
        let (revoked, edited, exchanged) = tokio::join!(
            platform.revoke_key(&admin.token, &id),
            platform.call(Method::PUT, &path, Some(&dana.token), Some(&edit)),
            platform.apikey(&created.token),
        );
        assert_eq!(revoked.status, 204, "round {round}: {revoked}");
        assert_eq!(edited.status, 200, "round {round}: {edited}");
        let view = platform
            .key_view(&admin.token, &id)
            .await
            .expect("the key is listed");
        assert!(
            view.revoked,
            "round {round}: the edit undid the revocation: {view:?}"
        );
        let again = RestReply::read(platform.apikey(&created.token).await)
            .await
            .unwrap();
        assert_unauthorized(&again, &[ErrorCode::TokenRevoked], "GET /apikey");
        if exchanged.status() == 200 {
            let api: symphony_protocol::messages::ApiKey = exchanged.json().await.unwrap();
            let urls = vec![platform.nats_url().to_owned()];
            let refused = KeyConn::try_connect_to(api, &urls)
                .await
                .err()
                .unwrap_or_else(|| {
                    panic!("round {round}: a JWT of the race outlived the revocation")
                });
            assert_eq!(
                refused.kind(),
                ConnectErrorKind::AuthorizationViolation,
                "round {round}: {refused}"
            );
        }
    }
}

/// The accounts a server pushes when it starts carry the revocations from their first push: a
/// revoked key's JWT is refused while the server starts again on the same data dir (every connect
/// attempt from the moment nats-server listens until the server is ready, and after).
#[tokio::test]
async fn a_revoked_key_stays_refused_while_the_server_starts_again() {
    let data = tempfile::tempdir().unwrap();
    let nats_port = symphony_tests::cluster::free_ports(1)[0];
    let options = || {
        let mut o = PlatformOptions::fast().admin_password(ADMIN_PASSWORD);
        o.data_dir = Some(data.path().join("data"));
        o.nats_port = Some(nats_port);
        o
    };
    let platform = Platform::start(options()).await;
    let admin = platform.login_admin().await;
    let mut keys = Vec::new();
    for (name, prefix) in [
        ("in an extension account", Some("hello")),
        ("a client", None),
    ] {
        let mut body = json!({"name": name, "capabilities": ["pub:extensions.hello.ping"]});
        if let Some(p) = prefix {
            body = json!({"name": name, "prefix": p, "capabilities": ["sub:extensions.hello.>"]});
        }
        let created = platform.create_key(&admin.token, &body).await;
        let api = platform.exchange(&created.token).await;
        KeyConn::connect(api.clone()).await;
        let revoked = platform.revoke_key(&admin.token, created.id.as_str()).await;
        assert_eq!(revoked.status, 204, "{revoked}");
        keys.push(api);
    }
    drop(platform);

    // Watch nats-server from before it starts until the server is ready.
    let url = format!("nats://127.0.0.1:{nats_port}");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (keys, url, stop) = (keys.clone(), url.clone(), stop.clone());
        tokio::spawn(async move {
            let mut refused = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for key in &keys {
                    match KeyConn::try_connect_to(key.clone(), std::slice::from_ref(&url)).await {
                        Ok(_) => panic!("key {} connected during the start", key.name),
                        Err(e) if e.kind() == ConnectErrorKind::AuthorizationViolation => {
                            refused += 1
                        }
                        // Not listening yet.
                        Err(_) => {}
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            refused
        })
    };
    let platform = Platform::start(options()).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let refused_while_starting = watcher.await.expect("no key connected while starting");
    for key in &keys {
        let refused = KeyConn::try_connect_to(key.clone(), std::slice::from_ref(&url))
            .await
            .err()
            .unwrap_or_else(|| panic!("key {} connected after the start", key.name));
        assert_eq!(
            refused.kind(),
            ConnectErrorKind::AuthorizationViolation,
            "{refused}"
        );
    }
    eprintln!("{refused_while_starting} refused connects while the server started");
    drop(platform);
}

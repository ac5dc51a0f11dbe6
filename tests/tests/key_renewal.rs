//! Key JWTs are short-lived (docs/protocol.md §9.3): the SDKs exchange their token again before the JWT
//! expires and move their services over without a request going unanswered; a capability edit reaches a
//! live instance (its JWTs are revoked, the SDK exchanges again and reconnects with the new permissions).
//! The server runs with a key JWT lifetime of a few seconds, so several renewals happen in one test.

use anyhow::ensure;
use cirata_symphony::{Extension, ServiceConfig};
use reqwest::Method;
use serde_json::json;
use symphony_protocol::time::now_unix;
use symphony_tests::users::ADMIN_PASSWORD;
use symphony_tests::{DEFAULT_DEADLINE, Platform, PlatformOptions, eventually};

/// The key JWT lifetime the server gets here, in seconds.
const LIFETIME: i64 = 6;

async fn platform() -> Platform {
    Platform::start(
        PlatformOptions::fast()
            .admin_password(ADMIN_PASSWORD)
            .arg("--key-jwt-lifetime-for-tests")
            .arg(&format!("{LIFETIME}s")),
    )
    .await
}

/// An in-process Rust extension `prefix` with an `echo` endpoint, running until the sender is dropped.
async fn echo_extension(
    platform: &Platform,
    prefix: &str,
    capabilities: &[&str],
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    String,
    async_nats::Client,
) {
    let own = format!("sub:extensions.{prefix}.>");
    let mut args = vec!["--prefix", prefix, "--name", prefix, "--capability", &own];
    for c in capabilities {
        args.extend(["--capability", c]);
    }
    let token = platform.key_create_with(&args).await;
    let mut ext = Extension::new(prefix, prefix).with_token(token.clone());
    ext.connect().await.expect("the extension registers");
    let svc = ext
        .add_endpoints(ServiceConfig::new(prefix, "1.0.0"))
        .await
        .unwrap();
    svc.add_group(&format!("cirata.extensions.{prefix}"))
        .add_endpoint("echo", |req| async move {
            Ok::<_, cirata_symphony::HandlerError>(req.data)
        })
        .await
        .unwrap();
    let nc = ext.nats().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        ext.run_until(async {
            let _ = stopped.await;
        })
        .await
        .expect("the extension runs");
    });
    platform
        .wait_instance_ok(prefix, &symphony_tests::platform::key_id_of(&token))
        .await;
    (stop, run, token, nc)
}

/// Whether the instance's connection may publish `subject`: a permitted request finds no responder
/// (nobody serves it), a forbidden one is dropped by nats-server and times out.
async fn may_publish(nc: &async_nats::Client, subject: &str) -> anyhow::Result<bool> {
    use async_nats::RequestErrorKind;
    let request = async_nats::Request::new()
        .payload("{}".into())
        .timeout(Some(std::time::Duration::from_millis(500)));
    match nc.send_request(subject.to_owned(), request).await {
        Err(e) if e.kind() == RequestErrorKind::NoResponders => Ok(true),
        Err(e) if e.kind() == RequestErrorKind::TimedOut => Ok(false),
        other => anyhow::bail!("unexpected answer on {subject}: {other:?}"),
    }
}

/// The services move to a connection with the renewed JWT and drain on the old one: every request
/// nats-server routed there before it processed the unsubscribe is still answered (the vendored
/// async-nats drain, vendor/README.md; docs/protocol.md §2.2).
#[tokio::test]
async fn a_rust_extension_renews_its_jwt_without_leaving_a_request_unanswered() {
    let platform = platform().await;
    let admin = platform.login_admin().await;
    let started = now_unix();
    let (stop, run, _token, _nc) = echo_extension(&platform, "renew", &[]).await;

    // Requests one after another through the gateway until the first JWT is long expired: at least
    // two renewals happen while they run. Every one is answered.
    let mut answered = 0;
    while now_unix() <= started + 3 * LIFETIME + 1 {
        let body = json!({"n": answered});
        let reply = platform
            .call(
                Method::POST,
                "/extension/renew/echo",
                Some(&admin.token),
                Some(&body),
            )
            .await;
        assert_eq!(reply.status, 200, "request {answered}: {reply}");
        assert_eq!(reply.json(), body, "request {answered}");
        answered += 1;
    }
    assert!(answered > 0);
    assert!(!run.is_finished(), "the extension still runs");
    drop(stop);
    run.await.unwrap();
}

#[tokio::test]
async fn a_narrowed_capability_reaches_a_live_rust_instance() {
    let platform = platform().await;
    let admin = platform.login_admin().await;
    let (stop, run, token, nc) = echo_extension(
        &platform,
        "narrow",
        &["pub:extensions.other.a", "pub:extensions.other.b"],
    )
    .await;
    let (a, b) = ("cirata.extensions.other.a", "cirata.extensions.other.b");
    assert!(may_publish(&nc, a).await.unwrap());
    assert!(may_publish(&nc, b).await.unwrap());
    let id = symphony_tests::platform::key_id_of(&token);
    let edited = platform
        .call(
            Method::PUT,
            &format!("/key/{id}"),
            Some(&admin.token),
            Some(&json!({"capabilities": ["sub:extensions.narrow.>", "pub:extensions.other.a"]})),
        )
        .await;
    assert_eq!(edited.status, 200, "{edited}");
    // The live instance is disconnected, exchanges its token again and reconnects with a JWT that
    // allows only `a`.
    eventually(
        "the narrowed capability is refused on the live connection",
        DEFAULT_DEADLINE,
        || async {
            ensure!(!may_publish(&nc, b).await?, "{b} still allowed");
            // A request sent while the connection is away times out too: `a` tells the two apart.
            ensure!(may_publish(&nc, a).await?, "{a} not allowed (now)");
            Ok(())
        },
    )
    .await;
    // The instance keeps running and serving.
    let reply = platform
        .call(
            Method::POST,
            "/extension/narrow/echo",
            Some(&admin.token),
            Some(&json!("x")),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    assert!(!run.is_finished(), "the extension still runs");
    drop(stop);
    run.await.unwrap();
}

//! The server supervises its embedded nats-server, and reports NATS outages on /health; extensions
//! ride out a NATS restart without being restarted themselves.

use std::time::Duration;
use symphony_tests::OfKey;

use serde_json::json;
use symphony_protocol::messages::{ExtensionState, InstanceState};
use symphony_protocol::time::{now_unix, rfc3339};
use symphony_tests::extension::Extension;
use symphony_tests::platform::{init_data_dir, key_id_of};
use symphony_tests::process::pid_alive;
use symphony_tests::{
    DEFAULT_DEADLINE, NatsCluster, Platform, PlatformOptions, bins, eventually, parse_rfc3339,
};

#[tokio::test]
async fn a_killed_nats_server_is_restarted_and_extensions_recover() {
    // A status TTL well above the outage, so "fresh again" is about new heartbeats.
    let platform =
        Platform::start(PlatformOptions::default().heartbeat("1s").status_ttl("30s")).await;
    let configs = tempfile::tempdir().unwrap();
    let hello_token = platform.token_create_registration().await;
    let catalog_token = platform.token_create_registration().await;
    let mut hello =
        Extension::spawn_with_token(&bins::hello(), &configs.path().join("hello"), &hello_token);
    let mut catalog = Extension::spawn_with_token(
        &bins::catalog(),
        &configs.path().join("catalog"),
        &catalog_token,
    );
    for prefix in ["hello", "catalog"] {
        platform
            .wait_extension(prefix, &format!("{prefix} OK"), |v| {
                anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
                Ok(())
            })
            .await;
    }
    let hello_id = key_id_of(
        std::fs::read_to_string(Extension::stored_token_path(
            &configs.path().join("hello"),
            "hello",
        ))
        .unwrap()
        .trim(),
    );
    let client_token = platform
        .key_create(&["pub:extensions.catalog.list"], None, &[])
        .await;
    let client = platform.connect_as(&client_token).await;
    let _: Vec<serde_json::Value> = client
        .request_json("cirata.extensions.catalog.list", &json!({}))
        .await
        .expect("catalog answers before the restart");

    let old_pid = platform.kill_nats();
    let new_pid = eventually("a new nats-server pid", DEFAULT_DEADLINE, || async {
        match platform.nats_pid() {
            Some(pid) if pid != old_pid && pid_alive(pid) => Ok(pid),
            other => anyhow::bail!("pid file says {other:?} (killed {old_pid})"),
        }
    })
    .await;
    assert!(!pid_alive(old_pid), "the killed nats-server is gone");
    // Anything written after this second was written to the restarted nats-server.
    let restarted_at = now_unix();

    eventually("/api/v1/health is 200 again", DEFAULT_DEADLINE, || async {
        let resp = platform.try_get("/health").await?;
        anyhow::ensure!(resp.status() == 200, "HTTP {}", resp.status());
        Ok(())
    })
    .await;
    let body: serde_json::Value = platform.get("/health", None).await.json().await.unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["nats"], "connected", "{body}");

    let view = platform
        .wait_extension("hello", "hello heartbeats again after the restart", |v| {
            anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
            let fresh = v.instances.iter().any(|i| {
                i.of_key(&hello_id)
                    && i.state == InstanceState::Ok
                    && parse_rfc3339(&i.updated_at) > restarted_at
            });
            anyhow::ensure!(
                fresh,
                "no status of {hello_id} newer than {}",
                rfc3339(restarted_at)
            );
            Ok(())
        })
        .await;
    assert!(
        view.instances.iter().any(|i| i.pid == hello.pid()),
        "the same hello process (not a restart) reports"
    );
    assert!(
        hello.is_running(),
        "hello kept running:\n{}",
        hello.logs(40)
    );
    assert!(
        catalog.is_running(),
        "catalog kept running:\n{}",
        catalog.logs(40)
    );

    let items: Vec<serde_json::Value> = eventually(
        "catalog answers list after the restart",
        DEFAULT_DEADLINE,
        || async {
            match tokio::time::timeout(
                Duration::from_secs(5),
                client
                    .client
                    .request("cirata.extensions.catalog.list", "{}".into()),
            )
            .await
            {
                Ok(Ok(msg)) => Ok(serde_json::from_slice(&msg.payload)?),
                Ok(Err(e)) => anyhow::bail!("request: {e}"),
                Err(_) => anyhow::bail!("no reply within 5 s"),
            }
        },
    )
    .await;
    // Nothing was added; the reply is a (possibly empty) list.
    assert!(items.iter().all(|i| i.is_object()), "{items:?}");
    assert_ne!(new_pid, old_pid);
}

#[tokio::test]
async fn health_is_503_while_an_external_nats_server_is_down() {
    let data = tempfile::tempdir().unwrap();
    init_data_dir(data.path()).await;
    let identity = data.path().join("identity.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&identity).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "identity.json must be 0600");
    let before = std::fs::read(&identity).unwrap();
    init_data_dir(data.path()).await;
    assert_eq!(
        std::fs::read(&identity).unwrap(),
        before,
        "init keeps an existing identity"
    );

    let mut nats = NatsCluster::start(data.path(), 1).await;
    let platform =
        Platform::start(PlatformOptions::fast().external(data.path(), nats.urls())).await;
    assert!(nats.nodes[0].is_running(), "the external nats-server is up");
    let resp = platform.get("/health", None).await;
    assert_eq!(resp.status(), 200);

    nats.stop_node(0).await;
    eventually(
        "/api/v1/health is 503 while NATS is down",
        DEFAULT_DEADLINE,
        || async {
            let resp = platform.try_get("/health").await?;
            anyhow::ensure!(resp.status() == 503, "HTTP {}", resp.status());
            let body: serde_json::Value = resp.json().await?;
            anyhow::ensure!(body["status"] == "degraded", "body {body}");
            anyhow::ensure!(body["nats"] == "disconnected", "body {body}");
            Ok(())
        },
    )
    .await;

    nats.start_node(0).await;
    eventually(
        "/api/v1/health is 200 after NATS is back",
        DEFAULT_DEADLINE,
        || async {
            let resp = platform.try_get("/health").await?;
            anyhow::ensure!(resp.status() == 200, "HTTP {}", resp.status());
            Ok(())
        },
    )
    .await;
    // The server still works end to end: the key store is reachable again.
    let token = platform.token_create_registration().await;
    assert_eq!(platform.apikey(&token).await.status(), 200);
}

#[tokio::test]
async fn sigterm_stops_the_server_and_its_nats_server_cleanly() {
    let mut platform = Platform::start(PlatformOptions::fast()).await;
    let nats_pid = platform
        .nats_pid()
        .expect("the embedded nats-server's pid file");
    assert!(pid_alive(nats_pid));
    let status = platform.server().terminate().await;
    assert!(
        status.success(),
        "symphony serve exits 0 on SIGTERM, got {status:?}"
    );
    eventually(
        "the nats-server child is gone",
        DEFAULT_DEADLINE,
        || async {
            anyhow::ensure!(!pid_alive(nats_pid), "nats-server {nats_pid} still runs");
            Ok(())
        },
    )
    .await;
    // nats-server logs this on a graceful shutdown only (not when it is SIGKILLed).
    let log = std::fs::read_to_string(platform.data_dir().join("nats").join("nats-server.log"))
        .unwrap_or_default();
    assert!(
        log.contains("Server Exiting"),
        "the embedded nats-server was not shut down gracefully; its log ends:\n{}",
        log.lines().rev().take(10).collect::<Vec<_>>().join("\n")
    );
}

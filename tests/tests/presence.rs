//! Presence (docs/protocol.md §5.3, §5.4): when an extension's NATS connection closes, the server
//! learns it from nats-server's disconnect advisory and shows the instance `disconnected` (the
//! extension `Inactive`, its gateway routes gone) at once, not when its status entry expires.
//!
//! Every test runs with a heartbeat of an hour (and so a status TTL of two): within a test no
//! status entry expires and no instance publishes a second status, so the advisory path is the only
//! thing that can change what the view shows.

use std::time::Duration;
use symphony_tests::OfKey;

use symphony_protocol::ErrorCode;
use symphony_protocol::messages::{ExtensionState, ExtensionView, InstanceState};
use symphony_tests::extension::Extension;
use symphony_tests::platform::{init_data_dir, key_id_of, summarize};
use symphony_tests::process::signal_pid;
use symphony_tests::{DEFAULT_DEADLINE, NatsCluster, Platform, PlatformOptions, bins, eventually};

/// Nothing expires or is re-published during a test (see the module documentation).
fn slow_heartbeat() -> PlatformOptions {
    PlatformOptions::default().heartbeat("1h").status_ttl("2h")
}

/// Continues a process stopped with SIGSTOP when dropped, so a failing test leaves nothing frozen.
struct Thaw(u32);

impl Drop for Thaw {
    fn drop(&mut self) {
        signal_pid(self.0, libc::SIGCONT);
    }
}

/// Waits until the extension in `config_dir` has stored its key, and returns that token.
async fn stored_key(config_dir: &std::path::Path, prefix: &str) -> String {
    eventually(
        &format!("{prefix} stores its key"),
        Duration::from_secs(60),
        || async {
            anyhow::ensure!(
                Extension::stored_token_path(config_dir, prefix).exists(),
                "not yet"
            );
            Ok(())
        },
    )
    .await;
    stored_token(config_dir, prefix)
}

/// Publishes `status` to the status entry of instance `id` of key `key` through JetStream, as
/// that key.
async fn publish_status(
    conn: &symphony_tests::KeyConn,
    prefix: &str,
    id: &str,
    key: &str,
    state: &str,
    message: Option<&str>,
) {
    let mut status = serde_json::json!({
        "v": 1, "prefix": prefix, "instance_id": id, "key_id": key, "name": "Rest Fixture", "state": state,
        "started_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
    });
    if let Some(m) = message {
        status["message"] = m.into();
    }
    async_nats::jetstream::new(conn.client.clone())
        .publish(
            format!("$KV.symphony_status.{prefix}.{id}"),
            serde_json::to_vec(&status).unwrap().into(),
        )
        .await
        .expect("publish a status")
        .await
        .expect("JetStream stores the status");
}

/// The key an extension provisioned and stored in `config_dir`.
fn stored_token(config_dir: &std::path::Path, prefix: &str) -> String {
    let path = Extension::stored_token_path(config_dir, prefix);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no stored key at {}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// `GET /api/v1/extensions/all` as `token`, the view of `prefix`.
async fn view_over_http(
    platform: &Platform,
    token: &str,
    prefix: &str,
) -> anyhow::Result<ExtensionView> {
    let resp = platform.get("/extensions/all", Some(token)).await;
    anyhow::ensure!(resp.status() == 200, "HTTP {}", resp.status());
    let all: Vec<ExtensionView> = resp.json().await?;
    all.into_iter()
        .find(|v| v.prefix == prefix)
        .ok_or_else(|| anyhow::anyhow!("{prefix} is not listed"))
}

/// Polls `GET /api/v1/extensions/all` until `prefix`'s view satisfies `check`.
async fn wait_view<F>(
    platform: &Platform,
    token: &str,
    prefix: &str,
    what: &str,
    check: F,
) -> ExtensionView
where
    F: Fn(&ExtensionView) -> anyhow::Result<()>,
{
    eventually(what, DEFAULT_DEADLINE, || async {
        let view = view_over_http(platform, token, prefix).await?;
        check(&view).map_err(|e| anyhow::anyhow!("{e:#}; view: {}", summarize(&view)))?;
        Ok(view)
    })
    .await
}

/// The instance id of the (first) instance running with key `key` in `view`.
fn instance_of(view: &ExtensionView, key: &str) -> String {
    view.instances
        .iter()
        .find(|i| i.of_key(key))
        .map(|i| i.instance_id.to_string())
        .unwrap_or_else(|| panic!("no instance of key {key}: {}", summarize(view)))
}

/// Waits until an instance of key `instance` of `prefix` reports `ok` and the extension is `OK`.
async fn wait_ok(platform: &Platform, token: &str, prefix: &str, instance: &str) -> ExtensionView {
    wait_view(platform, token, prefix, &format!("{prefix} OK"), |v| {
        anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
        anyhow::ensure!(
            v.instances
                .iter()
                .any(|i| i.of_key(instance) && i.state == InstanceState::Ok),
            "no ok instance {instance}"
        );
        Ok(())
    })
    .await
}

/// Waits until `prefix` is `Inactive` with `instance` marked `disconnected` by the server (its
/// entry still there, with the advisory's reason), and returns that view.
async fn wait_marked_disconnected(
    platform: &Platform,
    token: &str,
    prefix: &str,
    instance: &str,
) -> ExtensionView {
    wait_view(
        platform,
        token,
        prefix,
        &format!("{prefix} Inactive, {instance} marked disconnected"),
        |v| {
            anyhow::ensure!(v.state == ExtensionState::Inactive, "state {:?}", v.state);
            let i = v
                .instances
                .iter()
                .find(|i| i.of_key(instance))
                .ok_or_else(|| anyhow::anyhow!("instance {instance} is not listed"))?;
            anyhow::ensure!(
                i.state == InstanceState::Disconnected,
                "state {:?}",
                i.state
            );
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn a_killed_extension_is_inactive_at_once_not_when_its_status_expires() {
    let platform = Platform::start(slow_heartbeat()).await;
    let config = tempfile::tempdir().unwrap();
    let registration = platform.token_create_registration().await;
    let mut hello = Extension::spawn_with_token(&bins::hello(), config.path(), &registration);
    let token = stored_key(config.path(), "hello").await;
    let id = key_id_of(&token);
    let before = wait_ok(&platform, &token, "hello", &id).await;
    assert_eq!(before.message, None, "an OK extension has no message");
    let inst = instance_of(&before, &id);

    hello.kill9().await;
    let view = wait_marked_disconnected(&platform, &token, "hello", &id).await;
    let instance = view.instances.iter().find(|i| i.of_key(&id)).unwrap();
    // The entry did not expire (it is still listed): the server rewrote it from the advisory.
    let message = instance.message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with("connection closed"),
        "the server says why: {message:?}"
    );
    assert_eq!(instance.pid, hello.pid(), "the entry of the killed process");
    assert!(
        view.message
            .as_deref()
            .is_some_and(|m| m.contains(&inst) && m.contains("connection closed")),
        "the extension view says why it is inactive: {:?}",
        view.message
    );
    // `symphony extension list` agrees.
    let listed = platform.try_extension("hello").await.unwrap();
    assert_eq!(
        listed.state,
        ExtensionState::Inactive,
        "{}",
        summarize(&listed)
    );

    // Started again with the same key, it is a new instance, and the extension is OK again.
    let again = Extension::spawn(&bins::hello(), config.path(), &[]);
    let view = wait_ok(&platform, &token, "hello", &id).await;
    let instance = view
        .instances
        .iter()
        .find(|i| i.of_key(&id) && i.state == InstanceState::Ok)
        .unwrap();
    assert_eq!(instance.message, None, "{}", summarize(&view));
    assert_eq!(instance.pid, again.pid(), "the new process reports");
    assert_ne!(
        instance.instance_id.as_str(),
        inst,
        "with an instance id of its own"
    );
}

#[tokio::test]
async fn a_killed_extension_loses_its_gateway_routes_at_once() {
    let platform = Platform::start(slow_heartbeat()).await;
    let client = platform
        .key_create_with(&[
            "--prefix",
            "rest",
            "--name",
            "REST client",
            "--capability",
            "pub:extensions.rest.>",
        ])
        .await;
    let config = tempfile::tempdir().unwrap();
    let registration = platform.token_create_registration().await;
    let mut ext = Extension::spawn(
        &bins::rest_ext(),
        config.path(),
        &[("REGISTRATION_TOKEN", registration.as_str())],
    );
    let ok = platform.wait_route("rest", "/items/1", &client).await;
    assert_eq!(ok.status, 200, "{ok}");

    ext.kill9().await;
    let gone = platform.wait_no_route("rest", "/items/1", &client).await;
    gone.assert_error(404, ErrorCode::RouteNotFound);
    let view = view_over_http(&platform, &client, "rest").await.unwrap();
    assert_eq!(view.state, ExtensionState::Inactive, "{}", summarize(&view));
    assert!(
        view.instances
            .iter()
            .all(|i| i.state == InstanceState::Disconnected),
        "the entry is marked, not expired: {}",
        summarize(&view)
    );
    assert!(!view.instances.is_empty(), "{}", summarize(&view));
}

#[tokio::test]
async fn a_closed_connection_does_not_hide_an_instance_that_is_still_connected() {
    let mut platform = Platform::start(slow_heartbeat()).await;
    let config = tempfile::tempdir().unwrap();
    let registration = platform.token_create_registration().await;
    let _hello = Extension::spawn_with_token(&bins::hello(), config.path(), &registration);
    let token = stored_key(config.path(), "hello").await;
    let id = key_id_of(&token);
    let before = wait_ok(&platform, &token, "hello", &id).await;

    // A second connection with the instance's key and connection name, then closed: the same
    // advisory an instance's old connection causes after it reconnected to another node.
    let name = format!("hello-{}", instance_of(&before, &id));
    let key = platform.exchange(&token).await;
    let seed = std::sync::Arc::new(nkeys::KeyPair::from_seed(&key.seed).unwrap());
    let twin = async_nats::ConnectOptions::with_jwt(key.jwt.clone(), move |nonce| {
        let seed = seed.clone();
        async move { seed.sign(&nonce).map_err(async_nats::AuthError::new) }
    })
    .name(&name)
    .custom_inbox_prefix(key.inbox_prefix.clone())
    .connect(key.nats_urls.clone())
    .await
    .expect("connect a second connection as hello's key");
    twin.flush().await.unwrap();
    drop(twin);

    // The server handled that advisory and found hello's own connection still open…
    let server_log = platform.server().stderr_path().to_owned();
    eventually(
        "the server ignores the advisory of the closed twin",
        DEFAULT_DEADLINE,
        || async {
            let log = std::fs::read_to_string(&server_log)?;
            anyhow::ensure!(
                log.lines()
                    .any(|l| l.contains("disconnect advisory ignored")
                        && l.contains(&name)
                        && l.contains("StillConnected")),
                "no such line in the server log yet"
            );
            Ok(())
        },
    )
    .await;
    // …so hello is still OK with its original status (nothing re-published it: the heartbeat is
    // an hour).
    let after = view_over_http(&platform, &token, "hello").await.unwrap();
    assert_eq!(after.state, ExtensionState::Ok, "{}", summarize(&after));
    assert_eq!(
        after.instances, before.instances,
        "the status entry is untouched"
    );
}

#[tokio::test]
async fn in_a_cluster_a_killed_extension_is_inactive_at_once() {
    let data = tempfile::tempdir().unwrap();
    init_data_dir(data.path()).await;
    let cluster = NatsCluster::start(data.path(), 3).await;
    let platform = Platform::start(slow_heartbeat().external(data.path(), cluster.urls())).await;
    let config = tempfile::tempdir().unwrap();
    let registration = platform.token_create_registration().await;
    let mut hello = Extension::spawn_with_token(&bins::hello(), config.path(), &registration);
    let token = stored_key(config.path(), "hello").await;
    let id = key_id_of(&token);
    wait_ok(&platform, &token, "hello", &id).await;

    hello.kill9().await;
    let view = wait_marked_disconnected(&platform, &token, "hello", &id).await;
    assert!(
        view.instances.iter().any(|i| i.message.is_some()),
        "{}",
        summarize(&view)
    );
}

#[tokio::test]
async fn a_frozen_extension_is_warning_while_its_heartbeat_is_late_and_ok_when_it_resumes() {
    // A 1 s heartbeat and a status that never expires within the test.
    let platform =
        Platform::start(PlatformOptions::default().heartbeat("1s").status_ttl("1h")).await;
    let config = tempfile::tempdir().unwrap();
    let registration = platform.token_create_registration().await;
    let hello = Extension::spawn_with_token(&bins::hello(), config.path(), &registration);
    let token = stored_key(config.path(), "hello").await;
    let id = key_id_of(&token);
    let inst = instance_of(&wait_ok(&platform, &token, "hello", &id).await, &id);

    // A stopped process keeps its connection (no advisory) but publishes nothing.
    let thaw = Thaw(hello.pid());
    assert!(signal_pid(hello.pid(), libc::SIGSTOP), "SIGSTOP hello");
    let view = wait_view(
        &platform,
        &token,
        "hello",
        "hello Warning: late heartbeat",
        |v| {
            anyhow::ensure!(v.state == ExtensionState::Warning, "state {:?}", v.state);
            Ok(())
        },
    )
    .await;
    let message = view.message.clone().unwrap_or_default();
    assert!(
        message.contains(&inst) && message.contains("no heartbeat for"),
        "says which instance and why: {message:?}"
    );
    assert!(
        view.instances
            .iter()
            .any(|i| i.of_key(&id) && i.state == InstanceState::Ok),
        "the instance's own last word is still ok: {}",
        summarize(&view)
    );

    drop(thaw);
    wait_ok(&platform, &token, "hello", &id).await;
}

#[tokio::test]
async fn reported_error_and_warning_show_on_the_extension_and_it_stays_routed() {
    let platform = Platform::start(slow_heartbeat()).await;
    let client = platform
        .key_create_with(&[
            "--prefix",
            "rest",
            "--name",
            "REST client",
            "--capability",
            "pub:extensions.rest.>",
        ])
        .await;
    let config = tempfile::tempdir().unwrap();
    let registration = platform.token_create_registration().await;
    let _ext = Extension::spawn(
        &bins::rest_ext(),
        config.path(),
        &[("REGISTRATION_TOKEN", registration.as_str())],
    );
    platform.wait_route("rest", "/items/1", &client).await;
    let token = stored_key(config.path(), "rest").await;
    let id = key_id_of(&token);
    let inst = instance_of(&wait_ok(&platform, &client, "rest", &id).await, &id);
    // The instance's key reports for it (the SDKs have no call for this yet).
    let conn = platform.connect_as(&token).await;

    publish_status(
        &conn,
        "rest",
        &inst,
        &id,
        "error",
        Some("database unreachable"),
    )
    .await;
    let view = wait_view(&platform, &client, "rest", "rest Error", |v| {
        anyhow::ensure!(v.state == ExtensionState::Error, "state {:?}", v.state);
        Ok(())
    })
    .await;
    assert_eq!(
        view.message.as_deref(),
        Some(format!("instance {inst}: database unreachable").as_str())
    );
    let instance = view.instances.iter().find(|i| i.of_key(&id)).unwrap();
    assert_eq!(instance.state, InstanceState::Error);
    assert_eq!(instance.message.as_deref(), Some("database unreachable"));
    // An instance in error is still live: the gateway routes to it.
    let reply = platform.rest_get("rest", "/items/1", &client).await;
    assert_eq!(reply.status, 200, "{reply}");

    publish_status(&conn, "rest", &inst, &id, "warning", None).await;
    let view = wait_view(&platform, &client, "rest", "rest Warning", |v| {
        anyhow::ensure!(v.state == ExtensionState::Warning, "state {:?}", v.state);
        Ok(())
    })
    .await;
    assert_eq!(
        view.message.as_deref(),
        Some(format!("instance {inst} reports warning").as_str())
    );

    publish_status(&conn, "rest", &inst, &id, "ok", None).await;
    let view = wait_ok(&platform, &client, "rest", &id).await;
    assert_eq!(view.message, None);
}

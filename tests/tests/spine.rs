//! The spine: token → provisioning → stored key → registration → status → endpoints, with the
//! real `hello` and `catalog` examples.

use std::os::unix::fs::PermissionsExt as _;
use symphony_tests::OfKey;

use serde_json::json;
use symphony_protocol::messages::{ExtensionState, InstanceState};
use symphony_protocol::{ErrorCode, Token};
use symphony_tests::extension::Extension;
use symphony_tests::platform::{key_id_of, summarize};
use symphony_tests::{Platform, PlatformOptions, bins, error_body};

/// Reads the permanent token the SDK stored and checks the file is private (0600).
fn stored_token(config_dir: &std::path::Path, prefix: &str) -> String {
    let path = Extension::stored_token_path(config_dir, prefix);
    let meta = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("the SDK did not store its key at {}: {e}", path.display()));
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "{} must be mode 0600",
        path.display()
    );
    let text = std::fs::read_to_string(&path).expect("read the stored token");
    let token = text.trim().to_owned();
    Token::parse(&token).unwrap_or_else(|e| panic!("{} holds no token: {e}", path.display()));
    token
}

/// The consumed registration token is refused with `token_used`.
async fn assert_token_used(platform: &Platform, registration: &str) {
    let resp = platform.apikey(registration).await;
    assert_eq!(
        resp.status(),
        401,
        "a consumed registration token must be refused"
    );
    assert_eq!(error_body(resp).await.code, ErrorCode::TokenUsed);
}

#[tokio::test]
async fn hello_and_catalog_register_and_the_second_run_reuses_the_stored_key() {
    let platform =
        Platform::start(PlatformOptions::default().heartbeat("1s").status_ttl("30s")).await;
    let configs = tempfile::tempdir().unwrap();

    for (binary, prefix, name) in [
        (bins::hello(), "hello", "Hello World"),
        (bins::catalog(), "catalog", "Catalog"),
    ] {
        let config_dir = configs.path().join(prefix);
        let registration = platform.token_create_registration().await;

        // First run: provisions a permanent key with the registration token and registers.
        let mut first = Extension::spawn_with_token(&binary, &config_dir, &registration);
        let stored = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            loop {
                if Extension::stored_token_path(&config_dir, prefix).exists() {
                    break;
                }
                assert!(
                    first.is_running(),
                    "{prefix} exited early:\n{}",
                    first.logs(40)
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(
            stored.is_ok(),
            "{prefix} never stored its key:\n{}",
            first.logs(40)
        );
        // The file may be written before it is complete: read it once the instance is OK.
        let key_id = {
            let view = platform
                .wait_extension(prefix, &format!("{prefix} registered and OK"), |v| {
                    anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
                    Ok(())
                })
                .await;
            let token = stored_token(&config_dir, prefix);
            let key_id = key_id_of(&token);
            assert_ne!(
                key_id,
                key_id_of(&registration),
                "the stored key must be a new key, not the registration key"
            );
            assert_eq!(view.name, name);
            let status = view
                .instances
                .iter()
                .find(|i| i.of_key(&key_id))
                .expect("the instance's status");
            assert_eq!(status.v, 1);
            assert_eq!(status.prefix, prefix);
            assert_eq!(status.name, name);
            assert!(!status.sdk.name.is_empty(), "status names its SDK");
            assert!(
                symphony_tests::parse_rfc3339(&status.started_at)
                    <= symphony_tests::parse_rfc3339(&status.updated_at)
            );
            assert!(
                view.instances
                    .iter()
                    .any(|i| i.of_key(&key_id) && i.pid == first.pid()),
                "instance id must be the stored key's id {key_id}: {}",
                summarize(&view)
            );
            // The stored token is a permanent api key bound to the prefix.
            let key = platform.exchange(&token).await;
            assert_eq!(key.kind, symphony_protocol::messages::KeyKind::ApiKey);
            assert_eq!(key.prefix.as_deref(), Some(prefix));
            assert_eq!(key.id.as_str(), key_id);
            key_id
        };
        let stored_before = stored_token(&config_dir, prefix);
        assert_token_used(&platform, &registration).await;

        let status = first.terminate().await;
        assert!(
            status.success(),
            "{prefix} must exit 0 on SIGTERM, got {status:?}"
        );

        // Second run: same config dir, no token in the environment.
        let mut second = Extension::spawn(&binary, &config_dir, &[]);
        let second_pid = second.pid();
        let view = platform
            .wait_extension(prefix, &format!("{prefix} second run OK"), |v| {
                anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
                anyhow::ensure!(
                    v.instances.iter().any(|i| i.pid == second_pid
                        && i.state == InstanceState::Ok
                        && i.of_key(&key_id)),
                    "no ok instance of the second run (pid {second_pid}) with id {key_id}"
                );
                Ok(())
            })
            .await;
        assert!(
            second.is_running(),
            "{prefix} second run exited:\n{}",
            second.logs(40)
        );
        assert_eq!(
            stored_token(&config_dir, prefix),
            stored_before,
            "the second run must reuse the stored key, not provision a new one"
        );
        assert!(
            view.instances.iter().all(|i| i.of_key(&key_id)),
            "only the stored key's id may appear: {}",
            summarize(&view)
        );
        assert_token_used(&platform, &registration).await;
        second.terminate().await;
    }
}

#[tokio::test]
async fn catalog_add_and_list_over_nats_with_a_client_key() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let config = tempfile::tempdir().unwrap();
    let registration = platform.token_create_registration().await;
    let _catalog = Extension::spawn_with_token(&bins::catalog(), config.path(), &registration);
    platform
        .wait_extension("catalog", "catalog OK", |v| {
            anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
            Ok(())
        })
        .await;

    // The SDK registers again from run() with its endpoints (§5.2).
    let view = platform
        .wait_extension("catalog", "catalog's manifest lists its endpoints", |v| {
            let subjects: Vec<&str> = v
                .manifest
                .endpoints
                .iter()
                .flat_map(|s| s.endpoints.iter().map(|e| e.subject.as_str()))
                .collect();
            anyhow::ensure!(
                subjects.contains(&"cirata.extensions.catalog.list")
                    && subjects.contains(&"cirata.extensions.catalog.add"),
                "endpoint subjects {subjects:?}"
            );
            Ok(())
        })
        .await;
    assert!(
        view.manifest
            .buckets
            .iter()
            .any(|b| b.name == "catalog_items"),
        "{:?}",
        view.manifest.buckets
    );
    assert!(
        view.manifest
            .resources
            .iter()
            .any(|r| r.uri == "ui://catalog/home" && r.mime_type == "text/symphony-jsx")
    );
    assert!(view.manifest.menus.iter().any(|m| m.route == "/catalog"));

    let client_token = platform
        .key_create(
            &["pub:extensions.catalog.add", "pub:extensions.catalog.list"],
            None,
            &[],
        )
        .await;
    let conn = platform.connect_as(&client_token).await;

    let added: serde_json::Value = conn
        .request_json(
            "cirata.extensions.catalog.add",
            &json!({"id": "sku-1", "name": "Widget", "price": 3}),
        )
        .await
        .expect("catalog.add");
    assert_eq!(added["status"], "created", "add reply: {added}");
    assert_eq!(added["id"], "sku-1", "add reply: {added}");
    let second: serde_json::Value = conn
        .request_json(
            "cirata.extensions.catalog.add",
            &json!({"id": "sku-2", "name": "Gadget"}),
        )
        .await
        .expect("catalog.add");
    assert_eq!(second["status"], "created");

    let items: Vec<serde_json::Value> = conn
        .request_json("cirata.extensions.catalog.list", &json!({}))
        .await
        .expect("catalog.list");
    let names: Vec<&str> = items.iter().filter_map(|i| i["name"].as_str()).collect();
    assert!(names.contains(&"Widget"), "list: {items:?}");
    assert!(names.contains(&"Gadget"), "list: {items:?}");
    let widget = items.iter().find(|i| i["name"] == "Widget").unwrap();
    assert_eq!(widget["id"], "sku-1");
    assert_eq!(widget["price"], 3);
}

#[tokio::test]
async fn a_killed_extension_becomes_inactive_when_its_status_expires() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let config = tempfile::tempdir().unwrap();
    let registration = platform.token_create_registration().await;
    let mut hello = Extension::spawn_with_token(&bins::hello(), config.path(), &registration);
    platform
        .wait_extension("hello", "hello OK", |v| {
            anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
            Ok(())
        })
        .await;
    let key_id = key_id_of(&stored_token(config.path(), "hello"));

    hello.kill9().await;
    // hello publishes no disconnect status; the server marks it disconnected from nats-server's
    // advisory (tests/tests/presence.rs), and the entry expires after --status-ttl 3s.
    let view = platform
        .wait_extension("hello", "hello's status entry expires", |v| {
            anyhow::ensure!(
                !v.instances.iter().any(|i| i.of_key(&key_id)),
                "instance {key_id} still listed"
            );
            Ok(())
        })
        .await;
    assert_eq!(view.state, ExtensionState::Inactive, "{}", summarize(&view));
    // The registry keeps the extension itself.
    assert_eq!(view.name, "Hello World");
}

#[tokio::test]
async fn a_gracefully_stopped_extension_is_inactive_with_a_disconnected_status() {
    // A long TTL, so the disconnected entry is still there when we look.
    let platform =
        Platform::start(PlatformOptions::default().heartbeat("1s").status_ttl("60s")).await;
    let configs = tempfile::tempdir().unwrap();
    // hello stops on SIGTERM, catalog on SIGINT (Ctrl-C).
    for (binary, prefix, sigint) in [
        (bins::hello(), "hello", false),
        (bins::catalog(), "catalog", true),
    ] {
        let config_dir = configs.path().join(prefix);
        let registration = platform.token_create_registration().await;
        let mut ext = Extension::spawn_with_token(&binary, &config_dir, &registration);
        platform
            .wait_extension(prefix, &format!("{prefix} OK"), |v| {
                anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
                Ok(())
            })
            .await;
        let key_id = key_id_of(&stored_token(&config_dir, prefix));

        let status = if sigint {
            ext.interrupt().await
        } else {
            ext.terminate().await
        };
        assert!(
            status.success(),
            "{prefix} must exit 0 on {}, got {status:?}",
            if sigint { "SIGINT" } else { "SIGTERM" }
        );
        let view = platform
            .wait_extension(
                prefix,
                &format!("{prefix} Inactive with a disconnected status"),
                |v| {
                    anyhow::ensure!(v.state == ExtensionState::Inactive, "state {:?}", v.state);
                    anyhow::ensure!(
                        v.instances
                            .iter()
                            .any(|i| i.of_key(&key_id) && i.state == InstanceState::Disconnected),
                        "no disconnected status for {key_id}"
                    );
                    Ok(())
                },
            )
            .await;
        assert!(
            !view.instances.iter().any(|i| i.state == InstanceState::Ok),
            "{}",
            summarize(&view)
        );
    }
}

#[tokio::test]
async fn without_a_token_the_examples_exit_non_zero_with_instructions() {
    for (binary, prefix) in [(bins::hello(), "hello"), (bins::catalog(), "catalog")] {
        let config = tempfile::tempdir().unwrap();
        let mut ext = Extension::spawn(&binary, config.path(), &[]);
        let status = ext.wait().await;
        assert!(
            !status.success(),
            "{} without a token must fail, got {status:?}",
            binary.display()
        );
        let stderr = ext.stderr();
        assert!(
            stderr.contains("REGISTRATION_TOKEN"),
            "{} must explain how to provide a token on stderr; stderr was:\n{stderr}",
            binary.display()
        );
        assert!(
            !Extension::stored_token_path(config.path(), prefix).exists(),
            "nothing may be stored without a token"
        );
    }
}

#[tokio::test]
async fn symphony_token_runs_with_an_api_key_or_provisions_with_a_registration_token() {
    let platform = Platform::start(PlatformOptions::fast()).await;

    // An api key in SYMPHONY_TOKEN: used as is, nothing stored.
    let api_key = platform
        .key_create_with(&[
            "--capability",
            "sub:extensions.hello.>",
            "--prefix",
            "hello",
            "--name",
            "Hello World",
        ])
        .await;
    let hello_config = tempfile::tempdir().unwrap();
    let _hello = Extension::spawn(
        &bins::hello(),
        hello_config.path(),
        &[("SYMPHONY_TOKEN", &api_key)],
    );
    let key_id = key_id_of(&api_key);
    platform.wait_instance_ok("hello", &key_id).await;
    assert!(
        !Extension::stored_token_path(hello_config.path(), "hello").exists(),
        "a token from SYMPHONY_TOKEN is not written to the credential store"
    );

    // A registration token in SYMPHONY_TOKEN: provisions and stores like REGISTRATION_TOKEN.
    let registration = platform.token_create_registration().await;
    let catalog_config = tempfile::tempdir().unwrap();
    let _catalog = Extension::spawn(
        &bins::catalog(),
        catalog_config.path(),
        &[("SYMPHONY_TOKEN", &registration)],
    );
    platform
        .wait_extension("catalog", "catalog OK", |v| {
            anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
            Ok(())
        })
        .await;
    let stored = stored_token(catalog_config.path(), "catalog");
    assert_ne!(key_id_of(&stored), key_id_of(&registration));
    platform
        .wait_instance_ok("catalog", &key_id_of(&stored))
        .await;
    assert_token_used(&platform, &registration).await;
}

#[tokio::test]
async fn symphony_address_overrides_the_origin_in_the_token() {
    // Tokens name an origin nobody listens on; SYMPHONY_ADDRESS points at the real server.
    let mut opts = PlatformOptions::fast();
    opts.extra_args = vec!["--public-url".into(), "http://symphony.invalid:9".into()];
    let platform = Platform::start(opts).await;
    let registration = platform.token_create_registration().await;
    assert_eq!(
        Token::parse(&registration).unwrap().origin,
        "http://symphony.invalid:9",
        "--public-url goes into tokens"
    );

    let config = tempfile::tempdir().unwrap();
    let _hello = Extension::spawn(
        &bins::hello(),
        config.path(),
        &[
            ("REGISTRATION_TOKEN", &registration),
            ("SYMPHONY_ADDRESS", &platform.http_url()),
        ],
    );
    platform
        .wait_extension("hello", "hello registered through SYMPHONY_ADDRESS", |v| {
            anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
            Ok(())
        })
        .await;

    // An unusable address is a clear error, not a hang.
    let other = platform.token_create_registration().await;
    let bad_config = tempfile::tempdir().unwrap();
    let mut bad = Extension::spawn(
        &bins::hello(),
        bad_config.path(),
        &[
            ("REGISTRATION_TOKEN", &other),
            ("SYMPHONY_ADDRESS", "ftp://127.0.0.1/x"),
        ],
    );
    let status = bad.wait().await;
    assert!(!status.success(), "an invalid SYMPHONY_ADDRESS must fail");
    let output = format!("{}{}", bad.stdout(), bad.stderr());
    assert!(
        output.contains("SYMPHONY_ADDRESS"),
        "the error names SYMPHONY_ADDRESS; output:\n{output}"
    );
    // The registration token was not spent.
    assert_eq!(platform.apikey(&other).await.status(), 200);
}

//! Extensions written with different SDKs call each other: the Python fixture
//! (tests/fixtures/py_caller) calls the Rust `catalog` example, and the Rust fixture `rest-ext` calls
//! the Python fixture; reached both over NATS with a client key and over the REST gateway.

use serde_json::{Value, json};
use symphony_protocol::messages::ExtensionState;
use symphony_tests::extension::Extension;
use symphony_tests::{Platform, PlatformOptions, bins};

#[tokio::test]
async fn a_python_extension_calls_a_rust_one_and_the_other_way_round() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let configs = tempfile::tempdir().unwrap();

    let registration = platform.token_create_registration().await;
    let _catalog = Extension::spawn_with_token(
        &bins::catalog(),
        &configs.path().join("catalog"),
        &registration,
    );
    let registration = platform.token_create_registration().await;
    let _python = Extension::spawn_python(
        &bins::fixture("py_caller/main.py"),
        &configs.path().join("pycaller"),
        &[("REGISTRATION_TOKEN", &registration)],
    );
    let registration = platform.token_create_registration().await;
    let _rust = Extension::spawn(
        &bins::rest_ext(),
        &configs.path().join("rest"),
        &[
            ("REGISTRATION_TOKEN", &registration),
            ("REST_EXT_CALL_PYTHON", "1"),
        ],
    );

    let client = platform
        .key_create(
            &[
                "pub:extensions.catalog.add",
                "pub:extensions.pycaller.proxy_list",
                "pub:extensions.rest.call_python",
            ],
            None,
            &[],
        )
        .await;
    // Each is routed once it runs with its endpoints (the service proxy needs no OpenAPI).
    platform.wait_route("catalog", "/add", &client).await;
    platform
        .wait_route("pycaller", "/proxy_list", &client)
        .await;
    platform.wait_route("rest", "/call_python", &client).await;
    let view = platform
        .wait_extension("pycaller", "pycaller OK", |v| {
            anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
            Ok(())
        })
        .await;
    assert_eq!(view.manifest.sdk.name, "cirata-symphony-python");
    // The Python extension's key was provisioned with the capabilities it declared.
    assert!(
        view.manifest
            .capabilities
            .iter()
            .any(|c| c.subject == "extensions.catalog.list"),
        "{:?}",
        view.manifest.capabilities
    );

    let conn = platform.connect_as(&client).await;
    let added: Value = conn
        .request_json(
            "cirata.extensions.catalog.add",
            &json!({"id": "x-1", "name": "Cross", "lang": "rust"}),
        )
        .await
        .expect("catalog.add");
    assert_eq!(added, json!({"status": "created", "id": "x-1"}));

    // Python → Rust, over NATS: pycaller.proxy_list calls catalog.list with its own key.
    let listed: Value = conn
        .request_json("cirata.extensions.pycaller.proxy_list", &json!({}))
        .await
        .expect("pycaller.proxy_list");
    assert_eq!(
        listed,
        json!([{"id": "x-1", "name": "Cross", "lang": "rust"}]),
        "the Rust catalog's list, through Python"
    );
    // … and over REST.
    let over_rest = platform.rest_get("pycaller", "/proxy_list", &client).await;
    assert_eq!(over_rest.status, 200, "{over_rest}");
    assert_eq!(over_rest.content_type(), "application/json", "{over_rest}");
    assert_eq!(over_rest.json(), listed);

    // Rust → Python, over NATS: rest.call_python calls pycaller.hello.
    let reply = conn
        .client
        .request("cirata.extensions.rest.call_python", "".into())
        .await
        .expect("rest.call_python");
    assert_eq!(
        String::from_utf8_lossy(&reply.payload),
        "hello from python",
        "headers: {:?}",
        reply.headers
    );
    // … and over REST (raw text → text/plain).
    let over_rest = platform.rest_get("rest", "/call_python", &client).await;
    assert_eq!(
        (over_rest.status, over_rest.content_type(), over_rest.text()),
        (
            200,
            "text/plain; charset=utf-8",
            "hello from python".to_owned()
        ),
        "{over_rest}"
    );

    // The client key itself may not call the Python endpoint directly: only what it was given.
    let mut conn = conn;
    conn.assert_publish_denied("cirata.extensions.pycaller.hello")
        .await;
}

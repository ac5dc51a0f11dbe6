//! The plain HTTP API (docs/protocol.md §2).

use symphony_protocol::messages::{ExtensionView, SymphonyInfo};
use symphony_protocol::{ErrorCode, Token};
use symphony_tests::{Platform, PlatformOptions, error_body, manifest};

#[tokio::test]
async fn ping_health_ready_and_symphonyinfo() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    assert_eq!(
        platform.ports.pid,
        platform.server_pid(),
        "ports.json names the serving process"
    );
    assert_eq!(
        platform.ports.http_url.trim_end_matches('/'),
        format!("http://127.0.0.1:{}", platform.ports.http)
    );
    assert_eq!(
        platform.nats_url(),
        format!("nats://127.0.0.1:{}", platform.ports.nats)
    );

    let ping = platform.get("/ping", None).await;
    assert_eq!(ping.status(), 200);
    let ping: serde_json::Value = ping.json().await.unwrap();
    assert_eq!(ping, serde_json::json!({"message": "pong"}));

    let ready = platform.get("/ready", None).await;
    assert_eq!(ready.status(), 200, "ready once ports.json is written");
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ready");

    let health = platform.get("/health", None).await;
    assert_eq!(health.status(), 200);
    let health: serde_json::Value = health.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["nats"], "connected");

    let info = platform.get("/symphonyinfo", None).await;
    assert_eq!(info.status(), 200);
    let info: SymphonyInfo = info.json().await.unwrap();
    assert_eq!(info.name, "Symphony");
    assert_eq!(info.short_name, "symphony");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert!(info.nats_address.starts_with("nats://"), "{info:?}");
    assert!(
        info.nats_urls.iter().any(|u| u == &platform.ports.nats_url),
        "nats_urls {:?} include ports.json's {}",
        info.nats_urls,
        platform.ports.nats_url
    );
    assert_eq!(
        info.websocket_url.as_deref(),
        Some(format!("ws://127.0.0.1:{}", platform.ports.websocket).as_str())
    );
    // Tokens carry the same origin the server announces.
    let token = platform.token_create_registration().await;
    assert_eq!(Token::parse(&token).unwrap().origin, info.origin);
    assert_eq!(info.origin.trim_end_matches('/'), platform.http_url());
}

#[tokio::test]
async fn extension_routes_need_an_api_key_and_name_unknown_prefixes() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let api_key = platform
        .key_create_with(&[
            "--capability",
            "sub:extensions.web.>",
            "--prefix",
            "web",
            "--name",
            "Web",
        ])
        .await;

    let missing = platform.get("/extensions/all", None).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(error_body(missing).await.code, ErrorCode::MissingToken);

    let registration = platform.token_create_registration().await;
    let wrong = platform.get("/extensions/all", Some(&registration)).await;
    assert_eq!(wrong.status(), 403);
    assert_eq!(error_body(wrong).await.code, ErrorCode::WrongTokenKind);
    let wrong = platform.get("/extensions/web", Some(&registration)).await;
    assert_eq!(wrong.status(), 403);
    assert_eq!(error_body(wrong).await.code, ErrorCode::WrongTokenKind);

    let unknown = platform.get("/extensions/nosuchext", Some(&api_key)).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(error_body(unknown).await.code, ErrorCode::ExtensionNotFound);

    let all = platform.get("/extensions/all", Some(&api_key)).await;
    assert_eq!(all.status(), 200);
    let all: Vec<ExtensionView> = all.json().await.unwrap();
    assert!(
        all.iter().all(|v| v.prefix != "web"),
        "nothing registered yet: {all:?}"
    );

    // Register "web" directly; both routes show it.
    let conn = platform.connect_as(&api_key).await;
    let _: serde_json::Value = conn
        .request_json(
            &symphony_protocol::subjects::register(conn.key_id()),
            &manifest::minimal("Web", "web"),
        )
        .await
        .expect("register web");
    let one = platform.extension_http("web", &api_key).await;
    assert_eq!(one.prefix, "web");
    assert_eq!(one.name, "Web");
    assert_eq!(one.manifest.prefix, "web");
    let all: Vec<ExtensionView> = platform
        .get("/extensions/all", Some(&api_key))
        .await
        .json()
        .await
        .unwrap();
    assert!(all.iter().any(|v| v.prefix == "web"), "{all:?}");
}

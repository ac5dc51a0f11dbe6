//! The REST gateway (docs/protocol.md §7) with the real `rest-ext` fixture (tests/fixtures/rest-ext)
//! and the real Rust `catalog` example: routes from OpenAPI, the request an endpoint receives, raw
//! and wrapped replies, typed errors and limits, route lifecycle, the aggregated OpenAPI document,
//! Swagger UI and the service proxy.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};
use symphony_protocol::ErrorCode;
use symphony_protocol::messages::ExtensionState;
use symphony_tests::KeyConn;
use symphony_tests::extension::Extension;
use symphony_tests::platform::key_id_of;
use symphony_tests::users::ADMIN_PASSWORD;
use symphony_tests::{DEFAULT_DEADLINE, Platform, PlatformOptions, bins, eventually};

/// Starts `rest-ext` with a fresh registration token (it provisions and stores its key in
/// `config_dir`; a second start with the same dir reuses it) and `env`.
async fn start_rest_ext(platform: &Platform, config_dir: &Path, env: &[(&str, &str)]) -> Extension {
    let registration = platform.token_create_registration().await;
    let mut all = vec![("REGISTRATION_TOKEN", registration.as_str())];
    all.extend_from_slice(env);
    Extension::spawn(&bins::rest_ext(), config_dir, &all)
}

/// A client key that may call every endpoint of `prefix`: wildcards are allowed only inside the
/// key's own prefix (§4), so the key is bound to it.
async fn client_key(platform: &Platform, prefix: &str) -> String {
    platform
        .key_create_with(&[
            "--prefix",
            prefix,
            "--name",
            "REST client",
            "--capability",
            &format!("pub:extensions.{prefix}.>"),
        ])
        .await
}

/// Whether `s` is a W3C traceparent (`00-<32 hex>-<16 hex>-<2 hex>`).
fn is_traceparent(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1] != "0".repeat(32)
}

#[tokio::test]
async fn requests_reach_the_endpoint_with_the_gateway_headers_and_replies_come_back_as_sent() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let token = client_key(&platform, "rest").await;

    // Nothing is routed before the extension registers.
    platform
        .rest_get("rest", "/items/1", &token)
        .await
        .assert_error(404, ErrorCode::RouteNotFound);

    let config = tempfile::tempdir().unwrap();
    let _ext = start_rest_ext(&platform, config.path(), &[]).await;
    platform.wait_route("rest", "/items/1", &token).await;

    // Path parameters decoded, the query raw, the method, the caller and a fresh traceparent.
    let r = platform
        .send(
            platform
                .rest(
                    Method::GET,
                    "rest",
                    "/items/a%20b?x=1&y=two%20words",
                    Some(&token),
                )
                .header("user-agent", "symphony-tests/1")
                .header("x-request-id", "req-42")
                // A client's own caller headers are not forwarded: the gateway writes both.
                .header("symphony-caller", "user:admin")
                .header("symphony-caller-signature", "v1.1.AAAA"),
        )
        .await;
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.content_type(), "application/json", "{r}");
    let seen = r.json();
    assert_eq!(seen["prefix"], "rest", "{seen}");
    assert_eq!(seen["subject"], "cirata.extensions.rest.get_item", "{seen}");
    assert_eq!(seen["method"], "GET", "{seen}");
    assert_eq!(seen["path"], "/items/a%20b", "{seen}");
    assert_eq!(seen["route"], "/items/{id}", "{seen}");
    assert_eq!(seen["path_params"], json!({"id": "a b"}), "{seen}");
    assert_eq!(seen["query"], "x=1&y=two%20words", "{seen}");
    assert_eq!(
        seen["caller"],
        key_id_of(&token),
        "an API key caller is its key id: {seen}"
    );
    assert_eq!(
        seen["verified_caller"],
        key_id_of(&token),
        "the SDK verifies the gateway's signature of the caller: {seen}"
    );
    assert_eq!(seen["user_agent"], "symphony-tests/1", "{seen}");
    assert_eq!(seen["request_id"], "req-42", "{seen}");
    assert_eq!(seen["payload"], "", "a GET has an empty payload: {seen}");
    let generated = seen["traceparent"].as_str().unwrap_or_default().to_owned();
    assert!(
        is_traceparent(&generated),
        "a W3C traceparent is generated: {seen}"
    );

    // Another request gets another trace; a caller's traceparent and tracestate pass through.
    let again = platform.rest_get("rest", "/items/2", &token).await.json();
    assert_eq!(again["query"], "", "no query is an empty query: {again}");
    assert_eq!(again["path_params"], json!({"id": "2"}));
    assert!(is_traceparent(
        again["traceparent"].as_str().unwrap_or_default()
    ));
    assert_ne!(again["traceparent"], generated.as_str());
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traced = platform
        .send(
            platform
                .rest(Method::GET, "rest", "/items/t", Some(&token))
                .header("traceparent", traceparent)
                .header("tracestate", "congo=t61rcWkgMzE"),
        )
        .await
        .json();
    assert_eq!(traced["traceparent"], traceparent, "{traced}");
    assert_eq!(traced["tracestate"], "congo=t61rcWkgMzE", "{traced}");

    // Multi-byte UTF-8, an encoded slash, a quote and a backslash in a path parameter.
    for (raw, decoded) in [
        ("caf%C3%A9", "café"),
        ("a%2Fb", "a/b"),
        ("q%22%5C", "q\"\\"),
    ] {
        let r = platform
            .rest_get("rest", &format!("/items/{raw}"), &token)
            .await;
        assert_eq!(r.status, 200, "{raw}: {r}");
        assert_eq!(
            r.json()["path_params"],
            json!({"id": decoded}),
            "{raw}: {r}"
        );
        assert_eq!(r.json()["path"], format!("/items/{raw}"), "{raw}: {r}");
    }

    // POST: the JSON body reaches the endpoint; the wrapped reply sets status and headers.
    let created = platform
        .rest_post(
            "rest",
            "/items",
            &token,
            "application/json",
            r#"{"name":"Widget","price":3}"#,
        )
        .await;
    assert_eq!(created.status, 201, "{created}");
    assert_eq!(created.header("x-item"), "created", "{created}");
    assert_eq!(created.content_type(), "application/json", "{created}");
    assert_eq!(
        created.json(),
        json!({"created": {"name": "Widget", "price": 3}, "prefix": "rest"})
    );
    let created_text = platform
        .rest_post("rest", "/items", &token, "text/plain", "just text")
        .await;
    assert_eq!(created_text.status, 201, "{created_text}");
    assert_eq!(created_text.json()["created"], "just text");

    // Raw replies: text is text/plain, JSON is application/json; the bytes are untouched.
    let text = platform.rest_get("rest", "/text", &token).await;
    assert_eq!(
        (text.status, text.content_type(), text.text().as_str()),
        (200, "text/plain; charset=utf-8", "pong"),
        "{text}"
    );
    let raw_json = platform.rest_get("rest", "/json", &token).await;
    assert_eq!(
        (raw_json.status, raw_json.content_type(), &raw_json.body[..]),
        (200, "application/json", &br#"{"ok":true}"#[..]),
        "{raw_json}"
    );

    // /echo returns the body as sent: invalid JSON and non-UTF-8 bytes pass through byte-identical.
    for (body, content_type) in [
        (&b"{\"a\": 1,  "[..], "text/plain; charset=utf-8"),
        (&b"\xff\xfe not utf-8 \x00"[..], "text/plain; charset=utf-8"),
        (&b"[1, 2,   3]"[..], "application/json"),
    ] {
        let echoed = platform
            .rest_post("rest", "/echo", &token, "application/json", body.to_vec())
            .await;
        assert_eq!(echoed.status, 200, "{echoed}");
        assert_eq!(&echoed.body[..], body, "{echoed}");
        assert_eq!(echoed.content_type(), content_type, "{echoed}");
    }

    // A wrapped reply with a non-JSON content type carries a string body.
    let html = platform.rest_get("rest", "/html", &token).await;
    assert_eq!(
        (html.status, html.content_type(), html.text().as_str()),
        (200, "text/html; charset=utf-8", "<h1>hello</h1>"),
        "{html}"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_and_a_connection_that_says_it_closes() {
    let mut opts = PlatformOptions::fast();
    opts.extra_args = vec!["--gateway-body-limit".into(), "1024".into()];
    let platform = Platform::start(opts).await;
    let token = client_key(&platform, "rest").await;
    let config = tempfile::tempdir().unwrap();
    let _ext = start_rest_ext(&platform, config.path(), &[]).await;
    platform.wait_route("rest", "/text", &token).await;

    // At the limit passes; over it is 413 body_too_large.
    let at_limit = vec![b'a'; 1024];
    let echoed = platform
        .rest_post("rest", "/echo", &token, "text/plain", at_limit.clone())
        .await;
    assert_eq!(
        (echoed.status, &echoed.body[..]),
        (200, &at_limit[..]),
        "{echoed}"
    );
    // A fresh connection per oversized request: the server may close it after answering early.
    let oversized = |size: usize| {
        let client = symphony_tests::http_client();
        let url = platform.extension_url("rest", "/echo");
        let token = token.clone();
        async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "text/plain")
                .body(vec![b'a'; size])
                .send()
                .await
                .unwrap_or_else(|e| panic!("POST {size} bytes: {e:?}"));
            symphony_tests::RestReply::read(resp).await.unwrap()
        }
    };
    let small = oversized(1025).await;
    small.assert_error(413, ErrorCode::BodyTooLarge);
    let large = oversized(256 * 1024).await;
    let e = large.assert_error(413, ErrorCode::BodyTooLarge);
    assert!(e.message.contains("1024"), "{large}");
    assert_eq!(
        platform.rest_get("rest", "/text", &token).await.text(),
        "pong",
        "the server keeps serving"
    );

    // The server answers before reading a large body and then closes the connection; it must say
    // so (`Connection: close`, RFC 9112 §9.6), or a keep-alive client reuses the dead connection
    // and its next request fails (reqwest: IncompleteMessage).
    assert_eq!(
        large.header("connection"),
        "close",
        "a 413 sent before the body was read must carry Connection: close: {:?}",
        large.headers
    );
}

#[tokio::test]
async fn gateway_errors_are_typed() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let token = client_key(&platform, "rest").await;
    let config = tempfile::tempdir().unwrap();
    let _ext = start_rest_ext(&platform, config.path(), &[]).await;
    platform.wait_route("rest", "/items/1", &token).await;

    // 401: no token, a malformed token, an unknown well-formed token; all before routing.
    for path in ["/items/1", "/nope"] {
        let missing = platform
            .send(platform.rest(Method::GET, "rest", path, None))
            .await;
        missing.assert_error(401, ErrorCode::MissingToken);
        assert!(
            missing.header("www-authenticate").starts_with("Bearer"),
            "{missing}"
        );
        platform
            .rest_get("rest", path, "not-a-token")
            .await
            .assert_error(401, ErrorCode::InvalidToken);
    }
    let forged = {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[2] = "A".repeat(43);
        parts.join(".")
    };
    platform
        .rest_get("rest", "/items/1", &forged)
        .await
        .assert_error(401, ErrorCode::InvalidToken);

    // 403: a registration token is the wrong kind; a key without the capability is forbidden.
    let registration = platform.token_create_registration().await;
    platform
        .rest_get("rest", "/items/1", &registration)
        .await
        .assert_error(403, ErrorCode::WrongTokenKind);
    let only_get_item = platform
        .key_create(&["pub:extensions.rest.get_item"], None, &[])
        .await;
    assert_eq!(
        platform
            .rest_get("rest", "/items/1", &only_get_item)
            .await
            .status,
        200
    );
    let forbidden = platform.rest_get("rest", "/text", &only_get_item).await;
    let e = forbidden.assert_error(403, ErrorCode::Forbidden);
    assert!(
        e.message.contains("cirata.extensions.rest.text"),
        "{forbidden}"
    );
    let other = platform
        .key_create(&["pub:extensions.other.thing"], None, &[])
        .await;
    platform
        .rest_get("rest", "/items/1", &other)
        .await
        .assert_error(403, ErrorCode::Forbidden);

    // 404: unknown path, unknown prefix, nothing after the base.
    platform
        .rest_get("rest", "/nope", &token)
        .await
        .assert_error(404, ErrorCode::RouteNotFound);
    platform
        .rest_get("rest", "/items/1/more", &token)
        .await
        .assert_error(404, ErrorCode::RouteNotFound);
    platform
        .rest_get("nosuchext", "/items/1", &token)
        .await
        .assert_error(404, ErrorCode::RouteNotFound);
    platform
        .rest_get("rest", "", &token)
        .await
        .assert_error(404, ErrorCode::RouteNotFound);

    // 405 with Allow.
    let delete = platform
        .send(platform.rest(Method::DELETE, "rest", "/items/1", Some(&token)))
        .await;
    delete.assert_error(405, ErrorCode::MethodNotAllowed);
    assert_eq!(delete.header("allow"), "GET", "{delete}");
    let put = platform
        .send(platform.rest(Method::PUT, "rest", "/items", Some(&token)))
        .await;
    put.assert_error(405, ErrorCode::MethodNotAllowed);
    assert_eq!(put.header("allow"), "POST", "{put}");

    // 400: a path that is not UTF-8 once decoded.
    platform
        .rest_get("rest", "/items/%FF", &token)
        .await
        .assert_error(400, ErrorCode::InvalidPath);
    platform
        .rest_get("rest", "/items/ok%C3", &token)
        .await
        .assert_error(400, ErrorCode::InvalidPath);

    // 504: the route's own x-symphony-timeout (200 ms) against a 2 s handler.
    let slow = platform.rest_get("rest", "/slow", &token).await;
    let e = slow.assert_error(504, ErrorCode::GatewayTimeout);
    assert!(e.message.contains("cirata.extensions.rest.slow"), "{slow}");

    // 502: malformed wrappers name the extension and the reason.
    for (path, reason) in [("/broken", "statusCode"), ("/hop", "Connection")] {
        let bad = platform.rest_get("rest", path, &token).await;
        let e = bad.assert_error(502, ErrorCode::BadExtensionResponse);
        assert!(
            e.message.contains("\"rest\"") && e.message.contains(reason),
            "{path}: {bad}"
        );
        assert!(
            bad.header("connection") != "close",
            "the hop-by-hop header must not be passed on: {bad:?}"
        );
    }

    // A failing handler: the SDK's error reply (code 500) becomes 500 handler_failed.
    let fail = platform.rest_get("rest", "/fail", &token).await;
    let e = fail.assert_error(500, ErrorCode::HandlerFailed);
    assert!(
        e.message.contains("the fixture fails on purpose") && e.message.contains("rest"),
        "{fail}"
    );

    // Request headers: a 100 KB header is within the HTTP server's limit (forwarded headers
    // reach the endpoint whole); 1 MB is refused with 431, not a dropped connection; either way
    // the server keeps serving.
    let long_agent = "a".repeat(100 * 1024);
    let big = platform
        .send(
            platform
                .rest(Method::GET, "rest", "/items/1", Some(&token))
                .header("user-agent", long_agent.as_str())
                .header("x-junk", "j".repeat(100 * 1024)),
        )
        .await;
    assert_eq!(big.status, 200, "{big}");
    assert_eq!(big.json()["user_agent"], long_agent.as_str());
    let resp = platform
        .rest(Method::GET, "rest", "/items/1", Some(&token))
        .header("x-junk", "j".repeat(1024 * 1024))
        .send()
        .await
        .unwrap_or_else(|e| panic!("a 1 MB header must get an HTTP answer: {e:?}"));
    assert_eq!(resp.status().as_u16(), 431, "a 1 MB header");
    assert_eq!(
        platform.rest_get("rest", "/text", &token).await.text(),
        "pong",
        "the server keeps serving after a 1 MB header"
    );
}

#[tokio::test]
async fn routes_follow_registration_per_extension_without_a_server_restart() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let rest_token = client_key(&platform, "rest").await;
    let two_token = platform
        .key_create(
            &[
                "pub:extensions.resttwo.get_item",
                "pub:extensions.resttwo.extra",
            ],
            None,
            &[],
        )
        .await;
    let configs = tempfile::tempdir().unwrap();
    let rest_config = configs.path().join("rest");
    let mut rest = start_rest_ext(&platform, &rest_config, &[]).await;
    let _two = start_rest_ext(
        &platform,
        &configs.path().join("resttwo"),
        &[("REST_EXT_PREFIX", "resttwo"), ("REST_EXT_EXTRA", "1")],
    )
    .await;

    // Each prefix reaches its own instance.
    let one = platform.wait_route("rest", "/items/x", &rest_token).await;
    assert_eq!(one.status, 200, "{one}");
    assert_eq!(one.json()["prefix"], "rest", "{one}");
    assert_eq!(one.json()["subject"], "cirata.extensions.rest.get_item");
    let two = platform.wait_route("resttwo", "/items/x", &two_token).await;
    assert_eq!(two.status, 200, "{two}");
    assert_eq!(two.json()["prefix"], "resttwo", "{two}");
    assert_eq!(two.json()["subject"], "cirata.extensions.resttwo.get_item");

    // resttwo's extra route is not rest's; rest's key may not call resttwo and vice versa.
    let extra = platform.rest_get("resttwo", "/extra", &two_token).await;
    assert_eq!(extra.status, 200, "{extra}");
    assert_eq!(extra.json(), json!({"extra": true, "prefix": "resttwo"}));
    platform
        .rest_get("rest", "/extra", &rest_token)
        .await
        .assert_error(404, ErrorCode::RouteNotFound);
    platform
        .rest_get("resttwo", "/items/x", &rest_token)
        .await
        .assert_error(403, ErrorCode::Forbidden);
    platform
        .rest_get("rest", "/items/x", &two_token)
        .await
        .assert_error(403, ErrorCode::Forbidden);

    // A graceful stop (SIGTERM → disconnected status) removes rest's routes; resttwo stays.
    let status = rest.terminate().await;
    assert!(status.success(), "rest-ext exits 0 on SIGTERM: {status:?}");
    platform
        .wait_no_route("rest", "/items/x", &rest_token)
        .await;
    assert_eq!(
        platform
            .rest_get("resttwo", "/items/x", &two_token)
            .await
            .json()["prefix"],
        "resttwo"
    );

    // Restarted with a changed spec (same stored key): the new route appears, no server restart.
    let _rest = Extension::spawn(&bins::rest_ext(), &rest_config, &[("REST_EXT_EXTRA", "1")]);
    let extra = platform.wait_route("rest", "/extra", &rest_token).await;
    assert_eq!(extra.status, 200, "{extra}");
    assert_eq!(extra.json(), json!({"extra": true, "prefix": "rest"}));
    let doc = platform.openapi(&rest_token).await.json();
    assert!(
        doc["paths"]["/api/v1/extension/rest/extra"]["get"].is_object(),
        "the re-registered route is documented: {}",
        doc["paths"]
    );
}

#[tokio::test]
async fn a_killed_extension_loses_its_routes_and_a_live_status_nobody_serves_answers_503() {
    // A long status TTL and heartbeat: nothing expires or is re-published during the test.
    let platform =
        Platform::start(PlatformOptions::default().heartbeat("1h").status_ttl("2h")).await;
    let token = client_key(&platform, "rest").await;
    let config = tempfile::tempdir().unwrap();
    let mut ext = start_rest_ext(&platform, config.path(), &[]).await;
    let ok = platform.wait_route("rest", "/items/1", &token).await;
    assert_eq!(ok.status, 200, "{ok}");

    // The server learns of the closed connection at once (docs/protocol.md §5.3): no route.
    ext.kill9().await;
    platform.wait_no_route("rest", "/items/1", &token).await;
    let view = platform
        .try_extension("rest")
        .await
        .expect("rest is listed");
    assert_eq!(view.state, ExtensionState::Inactive);

    // An instance that says it is live but serves nothing (here: the killed instance's key
    // publishing an `ok` status) is routed to, and the gateway answers 503 no_responders.
    let rest_token = std::fs::read_to_string(Extension::stored_token_path(config.path(), "rest"))
        .expect("rest-ext stored its key");
    let rest_token = rest_token.trim();
    let id = key_id_of(rest_token);
    let conn = platform.connect_as(rest_token).await;
    let status = json!({
        "v": 1, "prefix": "rest", "instance_id": id, "name": "Rest Fixture", "state": "ok",
        "started_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
    });
    async_nats::jetstream::new(conn.client.clone())
        .publish(
            format!("$KV.symphony_status.rest.{id}"),
            serde_json::to_vec(&status).unwrap().into(),
        )
        .await
        .expect("publish a status")
        .await
        .expect("JetStream stores the status");
    let gone = eventually(
        "the live status routes rest again",
        DEFAULT_DEADLINE,
        || async {
            let reply = platform.try_rest_get("rest", "/items/1", &token).await?;
            anyhow::ensure!(!reply.is_route_not_found(), "{reply}");
            Ok(reply)
        },
    )
    .await;
    let e = gone.assert_error(503, ErrorCode::NoResponders);
    assert!(e.message.contains("rest"), "{gone}");
}

#[tokio::test]
async fn openapi_json_documents_live_extensions_and_swagger_ui_is_served() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let token = client_key(&platform, "rest").await;

    // It lists every extension's API: not without sign-in.
    platform
        .get_raw("/api/v1/openapi.json")
        .await
        .assert_error(401, ErrorCode::MissingToken);
    let before = platform.openapi(&token).await;
    assert_eq!(before.status, 200, "{before}");
    let before = before.json();
    assert!(before["paths"]["/api/v1/ping"].is_object(), "{before}");
    assert!(
        before["paths"]["/api/v1/extension/rest/items/{id}"].is_null(),
        "nothing of rest before it runs"
    );

    let config = tempfile::tempdir().unwrap();
    let _ext = start_rest_ext(&platform, config.path(), &[]).await;
    platform.wait_route("rest", "/items/1", &token).await;
    let doc = platform.openapi(&token).await;
    assert_eq!(doc.status, 200, "{doc}");
    assert!(doc.content_type().starts_with("application/json"), "{doc}");
    let doc = doc.json();
    let tag = "Rest Fixture (rest)";
    let get_item = &doc["paths"]["/api/v1/extension/rest/items/{id}"]["get"];
    assert_eq!(get_item["operationId"], "get_item", "{}", doc["paths"]);
    assert_eq!(get_item["tags"], json!([tag]), "{get_item}");
    assert_eq!(
        get_item.pointer("/responses/200/content/application~1json/schema/$ref"),
        Some(&Value::from("#/components/schemas/rest.Seen")),
        "component refs are namespaced: {get_item}"
    );
    assert!(doc["components"]["schemas"]["rest.Seen"].is_object());
    assert!(doc["paths"]["/api/v1/extension/rest/items"]["post"].is_object());
    assert!(
        doc["tags"]
            .as_array()
            .is_some_and(|tags| tags.iter().any(|t| t["name"] == tag)),
        "{}",
        doc["tags"]
    );

    let page = platform.get_raw("/help/access/swagger").await;
    assert_eq!(page.status, 200, "{page}");
    assert!(page.content_type().starts_with("text/html"), "{page}");
    let html = page.text();
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(html.contains("/api/v1/openapi.json"), "{html}");
    let bundle = platform
        .get_raw("/help/access/swagger/assets/swagger-ui-bundle.js")
        .await;
    assert_eq!(bundle.status, 200, "{}", bundle.status);
    assert!(bundle.body.len() > 10_000, "{} bytes", bundle.body.len());
    assert!(
        bundle.content_type().contains("javascript"),
        "{:?}",
        bundle.headers
    );
    let css = platform
        .get_raw("/help/access/swagger/assets/swagger-ui.css")
        .await;
    assert_eq!(css.status, 200);
    assert!(!css.body.is_empty());
    assert_eq!(
        platform
            .get_raw("/help/access/swagger/assets/nope.js")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn the_service_proxy_reaches_the_rust_catalog_without_openapi() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let token = platform
        .key_create(
            &["pub:extensions.catalog.add", "pub:extensions.catalog.list"],
            None,
            &[],
        )
        .await;
    let config = tempfile::tempdir().unwrap();
    let registration = platform.token_create_registration().await;
    let _catalog = Extension::spawn_with_token(&bins::catalog(), config.path(), &registration);
    let empty = platform.wait_route("catalog", "/list", &token).await;
    assert_eq!(empty.status, 200, "{empty}");
    assert_eq!(empty.content_type(), "application/json", "{empty}");

    let added = platform
        .rest_post(
            "catalog",
            "/add",
            &token,
            "application/json",
            r#"{"id":"sku-9","name":"Sprocket","price":7}"#,
        )
        .await;
    assert_eq!(added.status, 200, "{added}");
    assert_eq!(added.json(), json!({"status": "created", "id": "sku-9"}));
    let list = platform.rest_get("catalog", "/list", &token).await;
    assert_eq!(list.status, 200, "{list}");
    let items = list.json();
    assert!(
        items
            .as_array()
            .is_some_and(|a| a.contains(&json!({"id": "sku-9", "name": "Sprocket", "price": 7}))),
        "{list}"
    );

    // Only GET and POST; a path below an endpoint is not one; no OpenAPI means no documented paths.
    let delete = platform
        .send(platform.rest(Method::DELETE, "catalog", "/list", Some(&token)))
        .await;
    delete.assert_error(405, ErrorCode::MethodNotAllowed);
    assert_eq!(delete.header("allow"), "GET, POST", "{delete}");
    platform
        .rest_get("catalog", "/list/more", &token)
        .await
        .assert_error(404, ErrorCode::RouteNotFound);
    let doc = platform.openapi(&token).await.json();
    assert!(
        doc["paths"]
            .as_object()
            .is_some_and(|p| !p.keys().any(|k| k.starts_with("/api/v1/extension/catalog"))),
        "{}",
        doc["paths"]
    );
}

/// `Symphony-Caller` can be set by anyone who may publish to an endpoint; the signature cannot.
#[tokio::test]
async fn a_forged_symphony_caller_is_not_verified_by_the_sdk() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let token = client_key(&platform, "rest").await;
    let config = tempfile::tempdir().unwrap();
    let _ext = start_rest_ext(&platform, config.path(), &[]).await;
    platform.wait_route("rest", "/items/1", &token).await;

    // Through the gateway the caller is verified; keep that request's headers to replay them.
    let through = platform.rest_get("rest", "/items/1", &token).await.json();
    assert_eq!(through["verified_caller"], key_id_of(&token), "{through}");

    let key = platform.exchange(&token).await;
    assert!(
        key.caller_signing_key
            .as_deref()
            .is_some_and(|k| k.starts_with('N')),
        "the exchange names the platform's caller-signing key: {key:?}"
    );
    let conn = KeyConn::connect(key).await;
    let ask = |headers: async_nats::HeaderMap, body: &str| {
        let body = bytes::Bytes::from(body.to_owned());
        let client = conn.client.clone();
        async move {
            let reply = client
                .request_with_headers("cirata.extensions.rest.get_item", headers, body)
                .await
                .expect("the endpoint answers");
            serde_json::from_slice::<Value>(&reply.payload).expect("a JSON reply")
        }
    };
    // A forged caller without a signature, with a made-up one, and with a real signature of another
    // request (another caller, another body): none is verified; the raw header is whatever was sent.
    let now = symphony_protocol::time::now_unix();
    let mut forged = async_nats::HeaderMap::new();
    forged.insert("Symphony-Caller", "user:admin");
    let seen = ask(forged.clone(), "").await;
    assert_eq!(seen["caller"], "user:admin", "{seen}");
    assert_eq!(seen["verified_caller"], Value::Null, "{seen}");
    forged.insert(
        "Symphony-Caller-Signature",
        format!("v1.{now}.AAAA").as_str(),
    );
    assert_eq!(ask(forged, "").await["verified_caller"], Value::Null);

    // The gateway's genuine signature, replayed for another caller, another payload or another
    // endpoint, is refused: it binds all three.
    let genuine = through["caller_signature"].as_str().unwrap().to_owned();
    for (caller, body) in [
        ("user:admin", ""),
        (key_id_of(&token).as_str(), "{\"x\":1}"),
    ] {
        let mut replayed = async_nats::HeaderMap::new();
        replayed.insert("Symphony-Caller", caller);
        replayed.insert("Symphony-Caller-Signature", genuine.as_str());
        let seen = ask(replayed, body).await;
        assert_eq!(
            seen["verified_caller"],
            Value::Null,
            "{caller} {body}: {seen}"
        );
    }
    // A signature made with a key that is not the platform's.
    let impostor = nkeys::KeyPair::new_server();
    let signature = symphony_protocol::caller::sign(
        &impostor,
        "cirata.extensions.rest.get_item",
        "user:admin",
        now,
        b"",
    )
    .unwrap();
    let mut signed = async_nats::HeaderMap::new();
    signed.insert("Symphony-Caller", "user:admin");
    signed.insert("Symphony-Caller-Signature", signature.as_str());
    let seen = ask(signed, "").await;
    assert_eq!(
        seen["verified_caller"],
        Value::Null,
        "a signature by another key is refused: {seen}"
    );
}

/// A user sees in the aggregated document only the extensions their roles show.
#[tokio::test]
async fn openapi_json_shows_a_user_only_the_extensions_of_their_roles() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let admin = platform.login_admin().await;
    let token = client_key(&platform, "rest").await;
    let config = tempfile::tempdir().unwrap();
    let _ext = start_rest_ext(&platform, config.path(), &[]).await;
    platform.wait_route("rest", "/items/1", &token).await;
    let role = json!({"name": "catalog-only", "description": "the catalog only", "pub": [],
                      "sub": [], "extensions": ["catalog"], "admin": false});
    let reply = platform.put_role(&admin.token, "catalog-only", &role).await;
    assert_eq!(reply.status, 200, "{reply}");
    let user = platform
        .add_user(&admin.token, "cora", &["catalog-only"])
        .await;
    let rest_path = "/api/v1/extension/rest/items/{id}";
    let for_admin = platform.openapi(&admin.token).await.json();
    assert!(for_admin["paths"][rest_path].is_object(), "{for_admin}");
    let for_user = platform.openapi(&user.token).await;
    assert_eq!(for_user.status, 200, "{for_user}");
    let for_user = for_user.json();
    assert!(
        for_user["paths"][rest_path].is_null(),
        "{}",
        for_user["paths"]
    );
    assert!(for_user["paths"]["/api/v1/ping"].is_object());
}

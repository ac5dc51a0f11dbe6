//! Extension UI with least privilege (docs/ui.md "Trust", docs/security.md "Extension UI"): the scoped
//! bearer of `POST /api/v1/usertoken/scoped` reaches only its own extension's gateway routes (on the
//! shell's listener and on the UI sandbox listener), within the user's roles, and ends with the session;
//! every other API refuses it; its NATS credentials reach only the extension's subjects; the sandbox
//! listener serves no shell, no platform API and no cookie; and gateway responses carry
//! `Content-Security-Policy: sandbox` and only the headers an extension may set. With two copies of the
//! real `rest-ext` fixture (prefixes `rest` and `rest2`).

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};
use symphony_protocol::ErrorCode;
use symphony_protocol::rest::ScopedToken;
use symphony_tests::extension::Extension;
use symphony_tests::users::{
    ADMIN_PASSWORD, Session, UserToken, assert_unauthorized, connect_browser, parse, says_revoked,
    wait_disconnected,
};
use symphony_tests::{Platform, PlatformOptions, RestReply, bins};

/// A 401 for a credential whose session has ended.
const ENDED: &[ErrorCode] = &[ErrorCode::InvalidToken, ErrorCode::SessionExpired];

async fn start_rest_ext(platform: &Platform, config_dir: &Path, prefix: &str) -> Extension {
    let registration = platform.token_create_registration().await;
    Extension::spawn(
        &bins::rest_ext(),
        config_dir,
        &[
            ("REGISTRATION_TOKEN", registration.as_str()),
            ("REST_EXT_PREFIX", prefix),
        ],
    )
}

/// `http://127.0.0.1:<ui sandbox port>`: the UI sandbox listener (`ports.json`).
fn sandbox_url(platform: &Platform) -> String {
    assert_ne!(
        platform.ports.ui_sandbox, 0,
        "ports.json names the UI sandbox listener"
    );
    format!("http://127.0.0.1:{}", platform.ports.ui_sandbox)
}

/// `POST /api/v1/usertoken/scoped {"prefix"}` as `bearer`, raw.
async fn scoped_reply(platform: &Platform, bearer: &str, prefix: &str) -> RestReply {
    platform
        .call(
            Method::POST,
            "/usertoken/scoped",
            Some(bearer),
            Some(&json!({ "prefix": prefix })),
        )
        .await
}

async fn scoped(platform: &Platform, session: &Session, prefix: &str) -> ScopedToken {
    let reply = scoped_reply(platform, &session.token, prefix).await;
    assert_eq!(reply.status, 200, "{reply}");
    parse(&reply, "scoped token")
}

/// A request to `<base><path>` with `Authorization: Bearer <bearer>` (and more headers).
async fn call_at(
    platform: &Platform,
    method: Method,
    base: &str,
    path: &str,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
) -> RestReply {
    let mut req = platform.http().request(method, format!("{base}{path}"));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    platform.send(req).await
}

/// Every authenticated platform route that is not the gateway: none may accept a scoped bearer.
fn platform_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/userinfo", None),
        (Method::GET, "/usertoken", None),
        (
            Method::POST,
            "/usertoken/scoped",
            Some(json!({"prefix": "rest"})),
        ),
        (Method::POST, "/logout", None),
        (Method::GET, "/extensions/all", None),
        (Method::GET, "/extensions/rest", None),
        (Method::GET, "/extensions/rest/account", None),
        (
            Method::PUT,
            "/extensions/rest/limits",
            Some(json!({"disk_storage": 1})),
        ),
        (Method::GET, "/keys", None),
        (
            Method::POST,
            "/keys",
            Some(json!({"name": "stolen", "capabilities": ["pub:extensions.rest.>"]})),
        ),
        (
            Method::PUT,
            "/key/aaaaaaaaaaaaaaaaaaaaaaaaaa",
            Some(json!({})),
        ),
        (Method::DELETE, "/key/aaaaaaaaaaaaaaaaaaaaaaaaaa", None),
        (Method::GET, "/users", None),
        (
            Method::POST,
            "/users",
            Some(
                json!({"username": "mallory", "password": "a long enough password", "roles": ["symphony-admin"]}),
            ),
        ),
        (
            Method::PUT,
            "/users/admin",
            Some(json!({"password": "a long enough password"})),
        ),
        (Method::DELETE, "/users/admin", None),
        (Method::GET, "/roles", None),
        (
            Method::PUT,
            "/roles/mallory",
            Some(json!({"name": "mallory", "admin": true})),
        ),
        (Method::DELETE, "/roles/viewer", None),
        (Method::GET, "/audit", None),
        (Method::GET, "/ui/module/rest/page", None),
    ]
}

fn as_user_token(t: &ScopedToken) -> UserToken {
    UserToken {
        token: t.token.clone(),
        jwt: t.jwt.clone(),
        seed: t.seed.clone(),
        websocket_url: t.websocket_url.clone(),
        inbox_prefix: t.inbox_prefix.clone(),
        expires_at: t.expires_at.clone(),
        renew_after_secs: t.renew_after_secs,
    }
}

#[tokio::test]
async fn a_scoped_bearer_reaches_its_own_extension_only_and_ends_with_the_session() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let sandbox = sandbox_url(&platform);
    let admin = platform.login_admin().await;
    let configs = tempfile::tempdir().unwrap();
    let _rest = start_rest_ext(&platform, &configs.path().join("rest"), "rest").await;
    let _rest2 = start_rest_ext(&platform, &configs.path().join("rest2"), "rest2").await;
    platform.wait_route("rest", "/json", &admin.token).await;
    platform.wait_route("rest2", "/json", &admin.token).await;

    // Minted by the session (bearer or cookie) for an extension the user sees.
    let frame = scoped(&platform, &admin, "rest").await;
    assert_eq!(frame.prefix, "rest");
    assert!(frame.inbox_prefix.starts_with("_INBOX_ui."), "{frame:?}");
    assert!(frame.renew_after_secs <= 15 * 60, "{frame:?}");
    let by_cookie = platform
        .send(
            platform
                .http()
                .post(platform.api_url("/usertoken/scoped"))
                .header("cookie", admin.cookie())
                .json(&json!({"prefix": "rest"})),
        )
        .await;
    assert_eq!(by_cookie.status, 200, "{by_cookie}");
    // … but not for an extension that does not exist, nor by a scoped token or an API key.
    scoped_reply(&platform, &admin.token, "nosuch")
        .await
        .assert_error(404, ErrorCode::ExtensionNotFound);
    scoped_reply(&platform, &admin.token, "Not A Prefix")
        .await
        .assert_error(400, ErrorCode::InvalidPrefix);
    scoped_reply(&platform, &frame.token, "rest")
        .await
        .assert_error(403, ErrorCode::ScopedToken);
    let key = platform
        .key_create_with(&[
            "--prefix",
            "rest",
            "--name",
            "client",
            "--capability",
            "pub:extensions.rest.>",
        ])
        .await;
    scoped_reply(&platform, &key, "rest")
        .await
        .assert_error(403, ErrorCode::WrongTokenKind);

    // Its own extension's routes, on the shell's listener and on the sandbox listener, as the user.
    for base in [platform.http_url(), sandbox.clone()] {
        let own = call_at(
            &platform,
            Method::GET,
            &base,
            "/api/v1/extension/rest/items/1",
            Some(&frame.token),
            &[],
        )
        .await;
        assert_eq!(own.status, 200, "{base}: {own}");
        assert_eq!(own.json()["caller"], "user:admin", "{base}: {own}");
        // Another extension's routes refuse it, before any routing.
        for other in ["/api/v1/extension/rest2/json", "/api/v1/extension/nosuch/x"] {
            call_at(
                &platform,
                Method::GET,
                &base,
                other,
                Some(&frame.token),
                &[],
            )
            .await
            .assert_error(403, ErrorCode::ScopedToken);
        }
    }

    // Every other API refuses it, as a bearer and as a cookie.
    for (method, path, body) in platform_routes() {
        let reply = platform
            .call(method.clone(), path, Some(&frame.token), body.as_ref())
            .await;
        reply.assert_error(403, ErrorCode::ScopedToken);
        let mut req = platform
            .http()
            .request(method.clone(), platform.api_url(path))
            .header("cookie", format!("symphony_session={}", frame.token));
        if let Some(b) = &body {
            req = req.json(b);
        }
        platform
            .send(req)
            .await
            .assert_error(403, ErrorCode::ScopedToken);
    }
    let exchange = platform
        .call(Method::GET, "/apikey", Some(&frame.token), None)
        .await;
    assert_eq!(exchange.status, 401, "the API-key exchange: {exchange}");

    // Bounded by the user's roles: a viewer's frame token may not call an endpoint the viewer may not.
    let vik = platform.add_user(&admin.token, "vik", &["viewer"]).await;
    let viewer_frame = scoped(&platform, &vik, "rest").await;
    call_at(
        &platform,
        Method::GET,
        &sandbox,
        "/api/v1/extension/rest/json",
        Some(&viewer_frame.token),
        &[],
    )
    .await
    .assert_error(403, ErrorCode::Forbidden);
    // A user whose roles do not show the extension gets no token for it.
    let role =
        json!({"name": "rest2-only", "pub": ["extensions.rest2.>"], "extensions": ["rest2"]});
    let put = platform.put_role(&admin.token, "rest2-only", &role).await;
    assert!(put.status < 300, "{put}");
    let rita = platform
        .add_user(&admin.token, "rita", &["rest2-only"])
        .await;
    scoped_reply(&platform, &rita.token, "rest")
        .await
        .assert_error(404, ErrorCode::ExtensionNotFound);

    // The NATS credentials: the extension's subjects, within the user's roles, and the frame's own inbox.
    let mut nc = connect_browser(&admin, &as_user_token(&frame))
        .await
        .expect("the frame's credentials connect over the WebSocket");
    let answered: Value = nc
        .request_json("cirata.extensions.rest.json", &json!({}))
        .await
        .expect("its own endpoint answers");
    assert_eq!(answered, json!({"ok": true}));
    nc.assert_publish_denied("cirata.extensions.rest2.json")
        .await;
    nc.assert_publish_denied("cirata.symphony.registry.list")
        .await;
    nc.assert_subscribe_allowed("extensions.rest.events").await;
    nc.assert_subscribe_denied("extensions.rest2.events").await;
    nc.assert_subscribe_denied(&format!("_INBOX_user.{}.>", admin.id()))
        .await;

    // Logout ends it: both listeners refuse the bearer, nats-server drops the connection.
    let out = platform
        .call(Method::POST, "/logout", Some(&admin.token), None)
        .await;
    assert_eq!(out.status, 204, "{out}");
    for base in [platform.http_url(), sandbox.clone()] {
        let reply = call_at(
            &platform,
            Method::GET,
            &base,
            "/api/v1/extension/rest/json",
            Some(&frame.token),
            &[],
        )
        .await;
        assert_unauthorized(&reply, ENDED, &format!("{base} after logout"));
    }
    let errors = wait_disconnected(&mut nc, "the frame's NATS connection after logout").await;
    assert!(says_revoked(&errors), "{errors:?}");
}

#[tokio::test]
async fn the_sandbox_listener_serves_frames_and_scoped_gateway_calls_only() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let sandbox = sandbox_url(&platform);
    let admin = platform.login_admin().await;
    let configs = tempfile::tempdir().unwrap();
    let _rest = start_rest_ext(&platform, &configs.path().join("rest"), "rest").await;
    platform.wait_route("rest", "/json", &admin.token).await;
    let frame = scoped(&platform, &admin, "rest").await;

    // symphonyinfo names the sandbox origin; it is not the shell's.
    let info: Value = platform.get_raw("/api/v1/symphonyinfo").await.json();
    let origin = info["ui_sandbox_origin"]
        .as_str()
        .expect("ui_sandbox_origin");
    assert_eq!(origin, platform.ports.ui_sandbox_url.as_deref().unwrap());
    assert_ne!(origin, info["origin"].as_str().unwrap());

    // No shell and no platform API there, whatever the credential.
    for path in [
        "/",
        "/catalog",
        "/api/v1/userinfo",
        "/api/v1/users",
        "/api/v1/usertoken",
        "/api/v1/login",
    ] {
        for bearer in [Some(admin.token.as_str()), Some(frame.token.as_str()), None] {
            let reply = call_at(
                &platform,
                Method::GET,
                &sandbox,
                path,
                bearer,
                &[("accept", "text/html")],
            )
            .await;
            assert_eq!(reply.status, 404, "{path}: {reply}");
            assert!(reply.header("set-cookie").is_empty(), "{path}: {reply:?}");
        }
    }
    // The session (cookie or bearer) opens no gateway route there: only a scoped token does.
    call_at(
        &platform,
        Method::GET,
        &sandbox,
        "/api/v1/extension/rest/json",
        None,
        &[("cookie", &admin.cookie())],
    )
    .await
    .assert_error(401, ErrorCode::MissingToken);
    call_at(
        &platform,
        Method::GET,
        &sandbox,
        "/api/v1/extension/rest/json",
        Some(&admin.token),
        &[],
    )
    .await
    .assert_error(403, ErrorCode::WrongTokenKind);

    // CORS for frames (Origin: null), never with credentials.
    let preflight = call_at(
        &platform,
        Method::OPTIONS,
        &sandbox,
        "/api/v1/extension/rest/items",
        None,
        &[
            ("origin", "null"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization,content-type,hx-request",
            ),
        ],
    )
    .await;
    assert_eq!(preflight.status, 204, "{preflight}");
    assert_eq!(preflight.header("access-control-allow-origin"), "*");
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        "authorization,content-type,hx-request"
    );
    assert!(
        preflight
            .header("access-control-allow-credentials")
            .is_empty()
    );
    let own = call_at(
        &platform,
        Method::GET,
        &sandbox,
        "/api/v1/extension/rest/json",
        Some(&frame.token),
        &[("origin", "null")],
    )
    .await;
    assert_eq!(own.status, 200, "{own}");
    assert_eq!(own.header("access-control-allow-origin"), "*");
    assert!(own.header("access-control-allow-credentials").is_empty());

    // The frame document: an opaque origin of its own, embeddable by the shell, connecting to this
    // origin and the NATS WebSocket only.
    let doc = call_at(&platform, Method::GET, &sandbox, "/frame", None, &[]).await;
    assert_eq!(doc.status, 200, "{doc}");
    let csp = doc.header("content-security-policy");
    assert!(
        csp.starts_with("sandbox allow-scripts allow-forms allow-popups;"),
        "{csp}"
    );
    assert!(!csp.contains("allow-same-origin"), "{csp}");
    assert!(
        csp.contains(&format!("frame-ancestors http://*:{}", platform.ports.http)),
        "{csp}"
    );
    let ws = info["websocket_url"].as_str().unwrap();
    assert!(
        csp.contains(&format!("connect-src 'self' {origin} {ws};")),
        "{csp}"
    );
    // The vendored files frames import, with CORS (module scripts of an opaque origin).
    let bridge = call_at(
        &platform,
        Method::GET,
        &sandbox,
        "/vendor/symphony-bridge.js",
        None,
        &[],
    )
    .await;
    assert_eq!(bridge.status, 200, "{bridge}");
    assert_eq!(bridge.header("access-control-allow-origin"), "*");

    // Sandboxed JSX modules: the scoped token in the path (module imports send no header).
    let module = call_at(
        &platform,
        Method::GET,
        &sandbox,
        &format!("/ui/module/{}/rest/nosuch", frame.token),
        None,
        &[],
    )
    .await;
    module.assert_error(404, ErrorCode::ResourceNotFound);
    let forged = call_at(
        &platform,
        Method::GET,
        &sandbox,
        &format!("/ui/module/{}/rest/nosuch", admin.token),
        None,
        &[],
    )
    .await;
    forged.assert_error(403, ErrorCode::WrongTokenKind);
}

#[tokio::test]
async fn gateway_responses_carry_the_sandbox_and_only_the_headers_an_extension_may_set() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let sandbox = sandbox_url(&platform);
    let admin = platform.login_admin().await;
    let configs = tempfile::tempdir().unwrap();
    let _rest = start_rest_ext(&platform, &configs.path().join("rest"), "rest").await;
    platform.wait_route("rest", "/headers", &admin.token).await;
    let frame = scoped(&platform, &admin, "rest").await;

    for (base, bearer) in [
        (platform.http_url(), admin.token.as_str()),
        (sandbox.clone(), frame.token.as_str()),
    ] {
        let r = call_at(
            &platform,
            Method::GET,
            &base,
            "/api/v1/extension/rest/headers",
            Some(bearer),
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{base}: {r}");
        assert_eq!(r.text(), r#"<p id="headers">headers</p>"#);
        // Extension HTML opened as a page runs sandboxed: an opaque origin, no cookies, no storage.
        assert_eq!(
            r.header("content-security-policy"),
            "sandbox allow-scripts allow-forms allow-popups",
            "{base}"
        );
        assert_eq!(r.header("x-content-type-options"), "nosniff");
        // Dropped: cookies, CORS, policies, redirects elsewhere, proxy instructions.
        for dropped in [
            "set-cookie",
            "access-control-allow-credentials",
            "location",
            "x-frame-options",
            "x-accel-redirect",
        ] {
            assert!(
                r.header(dropped).is_empty(),
                "{base}: {dropped} passed: {r:?}"
            );
        }
        assert_ne!(
            r.header("access-control-allow-origin"),
            "https://evil.example",
            "{base}"
        );
        // Kept: what an extension may set.
        assert_eq!(r.header("cache-control"), "no-store", "{base}");
        assert_eq!(r.header("content-disposition"), "inline", "{base}");
        assert_eq!(r.header("x-item"), "kept", "{base}");
    }
    // On the shell's listener no CORS header at all.
    let r = platform.rest_get("rest", "/headers", &admin.token).await;
    assert!(r.header("access-control-allow-origin").is_empty(), "{r:?}");

    // Every gateway response carries the sandbox: JSON, text, and the gateway's own errors.
    for path in ["/json", "/text", "/nosuch"] {
        let r = platform.rest_get("rest", path, &admin.token).await;
        assert_eq!(
            r.header("content-security-policy"),
            "sandbox allow-scripts allow-forms allow-popups",
            "{path}: {r:?}"
        );
    }
}

//! The plain HTTP API (docs/protocol.md §2), and the extension views (§5.4): many extensions on
//! every request, revalidation by ETag, a registration visible at once, a status expiring by TTL.

use std::collections::BTreeSet;

use reqwest::header;
use serde_json::json;
use symphony_protocol::messages::{
    ExtensionState, ExtensionView, InstanceState, RegisterReply, SymphonyInfo,
};
use symphony_protocol::{ErrorCode, Token};
use symphony_tests::platform::summarize;
use symphony_tests::users::ADMIN_PASSWORD;
use symphony_tests::{
    DEFAULT_DEADLINE, KeyConn, Platform, PlatformOptions, error_body, eventually, manifest,
};

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
        .request_json(&conn.register_subject(), &manifest::minimal("Web", "web"))
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

/// An extension registered straight over NATS (no SDK) with an API key the admin created, and
/// one status published as its instance. Keep it alive: dropping the connection makes the server
/// mark the instance `disconnected` (§5.3).
struct Direct {
    prefix: String,
    id: String,
    conn: KeyConn,
}

/// Creates a key bound to `prefix` as `admin`, connects as it and registers `manifest`.
async fn register_direct(
    platform: &Platform,
    admin: &str,
    prefix: &str,
    manifest: &serde_json::Value,
) -> Direct {
    let key = platform
        .create_key(
            admin,
            &json!({"name": format!("Ext {prefix}"), "prefix": prefix,
                    "capabilities": [format!("sub:extensions.{prefix}.>")]}),
        )
        .await;
    let conn = platform.connect_as(&key.token).await;
    let reply: RegisterReply = conn
        .request_json(&conn.register_subject(), manifest)
        .await
        .unwrap_or_else(|e| panic!("register {prefix}: {e:?}"));
    assert_eq!(reply.prefix, prefix);
    Direct {
        prefix: prefix.to_owned(),
        id: key.id.to_string(),
        conn,
    }
}

impl Direct {
    /// Publishes an `ok` status for this instance through JetStream (as an SDK's heartbeat does).
    async fn publish_ok(&self) {
        let instance = self.conn.instance_id();
        let status = json!({
            "v": 1, "prefix": self.prefix, "instance_id": instance, "key_id": self.id,
            "name": format!("Ext {}", self.prefix),
            "state": "ok", "started_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        });
        async_nats::jetstream::new(self.conn.client.clone())
            .publish(
                format!("$KV.symphony_status.{}.{instance}", self.prefix),
                serde_json::to_vec(&status).unwrap().into(),
            )
            .await
            .expect("publish a status")
            .await
            .expect("JetStream stores the status");
    }
}

/// `GET /api/v1<path>` as `token` with optional `If-None-Match`.
async fn get_views(
    platform: &Platform,
    path: &str,
    token: &str,
    if_none_match: Option<&str>,
) -> reqwest::Response {
    let mut req = platform
        .http()
        .get(platform.api_url(path))
        .bearer_auth(token);
    if let Some(tag) = if_none_match {
        req = req.header(header::IF_NONE_MATCH, tag);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", platform.logs(20)))
}

fn header_of(resp: &reqwest::Response, name: header::HeaderName) -> String {
    resp.headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header: {:?}", resp.headers()))
        .to_owned()
}

/// The views in a 200 reply, panicking with the whole reply otherwise.
async fn views_of(resp: reqwest::Response, what: &str) -> Vec<ExtensionView> {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{what}: {body}");
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{what}: not [ExtensionView] ({e}): {body}"))
}

#[tokio::test]
async fn many_extensions_are_listed_on_every_request_and_revalidate_by_etag() {
    const COUNT: usize = 30;
    let platform = Platform::start(
        PlatformOptions::default()
            .heartbeat("1h")
            .status_ttl("2h")
            .admin_password(ADMIN_PASSWORD),
    )
    .await;
    let admin = platform.login_admin().await.token;
    let mut exts = Vec::new();
    for n in 0..COUNT {
        let prefix = format!("many{n:02}");
        let ext = register_direct(
            &platform,
            &admin,
            &prefix,
            &manifest::minimal(&format!("Ext {prefix}"), &prefix),
        )
        .await;
        ext.publish_ok().await;
        exts.push(ext);
    }
    let expected: BTreeSet<String> = exts.iter().map(|e| e.prefix.clone()).collect();
    let all_ok = |views: &[ExtensionView]| -> anyhow::Result<()> {
        let listed: BTreeSet<String> = views.iter().map(|v| v.prefix.clone()).collect();
        anyhow::ensure!(listed == expected, "listed {listed:?}");
        for v in views {
            anyhow::ensure!(
                v.state == ExtensionState::Ok && v.instances.len() == 1,
                "{}",
                summarize(v)
            );
        }
        Ok(())
    };
    eventually("every extension OK", DEFAULT_DEADLINE, || async {
        let views = views_of(
            get_views(&platform, "/extensions/all", &admin, None).await,
            "all",
        )
        .await;
        all_ok(&views)
    })
    .await;

    // Back to back, every request answers the whole list.
    for n in 0..40 {
        let views = views_of(
            get_views(&platform, "/extensions/all", &admin, None).await,
            &format!("request {n}"),
        )
        .await;
        all_ok(&views).unwrap_or_else(|e| panic!("request {n}: {e:#}"));
    }

    // A strong ETag over the body; the same tag back is a 304 without a body.
    let first = get_views(&platform, "/extensions/all", &admin, None).await;
    let etag = header_of(&first, header::ETAG);
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
        "{etag}"
    );
    assert_eq!(
        header_of(&first, header::CACHE_CONTROL),
        "private, no-cache"
    );
    let vary = header_of(&first, header::VARY).to_lowercase();
    assert!(
        vary.contains("cookie") && vary.contains("authorization"),
        "{vary}"
    );
    views_of(first, "first").await;
    for tag in [etag.clone(), format!("\"x\", {etag}"), format!("W/{etag}")] {
        let again = get_views(&platform, "/extensions/all", &admin, Some(&tag)).await;
        assert_eq!(again.status(), 304, "If-None-Match: {tag}");
        assert_eq!(header_of(&again, header::ETAG), etag);
        assert_eq!(
            header_of(&again, header::CACHE_CONTROL),
            "private, no-cache"
        );
        assert!(again.bytes().await.unwrap().is_empty(), "a 304 has no body");
    }
    let other = get_views(&platform, "/extensions/all", &admin, Some("\"other\"")).await;
    assert_eq!(other.status(), 200);
    assert_eq!(header_of(&other, header::ETAG), etag, "same body, same tag");

    // One extension's view revalidates the same way.
    let one = get_views(&platform, "/extensions/many07", &admin, None).await;
    assert_eq!(one.status(), 200);
    let one_tag = header_of(&one, header::ETAG);
    assert_ne!(one_tag, etag);
    let one_again = get_views(&platform, "/extensions/many07", &admin, Some(&one_tag)).await;
    assert_eq!(one_again.status(), 304);

    // A registration changes the list: the old tag no longer matches.
    let late = register_direct(
        &platform,
        &admin,
        "late",
        &manifest::minimal("Ext late", "late"),
    )
    .await;
    let changed = get_views(&platform, "/extensions/all", &admin, Some(&etag)).await;
    assert_eq!(changed.status(), 200, "the list changed");
    assert_ne!(header_of(&changed, header::ETAG), etag);
    let views = views_of(changed, "after a registration").await;
    assert_eq!(views.len(), COUNT + 1);
    drop(late);
    drop(exts);
}

#[tokio::test]
async fn a_registration_shows_in_the_views_as_soon_as_it_is_answered() {
    let platform = Platform::start(
        PlatformOptions::default()
            .heartbeat("1h")
            .status_ttl("2h")
            .admin_password(ADMIN_PASSWORD),
    )
    .await;
    let admin = platform.login_admin().await.token;
    // Some extensions first, so the registry already has a history.
    let mut others = Vec::new();
    for prefix in ["first", "second"] {
        others.push(
            register_direct(&platform, &admin, prefix, &manifest::minimal("Ext", prefix)).await,
        );
    }
    let mut m = manifest::minimal("Ext fresh", "fresh");
    let ext = register_direct(&platform, &admin, "fresh", &m).await;
    // No polling: the reply means the view has it.
    let one = platform.extension_http("fresh", &admin).await;
    assert_eq!(one.description, "Ext fresh (symphony-tests)");
    assert_eq!(one.state, ExtensionState::Inactive, "no status yet");
    let all = views_of(
        get_views(&platform, "/extensions/all", &admin, None).await,
        "all",
    )
    .await;
    let listed: Vec<&str> = all.iter().map(|v| v.prefix.as_str()).collect();
    assert_eq!(listed, ["first", "fresh", "second"], "by prefix");

    // A new registration of the same prefix replaces the record at once too.
    for round in 1..=3 {
        m["description"] = format!("round {round}").into();
        let reply: RegisterReply = ext
            .conn
            .request_json(&ext.conn.register_subject(), &m)
            .await
            .expect("register again");
        assert_eq!(reply.prefix, "fresh");
        assert_eq!(
            platform.extension_http("fresh", &admin).await.description,
            format!("round {round}")
        );
        let all = views_of(
            get_views(&platform, "/extensions/all", &admin, None).await,
            "all",
        )
        .await;
        let fresh = all
            .iter()
            .find(|v| v.prefix == "fresh")
            .expect("fresh listed");
        assert_eq!(fresh.description, format!("round {round}"));
        assert_eq!(fresh.registered_at, one.registered_at, "registered once");
    }
    drop(others);
}

#[tokio::test]
async fn an_expired_status_makes_the_extension_inactive_without_a_write() {
    // Heartbeat 2 s, status TTL 10 s: the status below is renewed by nobody.
    let platform = Platform::start(
        PlatformOptions::default()
            .heartbeat("2s")
            .status_ttl("10s")
            .admin_password(ADMIN_PASSWORD),
    )
    .await;
    let admin = platform.login_admin().await.token;
    let ext = register_direct(
        &platform,
        &admin,
        "ttl",
        &manifest::minimal("Ext ttl", "ttl"),
    )
    .await;
    ext.publish_ok().await;
    eventually(
        "ttl's instance listed and counted",
        DEFAULT_DEADLINE,
        || async {
            let view = platform.extension_http("ttl", &admin).await;
            anyhow::ensure!(
                view.instances.len() == 1 && view.instances[0].state == InstanceState::Ok,
                "{}",
                summarize(&view)
            );
            anyhow::ensure!(
                view.state != ExtensionState::Inactive,
                "{}",
                summarize(&view)
            );
            let key = platform
                .key_view(&admin, &ext.id)
                .await
                .expect("the key is listed");
            anyhow::ensure!(key.connected_instances == 1, "{key:?}");
            Ok(())
        },
    )
    .await;

    // Nothing writes the status again and the instance stays connected (no advisory either):
    // only the bucket's max age can end it. Gone, not marked `disconnected`.
    let view = eventually(
        "ttl Inactive once its status expired",
        DEFAULT_DEADLINE,
        || async {
            let views = views_of(
                get_views(&platform, "/extensions/all", &admin, None).await,
                "all",
            )
            .await;
            let view = views
                .into_iter()
                .find(|v| v.prefix == "ttl")
                .ok_or_else(|| anyhow::anyhow!("ttl is not listed"))?;
            anyhow::ensure!(
                view.state == ExtensionState::Inactive && view.instances.is_empty(),
                "{}",
                summarize(&view)
            );
            Ok(view)
        },
    )
    .await;
    assert_eq!(view.message, None, "{}", summarize(&view));
    let one = platform.extension_http("ttl", &admin).await;
    assert_eq!(one.state, ExtensionState::Inactive);
    assert!(one.instances.is_empty());
    let key = platform
        .key_view(&admin, &ext.id)
        .await
        .expect("the key is listed");
    assert_eq!(key.connected_instances, 0, "{key:?}");
    drop(ext);
}

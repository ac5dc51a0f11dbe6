//! Roles bound what a signed-in user may do, over REST and over NATS: the API keys and
//! registration tokens the user creates (and what an extension may provision with such a token),
//! gateway calls with the user's session, the browser's NATS credentials, administration, and
//! which extensions the user sees. Built-in roles `viewer`, `developer`, `symphony-admin` and a
//! custom role `catalog-user` (publish `extensions.catalog.list`, shows only `catalog`), with the
//! real Rust `catalog` example.

use reqwest::Method;
use serde_json::{Value, json};
use symphony_protocol::messages::{KeyKind, ProvisionReply, RegisterReply};
use symphony_protocol::{ErrorCode, Token, subjects};
use symphony_tests::extension::Extension;
use symphony_tests::users::{ADMIN_PASSWORD, Session, USER_PASSWORD, connect_browser};
use symphony_tests::{KeyConn, Platform, PlatformOptions, bins, manifest};

const CATALOG_USER: &str = "catalog-user";

fn catalog_user_role(publish: &[&str]) -> Value {
    json!({
        "name": CATALOG_USER,
        "description": "Lists the catalog",
        "pub": publish,
        "sub": [],
        "extensions": ["catalog"],
        "admin": false
    })
}

/// One server, its administrator and one signed-in user per role.
struct World {
    platform: Platform,
    admin: Session,
    viewer: Session,
    developer: Session,
    custom: Session,
}

impl World {
    async fn start() -> World {
        let platform =
            Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
        let admin = platform.login_admin().await;
        assert_eq!(admin.roles, ["symphony-admin"]);
        let role = platform
            .put_role(
                &admin.token,
                CATALOG_USER,
                &catalog_user_role(&["extensions.catalog.list"]),
            )
            .await;
        assert_eq!(role.status, 200, "PUT /roles/{CATALOG_USER}: {role}");
        assert_eq!(role.json()["builtin"], false, "{role}");
        let viewer = platform.add_user(&admin.token, "vera", &["viewer"]).await;
        let developer = platform
            .add_user(&admin.token, "devon", &["developer"])
            .await;
        let custom = platform
            .add_user(&admin.token, "cara", &[CATALOG_USER])
            .await;
        World {
            platform,
            admin,
            viewer,
            developer,
            custom,
        }
    }

    fn non_admins(&self) -> [&Session; 3] {
        [&self.viewer, &self.developer, &self.custom]
    }
}

/// The capabilities of the API key `token` (from the exchange), as `kind:subject`.
async fn granted(platform: &Platform, token: &str) -> Vec<String> {
    let key = platform.exchange(token).await;
    assert_eq!(key.kind, KeyKind::ApiKey);
    let caps = &key.capabilities;
    caps.publish
        .allow
        .iter()
        .map(|s| format!("pub:{s}"))
        .chain(caps.subscribe.allow.iter().map(|s| format!("sub:{s}")))
        .collect()
}

/// (a) `POST /keys` and `PUT /key/{id}`: capabilities inside the creator's roles are granted,
/// anything outside is 403 `capability_forbidden` naming it, and nothing is created. Returns the
/// custom role's key (`pub:extensions.catalog.list`) and the viewer's key (`sub:…`).
async fn api_keys_lie_within_the_creators_roles(w: &World) -> (String, String) {
    let p = &w.platform;
    let allowed: [(&Session, Value); 6] = [
        (&w.viewer, json!(["sub:extensions.catalog.list"])),
        (
            &w.developer,
            json!([
                "pub:extensions.catalog.add",
                {"kind": "sub", "subject": "extensions.other.events"}
            ]),
        ),
        (&w.custom, json!(["pub:extensions.catalog.list"])),
        (
            &w.custom,
            json!([{"kind": "pub", "subject": "extensions.catalog.list", "description": "JSON form"}]),
        ),
        (&w.admin, json!(["pub:extensions.catalog.add"])),
        (&w.admin, json!(["pub:extensions.anything.at.all"])),
    ];
    let mut tokens = Vec::new();
    for (i, (who, caps)) in allowed.iter().enumerate() {
        let name = format!("allowed-{i}");
        let key = p
            .create_key(&who.token, &json!({"name": name, "capabilities": caps}))
            .await;
        assert_eq!(key.kind, KeyKind::ApiKey, "{key:?}");
        assert_eq!(key.name, name);
        assert!(
            key.expires_at.is_none(),
            "an API key does not expire by default: {key:?}"
        );
        let granted = granted(p, &key.token).await;
        for cap in caps.as_array().unwrap() {
            let want = match cap {
                Value::String(s) => s.clone(),
                c => format!(
                    "{}:{}",
                    c["kind"].as_str().unwrap(),
                    c["subject"].as_str().unwrap()
                ),
            };
            assert!(
                granted.contains(&want),
                "{} created {want}; the key grants {granted:?}",
                who.username
            );
        }
        let listed = p
            .key_view(&who.token, key.id.as_str())
            .await
            .unwrap_or_else(|| panic!("{} does not list its own key {}", who.username, key.id));
        assert_eq!(listed.owner, who.username, "{listed:?}");
        assert_eq!(listed.kind, KeyKind::ApiKey);
        tokens.push(key.token);
    }

    // (who, capabilities, the refused capability as the message names it)
    let refused: [(&Session, Value, &str); 6] = [
        (
            &w.viewer,
            json!(["pub:extensions.catalog.list"]),
            "pub extensions.catalog.list",
        ),
        (
            &w.viewer,
            json!([{"kind": "pub", "subject": "extensions.catalog.add"}]),
            "pub extensions.catalog.add",
        ),
        (
            &w.custom,
            json!(["pub:extensions.catalog.add"]),
            "pub extensions.catalog.add",
        ),
        (
            &w.custom,
            json!(["sub:extensions.catalog.list"]),
            "sub extensions.catalog.list",
        ),
        // One capability outside the roles refuses the whole key.
        (
            &w.custom,
            json!(["pub:extensions.catalog.list", "pub:extensions.other.list"]),
            "pub extensions.other.list",
        ),
        // A wildcard does not widen a specific grant, even inside the key's own prefix.
        (
            &w.custom,
            json!(["pub:extensions.catalog.>"]),
            "pub extensions.catalog.>",
        ),
    ];
    for (i, (who, caps, named)) in refused.iter().enumerate() {
        let name = format!("refused-{i}");
        let mut body = json!({"name": name, "capabilities": caps});
        if named.ends_with('>') {
            body["prefix"] = json!("catalog");
        }
        let reply = p.create_key_reply(&who.token, &body).await;
        let e = reply.assert_error(403, ErrorCode::CapabilityForbidden);
        assert!(
            e.message.contains(named),
            "{}: the refusal names {named:?}: {reply}",
            who.username
        );
        assert!(
            !p.keys(&who.token).await.iter().any(|k| k.name == name),
            "a refused key must not be created"
        );
    }

    // The role-independent wildcard rule still holds for a developer (§4).
    p.create_key_reply(
        &w.developer.token,
        &json!({"name": "wild", "capabilities": ["pub:extensions.other.>"]}),
    )
    .await
    .assert_error(403, ErrorCode::CapabilityForbidden);

    // PUT /key/{id}: the owner may change notes, but not widen the key beyond the roles.
    let custom_key = key_id_of(&tokens[2]);
    let path = format!("/key/{custom_key}");
    let widened = p
        .call(
            Method::PUT,
            &path,
            Some(&w.custom.token),
            Some(&json!({"capabilities": ["pub:extensions.catalog.add"]})),
        )
        .await;
    let e = widened.assert_error(403, ErrorCode::CapabilityForbidden);
    assert!(
        e.message.contains("pub extensions.catalog.add"),
        "{widened}"
    );
    assert_eq!(
        granted(p, &tokens[2]).await,
        ["pub:extensions.catalog.list"],
        "a refused update changes nothing"
    );
    let noted = p
        .call(
            Method::PUT,
            &path,
            Some(&w.custom.token),
            Some(&json!({"notes": "for the catalog page"})),
        )
        .await;
    assert_eq!(noted.status, 200, "{noted}");
    assert_eq!(noted.json()["notes"], "for the catalog page", "{noted}");

    // Someone else's key is not found for a non-admin; the administrator sees every key.
    for other in [&w.viewer, &w.developer] {
        p.call(
            Method::PUT,
            &path,
            Some(&other.token),
            Some(&json!({"notes": "mine now"})),
        )
        .await
        .assert_error(404, ErrorCode::KeyNotFound);
        p.revoke_key(&other.token, &custom_key)
            .await
            .assert_error(404, ErrorCode::KeyNotFound);
        assert!(p.key_view(&other.token, &custom_key).await.is_none());
    }
    let seen_by_admin = p
        .key_view(&w.admin.token, &custom_key)
        .await
        .expect("the administrator lists every key");
    assert_eq!(seen_by_admin.owner, "cara");
    assert_eq!(seen_by_admin.notes, "for the catalog page");

    // The custom role's `pub:…list` key and the viewer's `sub:…list` key.
    (tokens[2].clone(), tokens[0].clone())
}

fn key_id_of(token: &str) -> String {
    symphony_tests::platform::key_id_of(token)
}

/// Sends a `ProvisionRequest` with the registration token `registration`.
async fn provision(
    platform: &Platform,
    registration: &str,
    name: &str,
    prefix: &str,
    capabilities: Value,
) -> Result<ProvisionReply, symphony_protocol::ErrorBody> {
    let key = platform.exchange(registration).await;
    assert_eq!(key.kind, KeyKind::Registration);
    let id = key.id.clone();
    let conn = KeyConn::connect(key).await;
    let request = json!({"v": 1, "name": name, "prefix": prefix, "capabilities": capabilities, "buckets": []});
    conn.request_json(&subjects::provision(&id), &request).await
}

/// (b) A registration token is bounded by its creator's roles when it is used: the real catalog
/// (which declares `sub extensions.catalog`, `….list`, `….add`) is refused with the custom role's
/// token and provisions with the viewer's; direct provisioning requests cover the rest. Returns the
/// running catalog, whose key the viewer owns.
async fn provisioning_lies_within_the_token_creators_roles(
    w: &World,
    configs: &std::path::Path,
) -> Extension {
    let p = &w.platform;

    // The custom role has no `sub`: the catalog's provisioning is refused and it exits.
    let token = p.create_registration(&w.custom.token, "catalog").await;
    assert!(
        token.expires_at.is_some(),
        "a registration token expires by default: {token:?}"
    );
    let mut refused =
        Extension::spawn_with_token(&bins::catalog(), &configs.join("refused"), &token.token);
    let status = refused.wait().await;
    let stderr = refused.stderr();
    assert!(
        !status.success(),
        "the catalog must fail to provision with cara's token:\n{stderr}"
    );
    assert!(
        stderr.contains("capability_forbidden") && stderr.contains("sub extensions.catalog"),
        "the catalog reports the refused capability:\n{stderr}"
    );
    // The refusal did not use the token up: provisioning within the role still succeeds.
    let denied = provision(
        p,
        &token.token,
        "Catalog",
        "catalog",
        json!([{"kind": "sub", "subject": "extensions.catalog.list"}]),
    )
    .await
    .expect_err("cara may not provision a subscription");
    assert_eq!(denied.code, ErrorCode::CapabilityForbidden, "{denied:?}");
    assert!(
        denied.message.contains("sub extensions.catalog.list"),
        "{denied:?}"
    );
    // Even within her capabilities, binding a key to the catalog's prefix would let her register the
    // catalog's manifest and use its buckets: that needs a role covering extensions.catalog.>.
    let bound = provision(
        p,
        &token.token,
        "Catalog",
        "catalog",
        json!([{"kind": "pub", "subject": "extensions.catalog.list"}]),
    )
    .await
    .expect_err("cara may not bind a key to the catalog's prefix");
    assert_eq!(bound.code, ErrorCode::CapabilityForbidden, "{bound:?}");
    assert!(
        bound.message.contains("prefix") && bound.message.contains("extensions.catalog.>"),
        "{bound:?}"
    );
    assert!(
        p.key_view(&w.custom.token, token.id.as_str())
            .await
            .is_some_and(|k| !k.used),
        "refused provisionings do not use the registration token up"
    );

    // Publishing to another extension's endpoint: refused for the viewer, fine for developer and admin.
    for (who, allowed) in [(&w.viewer, false), (&w.developer, true), (&w.admin, true)] {
        let registration = p.create_registration(&who.token, "prov").await;
        let prefix = format!("prov_{}", who.username);
        let result = provision(
            p,
            &registration.token,
            "Prov",
            &prefix,
            json!([{"kind": "pub", "subject": "extensions.catalog.add"}]),
        )
        .await;
        match (allowed, result) {
            (true, Ok(reply)) => {
                let key = p
                    .key_view(&who.token, reply.id.as_str())
                    .await
                    .unwrap_or_else(|| panic!("{} lists the provisioned key", who.username));
                assert_eq!(key.owner, who.username, "{key:?}");
            }
            (false, Err(e)) => {
                assert_eq!(e.code, ErrorCode::CapabilityForbidden, "{e:?}");
                assert!(e.message.contains("pub extensions.catalog.add"), "{e:?}");
            }
            (allowed, result) => panic!(
                "{}: provisioning pub extensions.catalog.add should be {}; got {result:?}",
                who.username,
                if allowed { "allowed" } else { "refused" }
            ),
        }
    }

    // The viewer's roles cover the catalog's subscriptions, but not its whole prefix: binding a key
    // to it (which registers the extension and owns its buckets) is refused.
    let token = p.create_registration(&w.viewer.token, "catalog").await;
    let mut refused =
        Extension::spawn_with_token(&bins::catalog(), &configs.join("viewer"), &token.token);
    let status = refused.wait().await;
    let stderr = refused.stderr();
    assert!(
        !status.success(),
        "a viewer's token must not provision the catalog:\n{stderr}"
    );
    assert!(
        stderr.contains("capability_forbidden") && stderr.contains("extensions.catalog.>"),
        "the catalog reports the refused binding:\n{stderr}"
    );

    // The developer's role covers it: the catalog provisions and runs.
    let token = p.create_registration(&w.developer.token, "catalog").await;
    let catalog = Extension::spawn_with_token(&bins::catalog(), &configs.join("ok"), &token.token);
    let view = p
        .wait_extension(
            "catalog",
            "the catalog runs with the developer's token",
            |v| {
                anyhow::ensure!(
                    v.state == symphony_protocol::messages::ExtensionState::Ok,
                    "state {:?}",
                    v.state
                );
                Ok(())
            },
        )
        .await;
    let key_id = view.instances[0]
        .key_id
        .as_ref()
        .expect("the instance names its key")
        .to_string();
    let key = p
        .key_view(&w.developer.token, &key_id)
        .await
        .expect("the developer lists the catalog's key");
    assert_eq!(
        (key.owner.as_str(), key.prefix.as_deref(), key.name.as_str()),
        (w.developer.username.as_str(), Some("catalog"), "Catalog")
    );
    catalog
}

/// (c) Gateway calls with a session: the role must show the extension and publish to the endpoint.
async fn gateway_calls_follow_the_roles(w: &World, custom_key: &str, viewer_key: &str) {
    let p = &w.platform;
    let first = p.wait_route("catalog", "/list", &w.developer.token).await;
    assert_eq!(first.status, 200, "{first}");
    let added = p
        .rest_post(
            "catalog",
            "/add",
            &w.developer.token,
            "application/json",
            r#"{"id":"sku-1","name":"Widget"}"#,
        )
        .await;
    assert_eq!(added.status, 200, "developer adds: {added}");

    for who in [&w.developer, &w.admin, &w.custom] {
        let list = p.rest_get("catalog", "/list", &who.token).await;
        assert_eq!(list.status, 200, "{} lists: {list}", who.username);
        assert_eq!(
            list.json(),
            json!([{"id": "sku-1", "name": "Widget"}]),
            "{list}"
        );
    }
    let e = p
        .rest_get("catalog", "/list", &w.viewer.token)
        .await
        .assert_error(403, ErrorCode::Forbidden);
    assert!(
        e.message.contains("cirata.extensions.catalog.list"),
        "{e:?}"
    );
    p.rest_post(
        "catalog",
        "/add",
        &w.custom.token,
        "application/json",
        r#"{"id":"sku-2"}"#,
    )
    .await
    .assert_error(403, ErrorCode::Forbidden);

    // The session cookie works like the bearer token.
    let by_cookie = p
        .send(
            p.rest(Method::GET, "catalog", "/list", None)
                .header("cookie", w.custom.cookie()),
        )
        .await;
    assert_eq!(by_cookie.status, 200, "{by_cookie}");

    // Keys the users created are bounded the same way.
    assert_eq!(p.rest_get("catalog", "/list", custom_key).await.status, 200);
    p.rest_get("catalog", "/list", viewer_key)
        .await
        .assert_error(403, ErrorCode::Forbidden);
}

/// (d) Browser NATS credentials carry the role's permissions over the WebSocket listener.
async fn browser_credentials_carry_the_roles(w: &World) {
    let p = &w.platform;
    let creds = p.user_token(&w.custom.token).await;
    let url = creds.websocket_url.clone().unwrap_or_default();
    assert_eq!(
        url,
        format!("ws://127.0.0.1:{}", p.ports.websocket),
        "{creds:?}"
    );
    assert!(creds.inbox_prefix.starts_with("_INBOX_user."), "{creds:?}");
    let expires = symphony_tests::parse_rfc3339(&creds.expires_at);
    assert!(
        expires > symphony_protocol::time::now_unix(),
        "browser credentials expire in the future: {creds:?}"
    );

    let mut cara = connect_browser(&w.custom, &creds)
        .await
        .expect("cara connects over the WebSocket");
    let reply = cara
        .client
        .request("cirata.extensions.catalog.list", "".into())
        .await
        .expect("cara may request the catalog list over NATS");
    let items: Value = serde_json::from_slice(&reply.payload).expect("the list is JSON");
    assert_eq!(items, json!([{"id": "sku-1", "name": "Widget"}]));
    cara.assert_no_violations("cara's request").await;
    cara.assert_publish_denied("cirata.extensions.catalog.add")
        .await;
    cara.assert_subscribe_denied("cirata.extensions.catalog.>")
        .await;
    cara.assert_subscribe_denied("_INBOX.>").await;

    let creds = p.user_token(&w.viewer.token).await;
    let mut vera = connect_browser(&w.viewer, &creds)
        .await
        .expect("vera connects over the WebSocket");
    vera.assert_publish_denied("cirata.extensions.catalog.list")
        .await;
    // A viewer hears an extension's events, never its requests (nobody but the extension may
    // answer them).
    vera.assert_subscribe_allowed("extensions.catalog.>").await;
    vera.assert_subscribe_denied("cirata.extensions.catalog.>")
        .await;

    let creds = p.user_token(&w.developer.token).await;
    let devon = connect_browser(&w.developer, &creds)
        .await
        .expect("devon connects over the WebSocket");
    let reply = devon
        .client
        .request("cirata.extensions.catalog.list", "".into())
        .await
        .expect("devon may request the catalog list over NATS");
    assert!(reply.payload.starts_with(b"["), "{reply:?}");

    // Browser credentials are for users, not API keys.
    let key = p
        .create_key(&w.developer.token, &json!({"name": "not-a-browser"}))
        .await;
    p.call(Method::GET, "/usertoken", Some(&key.token), None)
        .await
        .assert_error(403, ErrorCode::WrongTokenKind);
}

/// Extension visibility: the custom role shows only `catalog`.
async fn users_see_the_extensions_of_their_roles(w: &World) {
    let p = &w.platform;
    // A second extension, registered directly with a key the administrator made for it.
    let other = p
        .create_key(&w.admin.token, &json!({"name": "Other", "prefix": "other"}))
        .await;
    let conn = p.connect_as(&other.token).await;
    let _: RegisterReply = conn
        .request_json(
            &conn.register_subject(),
            &manifest::minimal("Other", "other"),
        )
        .await
        .expect("other registers");

    let prefixes = |views: Vec<symphony_protocol::messages::ExtensionView>| {
        let mut p: Vec<String> = views.into_iter().map(|v| v.prefix).collect();
        p.sort();
        p
    };
    for who in [&w.viewer, &w.developer, &w.admin] {
        assert_eq!(
            prefixes(p.extensions_as(&who.token).await),
            ["catalog", "other"],
            "{} sees every extension",
            who.username
        );
    }
    assert_eq!(
        prefixes(p.extensions_as(&w.custom.token).await),
        ["catalog"],
        "cara sees only the catalog"
    );
    let one = p
        .call(
            Method::GET,
            "/extensions/catalog",
            Some(&w.custom.token),
            None,
        )
        .await;
    assert_eq!(one.status, 200, "{one}");
    p.call(
        Method::GET,
        "/extensions/other",
        Some(&w.custom.token),
        None,
    )
    .await
    .assert_error(404, ErrorCode::ExtensionNotFound);

    let info = p.userinfo(&w.custom.token).await;
    assert_eq!(info.status, 200, "{info}");
    let info = info.json();
    assert_eq!(info["kind"], "user", "{info}");
    assert_eq!(info["admin"], false, "{info}");
    assert_eq!(info["extensions"], json!(["catalog"]), "{info}");
    assert_eq!(info["pub"], json!(["extensions.catalog.list"]), "{info}");
}

/// (e) Users, role changes and the audit trail are for administrators; built-in roles are fixed.
async fn administration_needs_the_admin_role(w: &World, custom_key: &str) {
    let p = &w.platform;
    let escalate = json!({"roles": ["symphony-admin"]});
    let new_user =
        json!({"username": "mallory", "password": USER_PASSWORD, "roles": ["symphony-admin"]});
    let admin_role = catalog_user_role(&["extensions.>"]);
    let mut callers: Vec<(String, &str)> = w
        .non_admins()
        .iter()
        .map(|s| (s.username.clone(), s.token.as_str()))
        .collect();
    callers.push(("cara's API key".into(), custom_key));
    for (who, token) in &callers {
        let requests: [(Method, String, Option<&Value>); 9] = [
            (Method::GET, "/users".into(), None),
            (Method::POST, "/users".into(), Some(&new_user)),
            (
                Method::PUT,
                format!("/users/{}", w.custom.username),
                Some(&escalate),
            ),
            (Method::PUT, "/users/vera".into(), Some(&escalate)),
            (Method::DELETE, "/users/admin".into(), None),
            (
                Method::PUT,
                format!("/roles/{CATALOG_USER}"),
                Some(&admin_role),
            ),
            (Method::PUT, "/roles/newrole".into(), Some(&admin_role)),
            (Method::DELETE, format!("/roles/{CATALOG_USER}"), None),
            (Method::GET, "/audit?limit=10".into(), None),
        ];
        for (method, path, body) in requests {
            let reply = p.call(method.clone(), &path, Some(token), body).await;
            assert_eq!(reply.status, 403, "{who}: {method} {path}: {reply}");
            assert_eq!(
                reply.error().code,
                ErrorCode::Forbidden,
                "{who}: {method} {path}: {reply}"
            );
        }
        // Reading the roles is for everyone.
        let roles = p.call(Method::GET, "/roles", Some(token), None).await;
        assert_eq!(roles.status, 200, "{who}: GET /roles: {roles}");
    }

    // Nothing changed.
    let users = p
        .call(Method::GET, "/users", Some(&w.admin.token), None)
        .await;
    assert_eq!(users.status, 200, "{users}");
    let mut listed: Vec<(String, Value)> = users
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["username"].as_str().unwrap().to_owned(),
                u["roles"].clone(),
            )
        })
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        listed,
        [
            ("admin".to_owned(), json!(["symphony-admin"])),
            ("cara".to_owned(), json!([CATALOG_USER])),
            ("devon".to_owned(), json!(["developer"])),
            ("vera".to_owned(), json!(["viewer"])),
        ]
    );
    assert!(
        users
            .json()
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u.get("password_hash").is_none()),
        "the user list never shows password hashes: {users}"
    );

    // Built-in roles cannot be changed or deleted, even by an administrator.
    for name in ["viewer", "developer", "symphony-admin"] {
        let mut role = catalog_user_role(&["extensions.>"]);
        role["name"] = json!(name);
        role["admin"] = json!(true);
        p.put_role(&w.admin.token, name, &role)
            .await
            .assert_error(403, ErrorCode::Forbidden);
        p.call(
            Method::DELETE,
            &format!("/roles/{name}"),
            Some(&w.admin.token),
            None,
        )
        .await
        .assert_error(403, ErrorCode::Forbidden);
    }
    let roles = p
        .call(Method::GET, "/roles", Some(&w.admin.token), None)
        .await;
    assert_eq!(roles.status, 200, "{roles}");
    let roles = roles.json();
    let find = |name: &str| {
        roles
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("role {name} is listed: {roles}"))
    };
    let viewer = find("viewer");
    assert_eq!(
        (&viewer["builtin"], &viewer["pub"], &viewer["admin"]),
        (&json!(true), &json!([]), &json!(false)),
        "{viewer}"
    );
    let custom = find(CATALOG_USER);
    assert_eq!(
        (&custom["builtin"], &custom["pub"], &custom["extensions"]),
        (
            &json!(false),
            &json!(["extensions.catalog.list"]),
            &json!(["catalog"])
        ),
        "{custom}"
    );

    // The administrator's changes are audited.
    let audit = p.audit(&w.admin.token, 200).await;
    let has = |action: &str, target: &str| {
        audit
            .iter()
            .any(|e| e.action == action && e.actor == "admin" && e.target == target)
    };
    assert!(has("role_updated", CATALOG_USER), "{audit:?}");
    for user in ["vera", "devon", "cara"] {
        assert!(has("user_created", user), "{audit:?}");
    }

    // Keys the bootstrap CLI issues take the same path as the REST API's: audited too.
    p.token_create_registration().await;
    p.key_create_with(&["--capability", "pub:extensions.catalog.list"])
        .await;
    let audit = p.audit(&w.admin.token, 200).await;
    for action in ["registration_token_created", "key_created"] {
        assert!(
            audit
                .iter()
                .any(|e| e.action == action && e.actor == "cli" && e.target.starts_with("key:")),
            "{action} by the CLI: {audit:?}"
        );
    }
}

/// A role change applies to existing sessions at once.
async fn role_changes_apply_at_once(w: &World) {
    let p = &w.platform;
    let updated = p
        .put_role(
            &w.admin.token,
            CATALOG_USER,
            &catalog_user_role(&["extensions.catalog.list", "extensions.catalog.add"]),
        )
        .await;
    assert_eq!(updated.status, 200, "{updated}");
    let added = p
        .rest_post(
            "catalog",
            "/add",
            &w.custom.token,
            "application/json",
            r#"{"id":"sku-3"}"#,
        )
        .await;
    assert_eq!(
        added.status, 200,
        "cara may add once her role allows it: {added}"
    );
    let key = p
        .create_key(
            &w.custom.token,
            &json!({"name": "adder", "capabilities": ["pub:extensions.catalog.add"]}),
        )
        .await;
    assert!(Token::parse(&key.token).is_ok());
}

#[tokio::test]
async fn roles_bound_keys_registration_tokens_gateway_calls_browser_credentials_and_administration()
{
    let w = World::start().await;
    let configs = tempfile::tempdir().unwrap();
    let (custom_key, viewer_key) = api_keys_lie_within_the_creators_roles(&w).await;
    let _catalog = provisioning_lies_within_the_token_creators_roles(&w, configs.path()).await;
    gateway_calls_follow_the_roles(&w, &custom_key, &viewer_key).await;
    browser_credentials_carry_the_roles(&w).await;
    users_see_the_extensions_of_their_roles(&w).await;
    administration_needs_the_admin_role(&w, &custom_key).await;
    role_changes_apply_at_once(&w).await;
}

/// Holes in the role bounds found while writing the matrix above. Each probe records what a user
/// managed to do beyond their roles; the test fails listing them all.
///
/// Roles bound the capabilities (subjects) of the keys a user creates, but not the prefix a key is
/// bound to nor its buckets, which carry implicit permissions (§4): the extension's KV bucket, its
/// registration subject, its instance subjects.
#[tokio::test]
async fn roles_also_bound_the_prefix_and_buckets_of_the_keys_users_create() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let admin = platform.login_admin().await;
    let role = platform
        .put_role(
            &admin.token,
            CATALOG_USER,
            &catalog_user_role(&["extensions.catalog.list"]),
        )
        .await;
    assert_eq!(role.status, 200, "{role}");
    let cara = platform
        .add_user(&admin.token, "cara", &[CATALOG_USER])
        .await;
    let vera = platform.add_user(&admin.token, "vera", &["viewer"]).await;

    // The catalog, run by the administrator, holding one item.
    let registration = platform.create_registration(&admin.token, "catalog").await;
    let config = tempfile::tempdir().unwrap();
    let _catalog =
        Extension::spawn_with_token(&bins::catalog(), config.path(), &registration.token);
    platform.wait_route("catalog", "/list", &admin.token).await;
    let added = platform
        .rest_post(
            "catalog",
            "/add",
            &admin.token,
            "application/json",
            r#"{"id":"sku-1","name":"Widget"}"#,
        )
        .await;
    assert_eq!(added.status, 200, "{added}");

    let mut findings: Vec<String> = Vec::new();

    // 1. cara may only call `list`; a key with the catalog's bucket lets her write its data.
    let reply = platform
        .create_key_reply(
            &cara.token,
            &json!({"name": "data", "prefix": "catalog", "buckets": ["catalog_items"]}),
        )
        .await;
    if reply.status == 201 {
        let token = reply.json()["token"].as_str().unwrap().to_owned();
        let conn = platform.connect_as(&token).await;
        let ack = conn
            .client
            .request(
                "$KV.catalog_items.item:sku-1",
                r#"{"id":"sku-1","name":"Tampered by cara"}"#.into(),
            )
            .await
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned());
        let list = platform.rest_get("catalog", "/list", &admin.token).await;
        findings.push(format!(
            "cara (role {CATALOG_USER}: pub extensions.catalog.list only) created a key bound to \
             prefix catalog with bucket catalog_items (POST /keys → 201) and wrote the \
             catalog's data with it (JetStream ack {ack:?}); the catalog now lists {}",
            list.text()
        ));
    } else {
        reply.assert_error(403, reply.error().code);
    }

    // 2. vera "calls none"; a key bound to the catalog's prefix lets her replace its manifest
    //    (the UI code every user's shell loads).
    let reply = platform
        .create_key_reply(
            &vera.token,
            &json!({"name": "Catalog", "prefix": "catalog"}),
        )
        .await;
    if reply.status == 201 {
        let created: symphony_tests::users::CreatedKey =
            symphony_tests::users::parse(&reply, "POST /keys");
        let conn = platform.connect_as(&created.token).await;
        let mut manifest = manifest::minimal("Catalog", "catalog");
        manifest["description"] = json!("replaced by vera");
        let registered = conn
            .request_json::<RegisterReply>(&conn.register_subject(), &manifest)
            .await;
        let view = platform
            .call(Method::GET, "/extensions/catalog", Some(&admin.token), None)
            .await;
        findings.push(format!(
            "vera (role viewer) created a key bound to prefix catalog (POST /keys → 201) and \
             registered a manifest as the Catalog ({:?}); GET /extensions/catalog now has \
             description {}",
            registered.map(|r| r.prefix),
            view.json()["description"]
        ));
    } else {
        reply.assert_error(403, reply.error().code);
    }

    // 3. A refusal names the capability exactly as requested (subjects are case-sensitive).
    let reply = platform
        .create_key_reply(
            &vera.token,
            &json!({"name": "upper", "capabilities": ["pub:extensions.catalog.ListAll"]}),
        )
        .await;
    let e = reply.assert_error(403, ErrorCode::CapabilityForbidden);
    if !e.message.contains("extensions.catalog.ListAll") {
        findings.push(format!(
            "the refusal of pub:extensions.catalog.ListAll names another subject: {:?}",
            e.message
        ));
    }

    assert!(
        findings.is_empty(),
        "users went beyond their roles:\n- {}",
        findings.join("\n- ")
    );
}

//! UI resources (docs/protocol.md "UI resources"): extension modules transpiled by the server
//! (`GET /api/v1/ui/module/{prefix}/{name}`) with ETag revalidation and typed errors, the Rust SDK's
//! `update_resource`, and the browser's HTTP bearer from `GET /api/v1/usertoken` (§9), which acts as
//! the session and ends with it.

use anyhow::{bail, ensure};
use cirata_symphony::Extension;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use symphony_protocol::{ErrorCode, SourceLocation, Token};
use symphony_tests::users::{ADMIN_PASSWORD, assert_unauthorized, parse};
use symphony_tests::{DEFAULT_DEADLINE, Platform, PlatformOptions, RestReply, eventually};

const PREFIX: &str = "uimod";

const HOME: &str = r#"import React, { useState } from "react";
import { useSymphony } from "@symphony";
import List from "@symphony/extension/uimod/pages/list";

interface Props { title?: string }

export default function Home({ title = "Items" }: Props) {
  const [n] = useState<number>(0);
  return <><h1>{title} {n}</h1><List /></>;
}
"#;

const LIST: &str = "export default function List(): null { return null; }\n";

/// A syntax error on line 4, column 19 (the `}` after `1 +`).
const BROKEN: &str = "import React from \"react\";\n\nexport default function Broken() {\n  return <div>{1 +}</div>;\n}\n";

/// A 401 for a session that has ended (logout purges it, so the server may no longer know it).
const ENDED: &[ErrorCode] = &[ErrorCode::InvalidToken, ErrorCode::SessionExpired];

fn etag_of(source: &str) -> String {
    let hex: String = Sha256::digest(source.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{}\"", &hex[..32])
}

/// An extension with a JSX page, a module under a nested name, a markdown page and a broken page,
/// registered in-process with the Rust SDK and an API key bound to [`PREFIX`].
async fn register_extension(platform: &Platform) -> Extension {
    let key = platform
        .key_create_with(&[
            "--capability",
            &format!("sub:extensions.{PREFIX}.>"),
            "--prefix",
            PREFIX,
            "--name",
            "UI modules",
        ])
        .await;
    let mut ext = Extension::new("UI modules", PREFIX).with_token(key);
    ext.add_resource(&format!("ui://{PREFIX}/home"), "text/symphony-jsx", HOME)
        .unwrap()
        .add_resource(
            &format!("ui://{PREFIX}/pages/list"),
            "text/symphony-module",
            LIST,
        )
        .unwrap()
        .add_resource(&format!("ui://{PREFIX}/help"), "text/markdown", "# Help")
        .unwrap()
        .add_resource(
            &format!("ui://{PREFIX}/broken"),
            "text/symphony-jsx",
            BROKEN,
        )
        .unwrap();
    ext.connect().await.expect("the extension registers");
    ext
}

async fn get_module(
    platform: &Platform,
    name: &str,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
) -> RestReply {
    let mut req = platform.api(Method::GET, &format!("/ui/module/{name}"), bearer);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    platform.send(req).await
}

fn assert_module(reply: &RestReply, uri: &str, source: &str) {
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(
        reply.content_type(),
        "text/javascript; charset=utf-8",
        "{reply}"
    );
    assert_eq!(reply.header("cache-control"), "private, no-cache");
    assert_eq!(reply.header("etag"), etag_of(source), "{reply}");
    let js = reply.text();
    assert!(
        js.ends_with(&format!("\n//# sourceURL={uri}\n")),
        "the module names its URI: {js}"
    );
}

#[tokio::test]
async fn modules_are_transpiled_revalidated_by_etag_and_refused_with_typed_errors() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let mut ext = register_extension(&platform).await;
    let admin = platform.login_admin().await;

    // A JSX page: automatic runtime, types stripped, imports kept for the import map.
    let home = get_module(&platform, "uimod/home", Some(&admin.token), &[]).await;
    assert_module(&home, "ui://uimod/home", HOME);
    let js = home.text();
    assert!(js.contains("\"react/jsx-runtime\""), "{js}");
    for kept in [
        "from \"react\"",
        "from \"@symphony\"",
        "from \"@symphony/extension/uimod/pages/list\"",
    ] {
        assert!(js.contains(kept), "{kept} kept: {js}");
    }
    for gone in ["<h1", "interface Props", ": Props", "<number>"] {
        assert!(!js.contains(gone), "{gone} left: {js}");
    }

    // The browser sends its cookie and a cache-busting query; both are fine.
    let by_cookie = get_module(
        &platform,
        "uimod/home?v=abc123",
        None,
        &[("cookie", &admin.cookie())],
    )
    .await;
    assert_module(&by_cookie, "ui://uimod/home", HOME);
    assert_eq!(by_cookie.body, home.body);

    // Revalidation: the same ETag back is a 304 without a body.
    let etag = etag_of(HOME);
    let not_modified = get_module(
        &platform,
        "uimod/home",
        Some(&admin.token),
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(not_modified.status, 304, "{not_modified}");
    assert_eq!(not_modified.header("etag"), etag);
    assert!(not_modified.body.is_empty());

    // `text/symphony-module` with a nested name; the extension's own API key may read it too.
    let list = get_module(&platform, "uimod/pages/list", ext.token(), &[]).await;
    assert_module(&list, "ui://uimod/pages/list", LIST);
    assert!(!list.text().contains(": null"), "{list}");

    // Not a module, not registered, not a prefix.
    get_module(&platform, "uimod/help", Some(&admin.token), &[])
        .await
        .assert_error(415, ErrorCode::NotAModule);
    for name in ["uimod/nope", "nosuchext/home", "Bad-Prefix/home"] {
        get_module(&platform, name, Some(&admin.token), &[])
            .await
            .assert_error(404, ErrorCode::ResourceNotFound);
    }

    // A syntax error: 422 with where it is; the second answer (from the cache) is the same.
    let broken = get_module(&platform, "uimod/broken", Some(&admin.token), &[]).await;
    let error = broken.assert_error(422, ErrorCode::JsxSyntaxError);
    assert!(error.message.contains("Unexpected token"), "{broken}");
    assert_eq!(
        error.location,
        Some(SourceLocation {
            file: "ui://uimod/broken".into(),
            line: 4,
            column: 19
        }),
        "{broken}"
    );
    let again = get_module(&platform, "uimod/broken", Some(&admin.token), &[]).await;
    assert_eq!(again.status, 422);
    assert_eq!(again.body, broken.body);

    // No credentials, or a bad token.
    assert_unauthorized(
        &get_module(&platform, "uimod/home", None, &[]).await,
        &[ErrorCode::MissingToken],
        "no credentials",
    );
    assert_unauthorized(
        &get_module(&platform, "uimod/home", Some("not-a-token"), &[]).await,
        &[ErrorCode::InvalidToken],
        "a malformed token",
    );

    // The SDK replaces the page and registers again: the old ETag no longer matches.
    let v2 = HOME.replace("Items", "Things");
    ext.update_resource("ui://uimod/home", "text/symphony-jsx", v2.clone())
        .await
        .expect("update_resource registers again");
    let changed = get_module(
        &platform,
        "uimod/home",
        Some(&admin.token),
        &[("if-none-match", &etag)],
    )
    .await;
    assert_module(&changed, "ui://uimod/home", &v2);
    assert!(changed.text().contains("Things"), "{changed}");
}

#[tokio::test]
async fn update_resource_replaces_or_adds_and_registers_again() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let mut ext = register_extension(&platform).await;
    let admin = platform.login_admin().await;
    let resources = |views: Vec<symphony_protocol::messages::ExtensionView>| {
        views
            .into_iter()
            .find(|v| v.prefix == PREFIX)
            .map(|v| v.manifest.resources)
            .unwrap_or_default()
    };
    let before = resources(platform.extensions_as(&admin.token).await);
    assert_eq!(before.len(), 4, "{before:?}");

    ext.update_resource("ui://uimod/help", "text/markdown", "# Help v2")
        .await
        .unwrap();
    ext.update_resource("ui://uimod/status", "text/markdown", "# Status")
        .await
        .unwrap();
    let after = resources(platform.extensions_as(&admin.token).await);
    let content = |uri: &str| {
        after
            .iter()
            .find(|r| r.uri == uri)
            .map(|r| r.content.clone())
    };
    assert_eq!(after.len(), 5, "{after:?}");
    assert_eq!(content("ui://uimod/help").as_deref(), Some("# Help v2"));
    assert_eq!(content("ui://uimod/status").as_deref(), Some("# Status"));
    assert_eq!(content("ui://uimod/home").as_deref(), Some(HOME));

    // Invalid input is refused before anything is sent; the registered manifest is unchanged.
    assert!(
        ext.update_resource("ui://other/x", "text/markdown", "")
            .await
            .is_err()
    );
    assert_eq!(resources(platform.extensions_as(&admin.token).await), after);
}

/// `GET /api/v1/usertoken`'s `token`, checked to be a new token of this instance.
async fn browser_bearer(platform: &Platform, session_token: &str) -> String {
    let reply = platform
        .call(Method::GET, "/usertoken", Some(session_token), None)
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    let body: Value = parse(&reply, "GET /usertoken");
    let bearer = body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("usertoken without token: {body}"))
        .to_owned();
    assert!(
        body["jwt"].is_string() && body["expires_at"].is_string(),
        "{body}"
    );
    let parsed = Token::parse(&bearer).expect("the bearer has the token format");
    let session = Token::parse(session_token).unwrap();
    assert_eq!(parsed.origin, session.origin);
    assert_ne!(parsed.key_id, session.key_id, "a token of its own");
    bearer
}

#[tokio::test]
async fn the_browser_bearer_acts_as_the_session_and_ends_with_it() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let _ext = register_extension(&platform).await;
    let admin = platform.login_admin().await;
    let bearer = browser_bearer(&platform, &admin.token).await;

    // It is the user, wherever the session token works.
    let me = platform.userinfo(&bearer).await;
    assert_eq!(me.status, 200, "{me}");
    assert_eq!(
        (&me.json()["kind"], &me.json()["username"]),
        (&json!("user"), &json!("admin"))
    );
    assert_eq!(
        get_module(&platform, "uimod/home", Some(&bearer), &[])
            .await
            .status,
        200
    );
    let second = browser_bearer(&platform, &bearer).await;
    assert_eq!(platform.userinfo(&second).await.status, 200);

    // Signing the session out ends every bearer issued to it.
    let logout = platform
        .call(Method::POST, "/logout", Some(&admin.token), None)
        .await;
    assert_eq!(logout.status, 204, "{logout}");
    for (token, what) in [(&bearer, "first bearer"), (&second, "second bearer")] {
        assert_unauthorized(&platform.userinfo(token).await, ENDED, what);
    }

    // Signing out with a bearer ends its session.
    let again = platform.login_admin().await;
    let bearer = browser_bearer(&platform, &again.token).await;
    let logout = platform
        .call(Method::POST, "/logout", Some(&bearer), None)
        .await;
    assert_eq!(logout.status, 204, "{logout}");
    assert_unauthorized(&platform.userinfo(&again.token).await, ENDED, "the session");
    assert_unauthorized(&platform.userinfo(&bearer).await, ENDED, "its bearer");
}

#[tokio::test]
async fn the_browser_bearer_ends_when_its_session_idles_out() {
    let mut opts = PlatformOptions::default().admin_password(ADMIN_PASSWORD);
    opts.extra_args = vec!["--session-idle-for-tests".into(), "2s".into()];
    let platform = Platform::start(opts).await;
    let admin = platform.login_admin().await;
    let bearer = browser_bearer(&platform, &admin.token).await;
    assert_eq!(platform.userinfo(&bearer).await.status, 200);

    // The bearer lives 15 minutes, but only while its session does.
    let expired = eventually("the idle session ends", DEFAULT_DEADLINE, || async {
        let reply = platform.userinfo(&bearer).await;
        if reply.status == 200 {
            bail!("the bearer still works");
        }
        ensure!(reply.status == 401, "{reply}");
        Ok(reply)
    })
    .await;
    assert_unauthorized(
        &expired,
        &[ErrorCode::SessionExpired],
        "an idle session's bearer",
    );
    assert_unauthorized(
        &platform.userinfo(&admin.token).await,
        ENDED,
        "the idle session",
    );
}

/// Issue 12 item 4: modules built to exhaust the transpiler's stack are refused with a typed 422
/// (or, over the manifest bound, never registered), and the server keeps serving everyone.
#[tokio::test]
async fn modules_built_to_crash_the_transpiler_are_refused_and_the_server_keeps_serving() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let admin = platform.login_admin().await;
    let key = platform
        .key_create_with(&[
            "--capability",
            "sub:extensions.deep.>",
            "--prefix",
            "deep",
            "--name",
            "Deep",
        ])
        .await;

    // 100 000 nested `<div>` closed: over the 1 MiB manifest bound, so registration refuses it.
    let divs = format!("{}{}", "<div>".repeat(100_000), "</div>".repeat(100_000));
    let mut too_big = Extension::new("Deep", "deep").with_token(key.clone());
    too_big
        .add_resource("ui://deep/divs", "text/symphony-jsx", divs)
        .unwrap();
    let Err(refused) = too_big.connect().await else {
        panic!("a manifest over 1 MiB registered");
    };
    assert!(
        format!("{refused:?}").contains("manifest_too_large")
            || format!("{refused}").contains("manifest_too_large"),
        "{refused:?}"
    );

    // Within the manifest bound: the issue's 200 000 `(`, 100 000 unclosed `<div>`, and a deep
    // chain no bracket count sees (transpiled in the child process, which has the stack for it).
    let bangs = format!("export const a = {}1;\n", "!".repeat(100_000));
    let mut ext = Extension::new("Deep", "deep").with_token(key);
    ext.add_resource("ui://deep/parens", "text/symphony-jsx", "(".repeat(200_000))
        .unwrap()
        .add_resource(
            "ui://deep/divs",
            "text/symphony-jsx",
            "<div>".repeat(100_000),
        )
        .unwrap()
        .add_resource("ui://deep/bangs", "text/symphony-module", bangs)
        .unwrap()
        .add_resource("ui://deep/home", "text/symphony-jsx", HOME)
        .unwrap();
    ext.connect().await.expect("the extension registers");

    for name in ["deep/parens", "deep/divs"] {
        for _ in 0..2 {
            let reply = get_module(&platform, name, Some(&admin.token), &[]).await;
            let error = reply.assert_error(422, ErrorCode::ModuleTooComplex);
            assert!(error.message.contains("nests deeper than"), "{reply}");
            let location = error.location.expect("where the bound was passed");
            assert_eq!(location.file, format!("ui://{name}"));
            assert_eq!(location.line, 1);
            // The server is still up: a later request succeeds.
            let ping = platform
                .send(platform.api(Method::GET, "/ping", None))
                .await;
            assert_eq!(ping.status, 200, "{ping}");
        }
    }
    let bangs = get_module(&platform, "deep/bangs", Some(&admin.token), &[]).await;
    assert_eq!(bangs.status, 200, "{bangs}");
    assert!(bangs.text().contains("!!!!!!!!1"), "{bangs}");

    // A normal page still renders.
    let home = get_module(&platform, "deep/home", Some(&admin.token), &[]).await;
    assert_module(&home, "ui://deep/home", HOME);
}

//! Fuzzing the platform's inputs over real connections (docs/security.md "Fuzzing"): malformed
//! payloads on every `cirata.services.*` subject, random and adversarial JSX/TSX through the module
//! endpoint, hostile markdown resources, and the REST inputs the schemathesis run
//! (`python/tests/test_fuzz_rest.py`) found answering 500 or plain text. Every answer is typed, none
//! is an internal error, and the server keeps answering.
//!
//! `SYMPHONY_FUZZ_CASES=<n>` multiplies the case counts; `SYMPHONY_FUZZ_SEED=<u64>` picks another seed.

use rand::Rng;
use rand::rngs::StdRng;
use reqwest::Method;
use serde_json::{Value, json};
use symphony_protocol::fuzz::{cases, hostile_string, malformed, rng};
use symphony_protocol::{ErrorBody, ErrorCode, subjects};
use symphony_tests::users::ADMIN_PASSWORD;
use symphony_tests::{KeyConn, Platform, PlatformOptions, RestReply, manifest};

async fn platform() -> Platform {
    Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await
}

/// A reply that is a typed error must not be an internal one; a success is fine too.
fn assert_typed(subject: &str, reply: Result<Value, ErrorBody>, payload: &[u8]) {
    if let Err(e) = reply {
        assert!(
            !matches!(e.code, ErrorCode::Internal | ErrorCode::HandlerFailed),
            "{subject}: {:?} {} for {:.200}",
            e.code,
            e.message,
            String::from_utf8_lossy(payload)
        );
        assert!(!e.message.is_empty(), "{subject}: {e:?}");
    }
}

async fn fuzz_subject(conn: &KeyConn, subject: &str, valid: &Value, rng: &mut StdRng, n: usize) {
    for i in 0..n {
        let payload = if i % 50 == 49 {
            // Over the manifest bound, under nats-server's max payload.
            let mut v = valid.clone();
            v["name"] = json!("x".repeat(1_100_000));
            serde_json::to_vec(&v).unwrap()
        } else {
            malformed(rng, valid)
        };
        // `request_bytes` panics on a transport error: no reply is a failure too.
        let reply = conn.request_bytes::<Value>(subject, payload.clone()).await;
        assert_typed(subject, reply, &payload);
    }
}

#[tokio::test]
async fn every_platform_service_answers_malformed_payloads_with_a_typed_error() {
    let p = platform().await;
    let mut rng = rng("services");
    let n = cases(100);

    let registration = p.connect_as(&p.token_create_registration().await).await;
    fuzz_subject(
        &registration,
        &subjects::provision(registration.key_id()),
        &manifest::provision_request("Fuzz", "fuzzprov"),
        &mut rng,
        n,
    )
    .await;

    let extension = p.registered_extension("Fuzz", "fuzzreg", &[]).await;
    fuzz_subject(
        &extension,
        &extension.register_subject(),
        &manifest::with_buckets("Fuzz", "fuzzreg", &["fuzzreg_data"]),
        &mut rng,
        n,
    )
    .await;
    fuzz_subject(
        &extension,
        subjects::CLUSTER_INFO,
        &json!({}),
        &mut rng,
        n / 3,
    )
    .await;

    // Still serving: a valid registration and the REST API answer.
    let again = extension
        .request_json::<Value>(
            &extension.register_subject(),
            &manifest::with_buckets("Fuzz", "fuzzreg", &["fuzzreg_data"]),
        )
        .await;
    assert!(again.is_ok(), "{again:?}");
    let ping = p.send(p.api(Method::GET, "/ping", None)).await;
    assert_eq!(ping.status, 200, "{ping}");
}

/// Pieces of TSX that combine into almost-programs: balanced and not, strings, comments,
/// templates, types, JSX.
const PIECES: &[&str] = &[
    "<div>",
    "</div>",
    "<>",
    "</>",
    "<a b={",
    "}",
    "/>",
    "{",
    "(",
    ")",
    "[",
    "]",
    "`",
    "${",
    "'",
    "\"",
    "//",
    "/*",
    "*/",
    "=>",
    "+",
    "!",
    "?",
    ":",
    "x",
    "1",
    " ",
    "\n",
    ";",
    ",",
    "=",
    "export default function A() { return ",
    "import x from \"y\";",
    "type T = ",
    "<T,>",
    " as any",
    "\\",
    "async ",
    "await ",
    "class C {",
    "enum E {",
    "interface I {",
    "@dec ",
    "#!",
    "\u{2028}",
];

/// One construct nested `depth` times.
const DEEP: &[(&str, &str)] = &[
    ("(", ")"),
    ("[", "]"),
    ("{a:", "}"),
    ("<div>", "</div>"),
    ("<i>x", "</i>"),
    ("`${", "}`"),
    ("Array<", ">"),
    ("!", ""),
    ("-", ""),
    ("1+", "1"),
    ("a?b:", "c"),
    ("()=>", "1"),
    ("x.", "y"),
    ("new ", "X"),
    ("typeof ", "x"),
];

fn random_module(rng: &mut StdRng) -> String {
    if rng.random::<bool>() {
        (0..rng.random_range(1..400))
            .map(|_| PIECES[rng.random_range(0..PIECES.len())])
            .collect()
    } else {
        let (open, close) = DEEP[rng.random_range(0..DEEP.len())];
        let depth = rng.random_range(1..6000);
        format!(
            "export const a = {}x{};",
            open.repeat(depth),
            close.repeat(depth)
        )
    }
}

#[tokio::test]
async fn random_and_adversarial_jsx_and_markdown_never_crash_the_server() {
    let p = platform().await;
    let admin = p.login_admin().await;
    let mut rng = rng("jsx");
    let conn = p.registered_extension("Pages", "pages", &[]).await;

    let modules: Vec<String> = (0..cases(60)).map(|_| random_module(&mut rng)).collect();
    // Markdown is rendered by the browser; the server only stores and serves it: hostile text,
    // front matter, NULs and size must register and read back unchanged.
    let markdown = [
        "---\ntitle: [unclosed\n---\n# x".to_owned(),
        "---\n---\n---".to_owned(),
        format!("{}x", "> ".repeat(10_000)),
        format!("{}x", "[".repeat(20_000)),
        "<script>alert(1)</script>\0\u{202e}".to_owned(),
        hostile_string(&mut rng),
    ];
    let markdown_resources: Vec<Value> = markdown
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json!({"uri": format!("ui://pages/md{i}"), "mime_type": "text/markdown", "content": text})
        })
        .collect();

    // Registered in batches that fit the 1 MiB manifest (a longer campaign has more modules).
    let (mut ok, mut refused) = (0, 0);
    let mut batch: Vec<usize> = Vec::new();
    let mut size = 0;
    for i in 0..=modules.len() {
        let full = i == modules.len() || size + modules[i].len() > 700_000;
        if full && !batch.is_empty() {
            let mut m = manifest::minimal("Pages", "pages");
            let mut resources = markdown_resources.clone();
            resources.extend(batch.iter().map(|&j| {
                json!({"uri": format!("ui://pages/m{j}"), "mime_type": "text/symphony-jsx", "content": modules[j]})
            }));
            m["resources"] = Value::Array(resources);
            let registered = conn
                .request_json::<Value>(&conn.register_subject(), &m)
                .await;
            assert!(registered.is_ok(), "{registered:?}");
            for &j in &batch {
                let source = &modules[j];
                let reply = p
                    .send(p.api(
                        Method::GET,
                        &format!("/ui/module/pages/m{j}"),
                        Some(&admin.token),
                    ))
                    .await;
                match reply.status {
                    200 => ok += 1,
                    422 => {
                        refused += 1;
                        let e = reply.error();
                        assert!(
                            matches!(
                                e.code,
                                ErrorCode::JsxSyntaxError | ErrorCode::ModuleTooComplex
                            ),
                            "{reply} for {source:.200}"
                        );
                    }
                    _ => panic!("{reply} for {source:.200}"),
                }
            }
            batch.clear();
            size = 0;
        }
        if i < modules.len() {
            batch.push(i);
            size += modules[i].len();
        }
    }
    assert!(
        ok > 0 && refused > 0,
        "both kinds were tried: {ok} ok, {refused} refused"
    );

    let view: RestReply = p
        .send(p.api(Method::GET, "/extensions/pages", Some(&admin.token)))
        .await;
    assert_eq!(view.status, 200, "{view}");
    let view: Value = serde_json::from_slice(&view.body).unwrap();
    let stored: Vec<&str> = view["manifest"]["resources"]
        .as_array()
        .or_else(|| view["resources"].as_array())
        .expect("the view lists resources")
        .iter()
        .filter(|r| r["mime_type"] == "text/markdown")
        .filter_map(|r| r["content"].as_str())
        .collect();
    assert_eq!(
        stored,
        markdown.iter().map(String::as_str).collect::<Vec<_>>()
    );
    p.send(p.api(Method::GET, "/ui/module/pages/md0", Some(&admin.token)))
        .await
        .assert_error(415, ErrorCode::NotAModule);
}

/// Each input the REST fuzz run found, as a regression test.
#[tokio::test]
async fn rest_inputs_the_fuzzer_found_get_typed_errors() {
    let p = platform().await;
    let admin = p.login_admin().await;
    let token = Some(admin.token.as_str());

    // A query string that does not parse: was axum's plain-text 400.
    p.send(p.api(Method::GET, "/audit?limit=x", token))
        .await
        .assert_error(400, ErrorCode::InvalidRequest);
    // A body that is not JSON, or not declared JSON: were plain-text 400/415.
    for content_type in ["application/json", "text/plain"] {
        p.send(
            p.api(Method::POST, "/login", None)
                .header("content-type", content_type)
                .body("not json"),
        )
        .await
        .assert_error(400, ErrorCode::InvalidRequest);
    }
    // Path parameters the KV cannot hold as a key: were 500s; now the typed error of a bad name.
    p.send(p.api(Method::GET, "/extensions/:/account", token))
        .await
        .assert_error(400, ErrorCode::InvalidPrefix);
    p.send(p.api(Method::GET, "/extensions/:", token))
        .await
        .assert_error(400, ErrorCode::InvalidPrefix);
    p.send(
        p.api(Method::PUT, "/extensions/:/limits", token)
            .json(&json!({"disk_storage": 1, "mem_storage": 1, "streams": 1, "consumer": 1})),
    )
    .await
    .assert_error(400, ErrorCode::InvalidPrefix);
    p.send(p.api(Method::PUT, "/users/:", token).json(&json!({})))
        .await
        .assert_error(400, ErrorCode::InvalidRequest);
    p.send(p.api(Method::DELETE, "/roles/:", token))
        .await
        .assert_error(400, ErrorCode::InvalidRequest);
    let deleted = p.send(p.api(Method::DELETE, "/users/:", token)).await;
    assert!(deleted.status < 500, "{deleted}");
    // An empty user name at sign-in: was a 500; now refused before it reaches a KV key.
    p.send(
        p.api(Method::POST, "/login", None)
            .json(&json!({"username": "", "password": ""})),
    )
    .await
    .assert_error(400, ErrorCode::InvalidRequest);
}

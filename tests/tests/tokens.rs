//! Tokens and keys: single use, typed 401s for every bad token, typed registry errors for bad
//! manifests (docs/protocol.md §1, §2, §5.1, §5.2).

use std::time::Duration;

use serde_json::json;
use symphony_protocol::error::decode_reply;
use symphony_protocol::messages::{KeyKind, ProvisionReply, RegisterReply};
use symphony_protocol::{ErrorCode, KeyId, Token, subjects};
use symphony_tests::platform::key_id_of;
use symphony_tests::{KeyConn, Platform, PlatformOptions, error_body, eventually, manifest};

/// Asserts a 401 with `WWW-Authenticate: Bearer` and the given code.
async fn assert_401(resp: reqwest::Response, code: ErrorCode, what: &str) {
    assert_eq!(resp.status(), 401, "{what}");
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer"),
        "{what}: WWW-Authenticate must be Bearer, got {challenge:?}"
    );
    let body = error_body(resp).await;
    assert_eq!(body.code, code, "{what}: {body:?}");
    assert!(!body.message.is_empty(), "{what}: an error needs a message");
}

#[tokio::test]
async fn a_registration_token_provisions_once() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let token = platform.token_create_registration().await;
    let key = platform.exchange(&token).await;
    assert_eq!(key.kind, KeyKind::Registration);
    let key_id = key.id.clone();
    let conn = KeyConn::connect(key).await;

    let reply: ProvisionReply = conn
        .request_json(
            &subjects::provision(&key_id),
            &manifest::provision_request("Replay", "replay"),
        )
        .await
        .expect("the first provisioning succeeds");
    assert_ne!(reply.id, key_id, "provisioning creates a new key");
    assert_eq!(key_id_of(&reply.token), reply.id.as_str());
    let permanent = platform.exchange(&reply.token).await;
    assert_eq!(permanent.kind, KeyKind::ApiKey);
    assert_eq!(permanent.prefix.as_deref(), Some("replay"));
    assert_eq!(permanent.name, "Replay");
    assert_eq!(permanent.id, reply.id);

    let again = conn
        .request_json::<ProvisionReply>(
            &subjects::provision(&key_id),
            &manifest::provision_request("Replay", "replay"),
        )
        .await
        .expect_err("a replayed provisioning is refused");
    assert_eq!(again.code, ErrorCode::TokenUsed, "{again:?}");

    assert_401(
        platform.apikey(&token).await,
        ErrorCode::TokenUsed,
        "exchange of a consumed registration token",
    )
    .await;
}

#[tokio::test]
async fn ten_concurrent_provisionings_with_one_token_yield_exactly_one_key() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let token = platform.token_create_registration().await;
    let key = platform.exchange(&token).await;
    let key_id = key.id.clone();
    let mut conns = Vec::new();
    for _ in 0..10 {
        conns.push(KeyConn::connect(key.clone()).await);
    }
    let subject = subjects::provision(&key_id);
    let payload = serde_json::to_vec(&manifest::provision_request("Race", "race")).unwrap();
    let results = futures::future::join_all(conns.iter().map(|c| {
        let subject = subject.clone();
        let payload = payload.clone();
        async move {
            match c.client.request(subject, payload.into()).await {
                Ok(msg) => decode_reply::<ProvisionReply>(&msg.payload).map_err(|e| e.code),
                Err(e) => panic!("provisioning request failed in transport: {e}"),
            }
        }
    }))
    .await;

    let winners: Vec<&ProvisionReply> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let losers: Vec<ErrorCode> = results.iter().filter_map(|r| r.clone().err()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one provisioning wins: {results:?}"
    );
    assert_eq!(losers.len(), 9, "{results:?}");
    assert!(
        losers.iter().all(|c| *c == ErrorCode::TokenUsed),
        "the others get token_used: {losers:?}"
    );
    let permanent = platform.exchange(&winners[0].token).await;
    assert_eq!(permanent.id, winners[0].id);
    assert_401(
        platform.apikey(&token).await,
        ErrorCode::TokenUsed,
        "exchange after the race",
    )
    .await;
}

#[tokio::test]
async fn bad_tokens_get_typed_401s() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let good = platform
        .key_create(&["pub:extensions.catalog.list"], None, &[])
        .await;
    assert_eq!(
        platform.apikey(&good).await.status(),
        200,
        "control: a good token"
    );

    // Tampered: the first character of the secret changed (still decodes to 32 bytes).
    let (head, secret) = good.rsplit_once('.').unwrap();
    let first = secret.chars().next().unwrap();
    let flipped = if first == 'A' { 'B' } else { 'A' };
    let tampered = format!("{head}.{flipped}{}", &secret[1..]);
    Token::parse(&tampered).expect("the tampered token is well formed");
    assert_401(
        platform.apikey(&tampered).await,
        ErrorCode::InvalidToken,
        "tampered secret",
    )
    .await;

    // Unknown: well formed, right origin, key id that was never issued.
    let origin = Token::parse(&good).unwrap().origin;
    let unknown = Token::generate(&origin, KeyId::generate()).encode();
    assert_401(
        platform.apikey(&unknown).await,
        ErrorCode::InvalidToken,
        "unknown key id",
    )
    .await;

    for malformed in ["not-a-token", "a.b.c", &format!("{head}.short")] {
        assert_401(
            platform.apikey(malformed).await,
            ErrorCode::InvalidToken,
            &format!("malformed {malformed:?}"),
        )
        .await;
    }

    assert_401(
        platform.get("/apikey", None).await,
        ErrorCode::MissingToken,
        "no Authorization header",
    )
    .await;

    // Expired: a key and a registration token that expire after 1 s.
    let short_key = platform
        .key_create_with(&[
            "--capability",
            "pub:extensions.catalog.list",
            "--expires",
            "1s",
        ])
        .await;
    let short_registration = platform
        .token_create_registration_with(&["--expires", "1s"])
        .await;
    for (token, what) in [
        (&short_key, "expired api key"),
        (&short_registration, "expired registration token"),
    ] {
        eventually(what, Duration::from_secs(20), || async {
            let resp = platform.apikey(token).await;
            anyhow::ensure!(resp.status() == 401, "still HTTP {}", resp.status());
            Ok(())
        })
        .await;
        assert_401(platform.apikey(token).await, ErrorCode::TokenExpired, what).await;
    }
}

/// Registers `manifest` with the key and returns the error code (or panics on success).
async fn register_code(conn: &KeyConn, manifest: serde_json::Value) -> ErrorCode {
    let what = manifest.to_string();
    let what = &what[..what.len().min(200)];
    conn.request_json::<RegisterReply>(&conn.register_subject(), &manifest)
        .await
        .map(|ok| panic!("manifest {what} must be refused, got {ok:?}"))
        .unwrap_err()
        .code
}

#[tokio::test]
async fn bad_manifests_get_typed_registry_errors() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let token = platform
        .key_create_with(&[
            "--capability",
            "sub:extensions.badm.>",
            "--prefix",
            "badm",
            "--name",
            "BadM",
        ])
        .await;
    let conn = platform.connect_as(&token).await;
    let good = || manifest::minimal("BadM", "badm");

    let mut m = good();
    m["manifest_version"] = json!(2);
    assert_eq!(
        register_code(&conn, m).await,
        ErrorCode::UnsupportedManifestVersion
    );

    let mut m = good();
    m["prefix"] = json!("Bad-Prefix");
    assert_eq!(register_code(&conn, m).await, ErrorCode::InvalidPrefix);

    // A valid manifest of another prefix (its capabilities name that prefix).
    let m = manifest::minimal("BadM", "otherp");
    assert_eq!(register_code(&conn, m).await, ErrorCode::PrefixMismatch);

    let mut m = good();
    m["capabilities"] = json!([{"kind": "sub", "subject": "nope", "description": ""}]);
    assert_eq!(register_code(&conn, m).await, ErrorCode::InvalidCapability);

    let mut m = good();
    m["capabilities"] =
        json!([{"kind": "sub", "subject": "extensions.other.>", "description": ""}]);
    assert_eq!(
        register_code(&conn, m).await,
        ErrorCode::CapabilityForbidden
    );

    let m = manifest::with_buckets("BadM", "badm", &["bad.name"]);
    assert_eq!(register_code(&conn, m).await, ErrorCode::InvalidBucket);

    // An endpoint subject outside the own group (here: a platform KV stream's delete).
    for subject in [
        "$JS.API.STREAM.DELETE.KV_symphony_keys",
        "cirata.extensions.other.list",
    ] {
        let mut m = good();
        m["endpoints"] = json!([{"service": "badm", "version": "1.0.0",
            "endpoints": [{"name": "evil", "subject": subject}]}]);
        assert_eq!(
            register_code(&conn, m).await,
            ErrorCode::InvalidEndpoint,
            "{subject}"
        );
    }

    let m = manifest::with_buckets("BadM", "badm", &["symphony_keys"]);
    assert_eq!(register_code(&conn, m).await, ErrorCode::InvalidBucket);

    let mut m = good();
    m["routes"] = json!([{"path": "/x", "uri": "ui://badm/missing", "routes": []}]);
    assert_eq!(register_code(&conn, m).await, ErrorCode::InvalidManifest);

    let mut m = good();
    m["resources"] = json!([{
        "uri": "ui://badm/big",
        "mime_type": "text/markdown",
        "content": "y".repeat(symphony_protocol::manifest::MAX_MANIFEST_BYTES + 1),
    }]);
    assert_eq!(register_code(&conn, m).await, ErrorCode::ManifestTooLarge);

    // Not JSON at all.
    let not_json = conn
        .request_bytes::<RegisterReply>(&conn.register_subject(), b"{not json".to_vec())
        .await
        .expect_err("garbage is refused");
    assert_eq!(not_json.code, ErrorCode::InvalidManifest);

    // Positive control: the good manifest registers.
    let reply: RegisterReply = conn
        .request_json(&conn.register_subject(), &good())
        .await
        .expect("a good manifest registers");
    assert_eq!(reply.prefix, "badm");
    assert_eq!(&reply.instance_id, conn.instance_id());
    // The server hands out its --heartbeat 1s and --status-ttl 3s.
    assert_eq!(reply.heartbeat_secs, 1);
    assert_eq!(reply.status_ttl_secs, 3);
    assert!(reply.buckets.is_empty(), "{reply:?}");
}

#[tokio::test]
async fn prefixes_belong_to_the_first_extension_and_bucket_names_never_collide() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let key_for = |name: &'static str| {
        let platform = &platform;
        async move {
            let token = platform
                .key_create_with(&[
                    "--capability",
                    "sub:extensions.owned.>",
                    "--prefix",
                    "owned",
                    "--name",
                    name,
                ])
                .await;
            platform.connect_as(&token).await
        }
    };
    let alpha = key_for("Alpha").await;
    let reply: RegisterReply = alpha
        .request_json(
            &alpha.register_subject(),
            &manifest::with_buckets("Alpha", "owned", &["owned_data"]),
        )
        .await
        .expect("the first registration of a prefix succeeds");
    assert_eq!(reply.prefix, "owned");

    let beta = key_for("Beta").await;
    let code = register_code(&beta, manifest::minimal("Beta", "owned")).await;
    assert_eq!(code, ErrorCode::PrefixOwned);

    // Prefix "owned_data" may name a bucket "owned_data" too: each extension account has its own
    // JetStream, so the two buckets are different buckets.
    let squatter_token = platform
        .key_create_with(&[
            "--capability",
            "sub:extensions.owned_data.>",
            "--prefix",
            "owned_data",
            "--name",
            "Squatter",
        ])
        .await;
    let squatter = platform.connect_as(&squatter_token).await;
    let _: RegisterReply = squatter
        .request_json(
            &squatter.register_subject(),
            &manifest::with_buckets("Squatter", "owned_data", &["owned_data"]),
        )
        .await
        .expect("another extension's bucket of the same name is its own");
    let bucket = |conn: &symphony_tests::KeyConn| {
        let js = async_nats::jetstream::new(conn.client.clone());
        async move {
            js.get_key_value("owned_data")
                .await
                .expect("bind own bucket")
        }
    };
    let (mine, theirs) = (bucket(&alpha).await, bucket(&squatter).await);
    mine.put("k", "alpha".into()).await.unwrap();
    theirs.put("k", "squatter".into()).await.unwrap();
    assert_eq!(mine.get("k").await.unwrap().as_deref(), Some(&b"alpha"[..]));
    assert_eq!(
        theirs.get("k").await.unwrap().as_deref(),
        Some(&b"squatter"[..])
    );

    // Another instance of the same extension shares the prefix.
    let alpha2 = key_for("Alpha").await;
    let reply: RegisterReply = alpha2
        .request_json(
            &alpha2.register_subject(),
            &manifest::minimal("Alpha", "owned"),
        )
        .await
        .expect("a second instance of the owner registers");
    assert_eq!(&reply.instance_id, alpha2.instance_id());
}

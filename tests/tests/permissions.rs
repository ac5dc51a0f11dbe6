//! nats-server enforces each key's permissions (docs/protocol.md §4): an extension's own key reaches
//! its own subjects and bucket and nothing else; a registration key can only provision.

use std::time::Duration;

use futures::StreamExt as _;
use serde_json::json;
use symphony_protocol::ErrorCode;
use symphony_protocol::messages::{ClusterInfo, ExtensionState, KeyKind, RegisterReply};
use symphony_protocol::subjects;
use symphony_tests::extension::Extension;
use symphony_tests::{KeyConn, Platform, PlatformOptions, bins, manifest};

/// Reads the permanent token the SDK stored for `prefix`.
fn stored_token(config_dir: &std::path::Path, prefix: &str) -> String {
    std::fs::read_to_string(Extension::stored_token_path(config_dir, prefix))
        .expect("read the stored token")
        .trim()
        .to_owned()
}

/// Binds a KV bucket, writes and reads a key.
async fn kv_round_trip(conn: &KeyConn, bucket: &str) {
    let js = async_nats::jetstream::new(conn.client.clone());
    let kv = js
        .get_key_value(bucket)
        .await
        .unwrap_or_else(|e| panic!("bind bucket {bucket}: {e}"));
    kv.put("probe", bytes::Bytes::from_static(b"42"))
        .await
        .unwrap_or_else(|e| panic!("put into {bucket}: {e}"));
    let value = kv
        .get("probe")
        .await
        .unwrap_or_else(|e| panic!("get from {bucket}: {e}"));
    assert_eq!(
        value.as_deref(),
        Some(&b"42"[..]),
        "read back from {bucket}"
    );
}

#[tokio::test]
async fn an_extension_key_reaches_only_its_own_account() {
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

    // A second extension, "other", with its own bucket, registered directly.
    let other_token = platform
        .key_create_with(&[
            "--capability",
            "sub:extensions.other.>",
            "--capability",
            "pub:extensions.other.>",
            "--prefix",
            "other",
            "--bucket",
            "other_data",
            "--name",
            "Other",
        ])
        .await;
    let mut other = platform.connect_as(&other_token).await;
    let reply: RegisterReply = other
        .request_json(
            &other.register_subject(),
            &manifest::with_buckets("Other", "other", &["other_data"]),
        )
        .await
        .expect("register other");
    assert!(
        reply.buckets.iter().any(|b| b.name == "other_data"),
        "{reply:?}"
    );
    kv_round_trip(&other, "other_data").await;
    other
        .assert_no_violations("other uses its own bucket")
        .await;

    // catalog's own key, as the SDK stored it.
    let mut catalog = platform
        .connect_as(&stored_token(config.path(), "catalog"))
        .await;
    assert_eq!(catalog.key.prefix.as_deref(), Some("catalog"));
    let catalog_id = catalog.key_id().to_string();

    // Positive controls: infrastructure, own bucket, own subjects.
    let info: ClusterInfo = catalog
        .request_json(subjects::CLUSTER_INFO, &json!({}))
        .await
        .expect("cluster info");
    assert_eq!(info.replicas, 1);
    kv_round_trip(&catalog, "catalog_items").await;
    catalog
        .assert_no_violations("catalog uses its own bucket")
        .await;

    let mut own = catalog
        .assert_subscribe_allowed("cirata.extensions.catalog.list")
        .await;
    let client = platform
        .connect_as(
            &platform
                .key_create(&["pub:extensions.catalog.list"], None, &[])
                .await,
        )
        .await;
    client
        .client
        .publish("cirata.extensions.catalog.list", "{}".into())
        .await
        .unwrap();
    client.client.flush().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), own.next())
        .await
        .expect("catalog's key receives on its own subject")
        .expect("subscription open");
    assert_eq!(got.subject.as_str(), "cirata.extensions.catalog.list");

    // Another extension's subjects: refused in both directions, and nothing leaks through.
    catalog
        .assert_publish_denied("cirata.extensions.other.x")
        .await;
    catalog.assert_publish_denied("extensions.other.x").await;
    let mut stolen = catalog
        .assert_subscribe_denied("cirata.extensions.other.x")
        .await;
    let mut legit = other
        .assert_subscribe_allowed("cirata.extensions.other.x")
        .await;
    other
        .client
        .publish("cirata.extensions.other.x", "secret".into())
        .await
        .unwrap();
    other.client.flush().await.unwrap();
    let delivered = tokio::time::timeout(Duration::from_secs(10), legit.next())
        .await
        .expect("other receives on its own subject")
        .expect("subscription open");
    assert_eq!(delivered.payload.as_ref(), b"secret");
    catalog
        .assert_nothing_received(&mut stolen, "catalog subscribed to other's subject")
        .await;
    catalog
        .assert_subscribe_denied(&format!(
            "{}.>",
            subjects::instance_prefix("other", other.instance_id())
        ))
        .await;

    // Another extension's bucket: not in catalog's account. Its JetStream API is catalog's own,
    // so nothing is refused; there simply is no such bucket.
    let js = async_nats::jetstream::new(catalog.client.clone());
    let bind = tokio::time::timeout(Duration::from_secs(5), js.get_key_value("other_data")).await;
    assert!(
        matches!(bind, Ok(Err(_))),
        "catalog's account has no bucket other_data"
    );
    let info = catalog
        .client
        .request("$JS.API.STREAM.INFO.KV_other_data", "".into())
        .await
        .expect("catalog's own JetStream answers");
    assert!(
        String::from_utf8_lossy(&info.payload).contains("stream not found"),
        "{info:?}"
    );
    // The platform's buckets are not in catalog's account either.
    let info = catalog
        .client
        .request("$JS.API.STREAM.INFO.KV_symphony_keys", "".into())
        .await
        .expect("catalog's own JetStream answers");
    assert!(
        String::from_utf8_lossy(&info.payload).contains("stream not found"),
        "{info:?}"
    );
    catalog
        .assert_no_violations("catalog's own JetStream")
        .await;
    // What lands on a platform KV subject in catalog's account stays there.
    catalog
        .client
        .publish(format!("$KV.symphony_keys.{catalog_id}"), "garbage".into())
        .await
        .unwrap();
    catalog.client.flush().await.unwrap();
    kv_round_trip(&other, "other_data").await;
    let again = platform
        .exchange(&stored_token(config.path(), "catalog"))
        .await;
    assert_eq!(
        again.id.as_str(),
        catalog_id,
        "the platform's keys are untouched"
    );

    // Every reply in the account, other keys' inboxes, the platform's subjects.
    catalog.assert_subscribe_denied("_INBOX.>").await;
    catalog
        .assert_subscribe_denied(&format!(
            "{}.>",
            subjects::api_key_inbox(Some("other"), other.key_id())
        ))
        .await;
    catalog.assert_subscribe_denied("$KV.symphony_keys.>").await;
    catalog.assert_subscribe_denied("cirata.services.>").await;
    // Another instance's status: catalog's account imports only its own part of the status
    // bucket, so nobody (no JetStream) takes a write to another prefix's part.
    let forged = catalog
        .client
        .request(
            subjects::status_subject("other", other.instance_id()),
            "{}".into(),
        )
        .await;
    assert!(
        matches!(&forged, Err(e) if e.kind() == async_nats::client::RequestErrorKind::NoResponders),
        "{forged:?}"
    );
    catalog
        .assert_publish_denied(&other.register_subject())
        .await;
}

#[tokio::test]
async fn a_registration_key_can_only_provision() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let token = platform.token_create_registration().await;
    let key = platform.exchange(&token).await;
    assert_eq!(key.kind, KeyKind::Registration);
    assert_eq!(key.inbox_prefix, subjects::registration_inbox(&key.id));
    let key_id = key.id.clone();
    let mut conn = KeyConn::connect(key).await;

    for subject in [
        subjects::CLUSTER_INFO.to_owned(),
        subjects::register(&key_id, &key_id),
        "cirata.extensions.catalog.list".to_owned(),
        "$JS.API.STREAM.LIST".to_owned(),
        format!("$KV.symphony_keys.{key_id}"),
        subjects::provision(&symphony_protocol::KeyId::generate()),
    ] {
        conn.assert_publish_denied(&subject).await;
    }
    for subject in [
        "_INBOX.>",
        "$SRV.>",
        "cirata.symphony.enforcement",
        "cirata.extensions.>",
        "$KV.symphony_keys.>",
    ] {
        conn.assert_subscribe_denied(subject).await;
    }

    // Positive control: the provisioning request itself works (and a bad one does not consume
    // the token).
    let refused = conn
        .request_json::<serde_json::Value>(
            &subjects::provision(&key_id),
            &manifest::provision_request("Bad", "Bad-Prefix"),
        )
        .await
        .expect_err("an invalid prefix is refused");
    assert_eq!(refused.code, ErrorCode::InvalidPrefix);
    conn.assert_no_violations("the provisioning request").await;
    let resp = platform.apikey(&token).await;
    assert_eq!(
        resp.status(),
        200,
        "a refused provisioning must not consume the registration token"
    );
}

#[tokio::test]
async fn the_websocket_listener_enforces_the_same_permissions() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let token = platform
        .key_create(&["pub:extensions.catalog.list"], None, &[])
        .await;
    let key = platform.exchange(&token).await;
    let ws = format!("ws://127.0.0.1:{}", platform.ports.websocket);
    let mut conn = KeyConn::connect_to(key, &[ws]).await;
    let info: ClusterInfo = conn
        .request_json(subjects::CLUSTER_INFO, &json!({}))
        .await
        .expect("cluster info over websocket");
    assert_eq!(info.cluster_size, 1);
    conn.assert_no_violations("request over websocket").await;
    conn.assert_publish_denied("cirata.extensions.other.x")
        .await;
    conn.assert_subscribe_denied("_INBOX.>").await;
}

#[tokio::test]
async fn key_jwts_carry_the_contract_claims_and_nothing_more() {
    use std::collections::BTreeSet;
    use symphony_protocol::Capability;
    use symphony_protocol::capability::{api_key_permissions, registration_permissions};
    use symphony_protocol::jwt::{UserClaims, decode};

    let platform = Platform::start(PlatformOptions::fast()).await;
    let caps = ["sub:extensions.jwtp.>", "pub:extensions.other.ping"];
    let token = platform
        .key_create_with(&[
            "--capability",
            caps[0],
            "--capability",
            caps[1],
            "--prefix",
            "jwtp",
            "--bucket",
            "jwtp_data",
            "--name",
            "JwtProbe",
        ])
        .await;
    let key = platform.exchange(&token).await;
    assert_eq!(key.kind, KeyKind::ApiKey);
    assert_eq!(key.name, "JwtProbe");
    assert_eq!(key.prefix.as_deref(), Some("jwtp"));
    assert_eq!(
        key.inbox_prefix,
        subjects::api_key_inbox(Some("jwtp"), &key.id)
    );
    assert_eq!(key.expires_at, None);
    assert_eq!(key.capabilities.subscribe.allow, vec!["extensions.jwtp.>"]);
    assert_eq!(
        key.capabilities.publish.allow,
        vec!["extensions.other.ping"]
    );

    let claims: UserClaims = decode(&key.jwt).expect("a JWT signed by its issuer");
    let user = nkeys::KeyPair::from_seed(&key.seed).unwrap();
    assert_eq!(
        Some(claims.jti.as_str()),
        key.instance_id.as_ref().map(|i| i.as_str()),
        "jti is the instance id"
    );
    assert_eq!(
        claims.sub,
        user.public_key(),
        "the JWT is for the seed's nkey"
    );
    assert_eq!(claims.name, "JwtProbe");
    // The key never expires, its JWT does: an hour after the exchange (the default key JWT
    // lifetime), as the exchange says, with a renewal due before that.
    let exp = claims.exp.expect("key JWTs are short-lived");
    let now = symphony_protocol::time::now_unix();
    assert!((now..=now + 3600).contains(&exp), "exp {exp}, now {now}");
    assert_eq!(
        key.jwt_expires_at
            .as_deref()
            .map(symphony_tests::parse_rfc3339),
        Some(exp)
    );
    assert!(
        key.renew_after_secs
            .is_some_and(|s| s > 0 && (s as i64) < exp - now + 1)
    );
    assert_eq!(claims.nats.kind, "user");
    assert_eq!(claims.nats.version, 2);
    assert!(!claims.nats.bearer_token);
    assert!(
        claims.nats.issuer_account.is_empty() && claims.iss.starts_with('A'),
        "signed by its extension account's own key"
    );
    let other_key = platform
        .exchange(
            &platform
                .key_create_with(&["--capability", "sub:extensions.jwtq.>", "--prefix", "jwtq"])
                .await,
        )
        .await;
    let other_claims: UserClaims = decode(&other_key.jwt).unwrap();
    assert_ne!(other_claims.iss, claims.iss, "one account per prefix");
    let resp = claims
        .nats
        .resp
        .as_ref()
        .expect("api keys may answer requests");
    assert_eq!((resp.max, resp.ttl), (1, 0));

    let parsed: Vec<Capability> = caps
        .iter()
        .map(|c| Capability::parse_cli(c).unwrap())
        .collect();
    let instance = key.instance_id.clone().expect("an instance id");
    assert_eq!(
        claims.jti,
        instance.as_str(),
        "the JWT's jti is the instance id"
    );
    let expected = api_key_permissions(&key.id, key.instance_id.as_ref(), Some("jwtp"), &parsed);
    let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(set(&claims.nats.publish.allow), set(&expected.pub_allow));
    assert_eq!(set(&claims.nats.subscribe.allow), set(&expected.sub_allow));
    // Spelled out, independent of the shared crate:
    let publish = set(&claims.nats.publish.allow);
    let subscribe = set(&claims.nats.subscribe.allow);
    for s in [
        format!("cirata.services.registry.register.{}.{instance}", key.id),
        format!("$KV.symphony_status.jwtp.{instance}"),
        // Its own account's JetStream, whole: the account is its alone.
        "$JS.API.>".to_owned(),
        "$KV.>".to_owned(),
        // Another extension: only its service.
        "cirata.extensions.other.ping".to_owned(),
    ] {
        assert!(publish.contains(&s), "pub allow lacks {s}: {publish:?}");
    }
    for s in [
        format!("_INBOX_jwtp.{}.>", key.id),
        "cirata.extensions.jwtp.>".to_owned(),
        format!("cirata.extensions.jwtp.instance.{instance}.>"),
        "cirata.extensions.jwtp.commands.>".to_owned(),
    ] {
        assert!(subscribe.contains(&s), "sub allow lacks {s}: {subscribe:?}");
    }
    for never in ["_INBOX.>", ">", "cirata.services.>", "cirata.extensions.>"] {
        assert!(
            !publish.contains(never) && !subscribe.contains(never),
            "{never} granted"
        );
    }
    assert!(
        !publish.contains("extensions.other.ping"),
        "no fake events of another extension"
    );

    // Every exchange gives the same nkey.
    let again = platform.exchange(&token).await;
    assert_eq!(again.seed, key.seed);
    assert_eq!(decode::<UserClaims>(&again.jwt).unwrap().sub, claims.sub);

    // A registration key: the provisioning request and its inbox, nothing else.
    let registration = platform
        .exchange(&platform.token_create_registration().await)
        .await;
    let claims: UserClaims = decode(&registration.jwt).unwrap();
    let expected = registration_permissions(&registration.id);
    assert_eq!(
        Some(claims.jti.as_str()),
        registration.instance_id.as_ref().map(|i| i.as_str())
    );
    assert_eq!(claims.nats.publish.allow, expected.pub_allow);
    assert_eq!(claims.nats.subscribe.allow, expected.sub_allow);
    assert_eq!(claims.nats.resp, None);
    assert!(
        claims.exp.is_some(),
        "registration tokens expire (default 24h)"
    );

    // An expiring key carries `exp` and `expires_at`.
    let expiring = platform
        .exchange(
            &platform
                .key_create_with(&["--capability", caps[1], "--expires", "1h"])
                .await,
        )
        .await;
    assert!(expiring.expires_at.is_some());
    let exp = decode::<UserClaims>(&expiring.jwt)
        .unwrap()
        .exp
        .expect("exp");
    let now = symphony_protocol::time::now_unix();
    assert!(
        (now..=now + 3700).contains(&exp),
        "exp {exp} is about an hour from {now}"
    );
}

//! Licenses (docs/protocol.md §13): the vendor tool signs with `symphony license keygen|sign`, the
//! server accepts only its trusted vendors' licenses for its own deployment, administrators upload,
//! list and revoke them, and extensions read the enforcement state on
//! `cirata.services.usage.enforcement` and receive every change on `cirata.symphony.enforcement`
//! — also the changes time alone makes (an expiry, the end of a grace period).

use std::path::Path;

use async_nats::Subscriber;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use symphony_protocol::ErrorCode;
use symphony_protocol::license::Enforcement;
use symphony_protocol::subjects::{SYMPHONY_ENFORCEMENT, USAGE_ENFORCEMENT};
use symphony_tests::platform::{Platform, PlatformOptions, run_symphony, run_symphony_ok};
use symphony_tests::users::{ADMIN_PASSWORD, AuditEvent};
use symphony_tests::{DEFAULT_DEADLINE, KeyConn, RestReply};

/// `symphony license keygen --out <dir>/<name>.seed`: the seed file and the public key.
async fn keygen(dir: &Path, name: &str) -> (String, String) {
    let seed = dir.join(format!("{name}.seed"));
    let out = run_symphony_ok(["license", "keygen", "--out", seed.to_str().unwrap()]).await;
    let public = out
        .lines()
        .find_map(|l| l.strip_prefix("vendor public key: "))
        .unwrap_or_else(|| panic!("keygen prints the public key: {out:?}"))
        .trim()
        .to_owned();
    assert!(public.starts_with('O'), "{public}");
    let written = std::fs::read_to_string(&seed).unwrap();
    assert!(written.trim().starts_with("SO"), "an operator seed");
    assert!(
        !out.contains(written.trim()),
        "with --out the seed is not printed"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&seed).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the seed file is private");
    (seed.display().to_string(), public)
}

/// `symphony license sign` with `extra` flags; the signed license JSON it prints.
async fn sign(seed: &str, id: &str, deployment: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "license",
        "sign",
        "--seed-file",
        seed,
        "--id",
        id,
        "--customer",
        "Acme",
        "--deployment",
        deployment,
        "--units",
        "1000",
        "--rate",
        "lic.items=1",
    ];
    args.extend_from_slice(extra);
    let out = run_symphony_ok(&args).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("sign prints JSON ({e}): {out}"))
}

/// The server with `vendor` trusted, and the admin's session token.
async fn platform_trusting(vendor: &str) -> (Platform, String) {
    let platform = Platform::start(
        PlatformOptions::default()
            .admin_password(ADMIN_PASSWORD)
            .arg("--license-vendor-key")
            .arg(vendor),
    )
    .await;
    let admin = platform.login_admin().await.token;
    (platform, admin)
}

async fn deployment_of(platform: &Platform) -> String {
    let info = platform
        .call(Method::GET, "/symphonyinfo", None, None)
        .await;
    let id = info.json()["deployment_id"]
        .as_str()
        .unwrap_or_else(|| panic!("symphonyinfo names the deployment: {info}"))
        .to_owned();
    assert!(id.starts_with("dep_"), "{id}");
    id
}

fn assert_code(reply: &RestReply, status: u16, code: ErrorCode, what: &str) {
    assert_eq!(reply.status, status, "{what}: {reply}");
    assert_eq!(reply.json()["code"], code.as_str(), "{what}: {reply}");
}

/// The enforcement state an extension asks for.
async fn requested(conn: &KeyConn) -> Enforcement {
    conn.request_json(USAGE_ENFORCEMENT, &json!({}))
        .await
        .expect("the enforcement service answers")
}

/// Waits for a broadcast with `status`; returns the statuses seen on the way (consecutive repeats
/// once).
async fn broadcast_until(sub: &mut Subscriber, status: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + DEFAULT_DEADLINE;
    loop {
        let msg = tokio::time::timeout_at(deadline, sub.next())
            .await
            .unwrap_or_else(|_| panic!("no {status} broadcast; saw {seen:?}"))
            .expect("the subscription is open");
        let state: Enforcement = serde_json::from_slice(&msg.payload)
            .unwrap_or_else(|e| panic!("a broadcast is the enforcement object ({e})"));
        if seen.last() != Some(&state.status) {
            seen.push(state.status.clone());
        }
        if state.status == status {
            return seen;
        }
    }
}

#[tokio::test]
async fn licenses_are_verified_uploaded_listed_revoked_and_enforced() {
    let keys = tempfile::tempdir().unwrap();
    let (seed, vendor) = keygen(keys.path(), "vendor").await;
    let (stranger_seed, _) = keygen(keys.path(), "stranger").await;
    let (platform, admin) = platform_trusting(&vendor).await;
    let deployment = deployment_of(&platform).await;

    // An extension sees no license: enforced, on request.
    let conn = platform.registered_extension("Lic", "lic", &[]).await;
    let mut broadcasts = conn.client.subscribe(SYMPHONY_ENFORCEMENT).await.unwrap();
    conn.client.flush().await.unwrap();
    let before = requested(&conn).await;
    assert_eq!(before.status, "enforcement_enforced", "{before:?}");
    assert_eq!(before.message, "no valid license");

    // Refusals, each typed.
    let good = sign(
        &seed,
        "lic-1",
        &deployment,
        &["--expires", "30d", "--grace", "7d"],
    )
    .await;
    let other = sign(&seed, "lic-2", &deployment, &["--expires", "60d"]).await;
    let mut tampered = good.clone();
    tampered["payload"] = other["payload"].clone();
    let foreign = sign(&stranger_seed, "lic-3", &deployment, &["--expires", "30d"]).await;
    let elsewhere = sign(
        &seed,
        "lic-4",
        "dep_aaaaaaaaaaaaaaaaaaaa",
        &["--expires", "30d"],
    )
    .await;
    let mut garbage = good.clone();
    garbage["payload"] = json!("%%%");
    for (body, code, what) in [
        (
            &tampered,
            ErrorCode::BadLicenseSignature,
            "another payload under a signature",
        ),
        (
            &foreign,
            ErrorCode::UnknownVendorKey,
            "a vendor this server does not trust",
        ),
        (
            &elsewhere,
            ErrorCode::LicenseOtherDeployment,
            "another deployment's license",
        ),
        (
            &garbage,
            ErrorCode::InvalidLicense,
            "a payload that is not base64url",
        ),
        (
            &json!({"license": "yes"}),
            ErrorCode::InvalidLicense,
            "not a signed license",
        ),
    ] {
        let reply = platform
            .call(Method::POST, "/licenses", Some(&admin), Some(body))
            .await;
        assert_code(&reply, 400, code, what);
    }

    // Only administrators manage licenses; anyone signed in reads the enforcement state.
    let viewer = platform.add_user(&admin, "vera", &["viewer"]).await.token;
    let reply = platform
        .call(Method::POST, "/licenses", Some(&viewer), Some(&good))
        .await;
    assert_code(&reply, 403, ErrorCode::Forbidden, "a viewer uploads");
    let reply = platform
        .call(Method::GET, "/licenses", Some(&viewer), None)
        .await;
    assert_code(&reply, 403, ErrorCode::Forbidden, "a viewer lists");
    let reply = platform
        .call(Method::GET, "/usage/enforcement", Some(&viewer), None)
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.json()["status"], "enforcement_enforced");
    assert!(
        platform
            .call(Method::GET, "/licenses", None, None)
            .await
            .status
            == 401
    );

    // The upload: 201 with the view; the extension hears the change and asks again.
    let reply = platform
        .call(Method::POST, "/licenses", Some(&admin), Some(&good))
        .await;
    assert_eq!(reply.status, 201, "{reply}");
    let view = reply.json();
    assert_eq!(
        (
            &view["id"],
            &view["customer"],
            &view["deployment"],
            &view["state"]
        ),
        (
            &json!("lic-1"),
            &json!("Acme"),
            &json!(deployment),
            &json!("active")
        ),
        "{view}"
    );
    assert_eq!(
        (view["units"].as_f64(), view["consumed"].as_f64()),
        (Some(1000.0), Some(0.0))
    );
    assert_eq!(view["rates"], json!({"lic": {"items": 1.0}}));
    assert_eq!(view["grace_secs"], 7 * 86_400);
    let seen = broadcast_until(&mut broadcasts, "enforcement_ok").await;
    assert_eq!(
        seen.last().map(String::as_str),
        Some("enforcement_ok"),
        "{seen:?}"
    );
    let now = requested(&conn).await;
    assert_eq!(now.status, "enforcement_ok", "{now:?}");
    assert_eq!((now.units_licensed, now.units_consumed), (1000.0, 0.0));
    let reply = platform
        .call(Method::POST, "/licenses", Some(&admin), Some(&good))
        .await;
    assert_code(&reply, 409, ErrorCode::AlreadyExists, "the same id again");

    // The list shows the state now.
    let list = platform
        .call(Method::GET, "/licenses", Some(&admin), None)
        .await;
    assert_eq!(list.status, 200, "{list}");
    let states: Vec<(Value, Value)> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["id"].clone(), l["state"].clone()))
        .collect();
    assert_eq!(states, vec![(json!("lic-1"), json!("active"))]);

    // Revoking: listed as revoked, enforcement back to enforced, heard by the extension.
    let reply = platform
        .call(Method::DELETE, "/licenses/lic-1", Some(&admin), None)
        .await;
    assert_eq!(reply.status, 204, "{reply}");
    broadcast_until(&mut broadcasts, "enforcement_enforced").await;
    assert_eq!(requested(&conn).await.status, "enforcement_enforced");
    let list = platform
        .call(Method::GET, "/licenses", Some(&admin), None)
        .await;
    assert_eq!(list.json()[0]["state"], "revoked", "{list}");
    let reply = platform
        .call(Method::DELETE, "/licenses/nope", Some(&admin), None)
        .await;
    assert_code(&reply, 404, ErrorCode::LicenseNotFound, "an unknown id");
    let reply = platform
        .call(Method::POST, "/licenses", Some(&admin), Some(&good))
        .await;
    assert_code(
        &reply,
        409,
        ErrorCode::AlreadyExists,
        "a revoked id uploaded again",
    );

    // Both changes are audited.
    let events: Vec<AuditEvent> = platform.audit(&admin, 50).await;
    for action in ["license_added", "license_removed"] {
        assert!(
            events
                .iter()
                .any(|e| e.action.as_str() == action && e.target == "lic-1" && e.actor == "admin"),
            "{action} in {events:?}"
        );
    }
}

#[tokio::test]
async fn enforcement_follows_expiry_and_grace_without_any_request() {
    let keys = tempfile::tempdir().unwrap();
    let (seed, vendor) = keygen(keys.path(), "vendor").await;
    let (platform, admin) = platform_trusting(&vendor).await;
    let deployment = deployment_of(&platform).await;
    let conn = platform.registered_extension("Lic", "lic", &[]).await;
    let mut broadcasts = conn.client.subscribe(SYMPHONY_ENFORCEMENT).await.unwrap();
    conn.client.flush().await.unwrap();

    // Expires in about 3 s, then 2 s of grace.
    let short = sign(
        &seed,
        "short",
        &deployment,
        &[
            "--starts",
            "2020-01-01T00:00:00Z",
            "--expires",
            "3s",
            "--grace",
            "2s",
        ],
    )
    .await;
    let reply = platform
        .call(Method::POST, "/licenses", Some(&admin), Some(&short))
        .await;
    assert_eq!(reply.status, 201, "{reply}");
    broadcast_until(&mut broadcasts, "enforcement_ok").await;
    let seen = broadcast_until(&mut broadcasts, "enforcement_enforced").await;
    assert_eq!(
        seen,
        ["enforcement_grace", "enforcement_enforced"],
        "after ok, the broadcast walks to grace and then enforced by itself"
    );
    let list = platform
        .call(Method::GET, "/licenses", Some(&admin), None)
        .await;
    assert_eq!(list.json()[0]["state"], "expired", "{list}");
}

#[tokio::test]
async fn the_vendor_tool_refuses_bad_input_with_typed_errors() {
    let keys = tempfile::tempdir().unwrap();
    let (seed, _) = keygen(keys.path(), "vendor").await;
    let base = [
        "license",
        "sign",
        "--seed-file",
        &seed,
        "--customer",
        "Acme",
        "--deployment",
        "dep_aaaaaaaaaaaaaaaaaaaa",
    ];
    for (extra, says) in [
        (
            vec!["--id", "a b", "--units", "10", "--expires", "1d"],
            "(invalid_license)",
        ),
        (
            vec!["--id", "a", "--units", "10", "--expires", "next year"],
            "(invalid_license)",
        ),
        (
            vec!["--id", "a", "--expires", "1d", "--units=-1"],
            "(invalid_license)",
        ),
        (
            vec![
                "--id",
                "a",
                "--units",
                "10",
                "--expires",
                "1d",
                "--rate",
                "x",
            ],
            "<prefix>.<dimension>=<number>",
        ),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(extra.iter().copied());
        let out = run_symphony(&args).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Not a vendor seed; an existing seed file is not overwritten.
    let bogus = keys.path().join("bogus.seed");
    std::fs::write(&bogus, "not a seed").unwrap();
    let out = run_symphony([
        "license",
        "sign",
        "--seed-file",
        bogus.to_str().unwrap(),
        "--id",
        "a",
        "--customer",
        "A",
        "--deployment",
        "dep_aaaaaaaaaaaaaaaaaaaa",
        "--units",
        "1",
        "--expires",
        "1d",
    ])
    .await;
    assert!(!out.status.success());
    let out = run_symphony(["license", "keygen", "--out", &seed]).await;
    assert!(
        !out.status.success(),
        "keygen over an existing seed must fail"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not overwriting"));
}

/// `symphony <args>` with a private config dir (no OS credential store), stdin piped in.
async fn cli(config: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(symphony_tests::bins::symphony());
    cmd.args(args)
        .env("SYMPHONY_CONFIG_DIR", config.join("symphony"))
        .env("HOME", config)
        .env("RUST_LOG", "warn")
        .env_remove("SYMPHONY_CREDENTIAL")
        .env_remove("SYMPHONY_CA_FILE")
        .env_remove("SYMPHONY_DATA_DIR")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    symphony_tests::process::die_with_parent(cmd.as_std_mut());
    let mut child = cmd.spawn().expect("spawn symphony");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    pipe.write_all(stdin.unwrap_or_default().as_bytes())
        .await
        .expect("write stdin");
    drop(pipe);
    tokio::time::timeout(DEFAULT_DEADLINE, child.wait_with_output())
        .await
        .expect("the CLI finishes")
        .expect("the CLI runs")
}

#[tokio::test]
async fn an_administrator_manages_licenses_from_the_cli() {
    let keys = tempfile::tempdir().unwrap();
    let (seed, vendor) = keygen(keys.path(), "vendor").await;
    let (platform, _) = platform_trusting(&vendor).await;
    let deployment = deployment_of(&platform).await;
    let config = tempfile::tempdir().unwrap();
    let config = config.path();
    let url = platform.http_url();
    let login = cli(
        config,
        &[
            "login",
            "--address",
            &url,
            "--username",
            "admin",
            "--password-stdin",
            "--insecure-storage",
        ],
        Some(&format!("{ADMIN_PASSWORD}\n")),
    )
    .await;
    assert!(login.status.success(), "{login:?}");
    let ok = |out: &std::process::Output| {
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    // `symphony info` names the deployment a vendor signs for.
    let info = ok(&cli(config, &["info"], None).await);
    assert!(info.contains(&deployment), "{info}");

    // sign --out, add, list, remove.
    let file = keys.path().join("lic.json");
    run_symphony_ok([
        "license",
        "sign",
        "--seed-file",
        &seed,
        "--id",
        "cli-1",
        "--customer",
        "Acme",
        "--deployment",
        &deployment,
        "--units",
        "50",
        "--expires",
        "30d",
        "--rate",
        "lic.items=1",
        "--out",
        file.to_str().unwrap(),
    ])
    .await;
    let added = ok(&cli(config, &["license", "add", file.to_str().unwrap()], None).await);
    assert!(
        added.contains("cli-1") && added.contains("active"),
        "{added}"
    );
    let again = cli(config, &["license", "add", file.to_str().unwrap()], None).await;
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already_exists"),
        "{again:?}"
    );
    let listed = ok(&cli(config, &["license", "list"], None).await);
    assert!(
        listed.contains("cli-1") && listed.contains("active"),
        "{listed}"
    );
    ok(&cli(config, &["license", "remove", "cli-1"], None).await);
    let listed: Value =
        serde_json::from_str(&ok(&cli(config, &["license", "list", "--json"], None).await))
            .unwrap();
    assert_eq!(listed[0]["state"], "revoked", "{listed}");
    let missing = cli(config, &["license", "remove", "nope"], None).await;
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("license_not_found"),
        "{missing:?}"
    );
}

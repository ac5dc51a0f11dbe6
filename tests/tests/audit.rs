//! The audit trail records what matters (issue 12): an extension's first registration and every
//! manifest replacement (with what changed), refused provisioning, key exchanges and browser
//! credentials; and a write that fails is an error in the log and a count at `GET /metrics`.

use serde_json::Value;
use symphony_protocol::messages::RegisterReply;
use symphony_protocol::rest::AuditEvent;
use symphony_protocol::subjects;
use symphony_tests::users::ADMIN_PASSWORD;
use symphony_tests::{DEFAULT_DEADLINE, Platform, PlatformOptions, eventually, manifest};

fn count(audit: &[AuditEvent], action: &str, target: &str) -> usize {
    audit
        .iter()
        .filter(|e| e.action == action && e.target == target)
        .count()
}

#[tokio::test]
async fn registrations_manifest_changes_and_refused_provisioning_are_audited() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let admin = platform.login_admin().await;
    let conn = platform.registered_extension("Audited", "aud", &[]).await;
    let actor = format!("key:{}", conn.key_id());
    let audit = platform.audit(&admin.token, 200).await;
    assert!(
        audit.iter().any(|e| e.action == "extension_registered"
            && e.actor == actor
            && e.target == "extension:aud"),
        "{audit:?}"
    );
    // Its key was exchanged for NATS credentials (connect_as), from this address.
    assert!(
        audit.iter().any(|e| e.action == "key_exchanged"
            && e.actor == actor
            && e.target == actor
            && e.address == "127.0.0.1"),
        "{audit:?}"
    );

    // The same manifest again (a restart, a reconnect) is not a change; a new description is.
    let register = |m: Value| {
        let conn = &conn;
        async move {
            let _: RegisterReply = conn
                .request_json(&conn.register_subject(), &m)
                .await
                .expect("registers");
        }
    };
    register(manifest::with_buckets("Audited", "aud", &["aud_data"])).await;
    let audit = platform.audit(&admin.token, 200).await;
    assert_eq!(
        count(&audit, "manifest_replaced", "extension:aud"),
        0,
        "{audit:?}"
    );
    let mut changed = manifest::with_buckets("Audited", "aud", &["aud_data"]);
    changed["description"] = "now with a description".into();
    register(changed).await;
    let audit = platform.audit(&admin.token, 200).await;
    let replaced: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "manifest_replaced" && e.target == "extension:aud")
        .collect();
    assert_eq!(replaced.len(), 1, "{audit:?}");
    assert_eq!(replaced[0].actor, actor);
    assert_eq!(replaced[0].detail, "changed: description", "{audit:?}");

    // A registration token bound to one prefix asks for another: refused and audited.
    let registration = platform
        .token_create_registration_with(&["--prefix", "bound"])
        .await;
    let reg = platform.connect_as(&registration).await;
    let refused: Result<Value, _> = reg
        .request_json(
            &subjects::provision(reg.key_id()),
            &manifest::provision_request("Elsewhere", "elsewhere"),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let audit = platform.audit(&admin.token, 200).await;
    let failed = audit
        .iter()
        .find(|e| e.action == "provisioning_failed")
        .unwrap_or_else(|| panic!("no provisioning_failed: {audit:?}"));
    assert_eq!(failed.actor, format!("key:{}", reg.key_id()));
    assert_eq!(failed.target, "extension:elsewhere");
    assert!(failed.detail.starts_with("prefix_mismatch: "), "{failed:?}");
}

#[tokio::test]
async fn a_failed_audit_write_is_logged_and_counted_at_metrics() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let metrics = || async {
        let reply = platform
            .http()
            .get(format!("{}/metrics", platform.http_url()))
            .send()
            .await?;
        anyhow::ensure!(reply.status() == 200, "GET /metrics: {}", reply.status());
        let text = reply.text().await?;
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix("symphony_audit_write_failures_total "))
            .ok_or_else(|| anyhow::anyhow!("no audit failure counter in {text}"))?;
        Ok::<u64, anyhow::Error>(value.trim().parse()?)
    };
    assert_eq!(metrics().await.unwrap(), 0);

    // Break the trail on purpose: delete the audit stream as the server's own user.
    let identity = symphony_server::identity::Identity::load(platform.data_dir()).unwrap();
    let server = symphony_server::bus::connect::connect_server(
        &identity,
        &[platform.nats_url().to_owned()],
        platform.tls_ca(),
    )
    .await
    .unwrap();
    async_nats::jetstream::new(server)
        .delete_stream(subjects::AUDIT_STREAM)
        .await
        .unwrap();

    // A sign-in is audited; its audit write now fails, but the sign-in itself does not.
    platform.login_admin().await;
    eventually("the failure to be counted", DEFAULT_DEADLINE, || async {
        anyhow::ensure!(metrics().await? >= 1, "not counted yet");
        Ok(())
    })
    .await;
    let logs = platform.logs(400);
    assert!(
        logs.contains("cannot write the audit trail") && logs.contains("ERROR"),
        "{logs}"
    );
}

#[tokio::test]
async fn a_key_edit_and_browser_credentials_are_audited() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let admin = platform.login_admin().await;
    let token = platform
        .key_create_with(&[
            "--capability",
            "pub:extensions.catalog.list",
            "--name",
            "report",
        ])
        .await;
    let id = symphony_tests::platform::key_id_of(&token);
    let body = serde_json::json!({
        "capabilities": ["pub:extensions.catalog.add"],
        "notes": "nightly",
        "expires_in": "30d"
    });
    let reply = platform
        .call(
            reqwest::Method::PUT,
            &format!("/key/{id}"),
            Some(&admin.token),
            Some(&body),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    let audit = platform.audit(&admin.token, 200).await;
    let updated = audit
        .iter()
        .find(|e| e.action == "key_updated" && e.target == format!("key:{id}"))
        .unwrap_or_else(|| panic!("no key_updated: {audit:?}"));
    assert_eq!(updated.actor, "admin");
    assert!(
        updated.detail.starts_with(
            "capabilities: added [pub:extensions.catalog.add], removed [pub:extensions.catalog.list]; expires: never -> "
        ) && updated.detail.ends_with("; notes: 7 characters"),
        "{updated:?}"
    );

    // Browser credentials for the session are audited too.
    let reply = platform
        .call(reqwest::Method::GET, "/usertoken", Some(&admin.token), None)
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    let session = format!(
        "session:{}",
        symphony_tests::platform::key_id_of(&admin.token)
    );
    let audit = platform.audit(&admin.token, 200).await;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "user_token_issued" && e.actor == "admin" && e.target == session),
        "{audit:?}"
    );
}

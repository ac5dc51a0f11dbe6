//! An extension over its account's JetStream limits (docs/operations.md "Extension accounts and
//! limits"): nats-server refuses the write or the new bucket with a JetStream error the extension
//! sees, and raising the limit (`PUT /api/v1/extensions/{prefix}/limits`) lets it continue.

use async_nats::jetstream::{self, kv, stream::StorageType};
use reqwest::Method;
use serde_json::{Value, json};
use symphony_tests::poll::{DEFAULT_DEADLINE, eventually};
use symphony_tests::users::ADMIN_PASSWORD;
use symphony_tests::{Platform, PlatformOptions};

/// Sets `prefix`'s limits as the administrator, then waits until its account reports them.
async fn set_limits(platform: &Platform, admin: &str, js: &jetstream::Context, limits: Value) {
    let reply = platform
        .call(
            Method::PUT,
            "/extensions/other/limits",
            Some(admin),
            Some(&limits),
        )
        .await;
    assert_eq!(reply.status, 200, "PUT limits {limits}: {reply}");
    let want = limits["disk_storage"].as_i64();
    eventually(
        "the account reports the new limits",
        DEFAULT_DEADLINE,
        || async {
            let account = js.query_account().await?;
            anyhow::ensure!(
                account.limits.max_storage == want,
                "max_storage {:?}",
                account.limits.max_storage
            );
            Ok(())
        },
    )
    .await;
}

fn bucket(name: &str, max_bytes: i64, storage: StorageType) -> kv::Config {
    kv::Config {
        bucket: name.into(),
        max_bytes,
        storage,
        ..Default::default()
    }
}

#[tokio::test]
async fn an_extension_over_its_limits_gets_jetstream_errors_until_they_are_raised() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let other = platform.registered_extension("Other", "other", &[]).await;
    let js = jetstream::new(other.client.clone());
    let admin = platform.login_admin().await;
    set_limits(
        &platform,
        &admin.token,
        &js,
        json!({"disk_storage": 64 << 10, "mem_storage": 64 << 10, "streams": 3, "consumer": 1}),
    )
    .await;

    // Disk: writes go through until the account's storage is used up.
    let data = js
        .get_key_value("other_data")
        .await
        .expect("bind other_data");
    let value = bytes::Bytes::from(vec![b'x'; 20 << 10]);
    let mut refused = None;
    for i in 0..10 {
        if let Err(e) = data.put(format!("k{i}"), value.clone()).await {
            refused = Some((i, e.to_string()));
            break;
        }
    }
    let (at, err) = refused.expect("64 KiB of disk cannot hold 200 KiB");
    assert!(at >= 2, "the first writes fit: refused at write {at}");
    assert!(
        err.contains("resource limits exceeded for account"),
        "{err}"
    );

    // A bucket whose own size does not fit in what the account has left.
    let err = js
        .create_key_value(bucket("huge", 1 << 20, StorageType::File))
        .await
        .expect_err("a 1 MiB bucket in a 64 KiB account")
        .to_string();
    assert!(
        err.contains("insufficient storage resources available"),
        "{err}"
    );
    let err = js
        .create_key_value(bucket("in_memory", 1 << 20, StorageType::Memory))
        .await
        .expect_err("a 1 MiB memory bucket in a 64 KiB account")
        .to_string();
    assert!(
        err.contains("insufficient memory resources available"),
        "{err}"
    );

    // A bucket's own size (max_bucket_size) is its own limit: "maximum bytes exceeded".
    let small = js
        .create_key_value(bucket("small", 1000, StorageType::File))
        .await
        .expect("a 1000-byte bucket fits");
    let mut errors = Vec::new();
    for i in 0..3 {
        if let Err(e) = small.put(format!("s{i}"), vec![b'y'; 400].into()).await {
            errors.push(e.to_string());
        }
    }
    assert!(
        errors.iter().any(|e| e.contains("maximum bytes exceeded")),
        "{errors:?}"
    );

    // Streams: other_data, small and one more; then no further bucket.
    js.create_key_value(bucket("third", -1, StorageType::File))
        .await
        .expect("the third stream");
    let err = js
        .create_key_value(bucket("fourth", -1, StorageType::File))
        .await
        .expect_err("a fourth stream over a limit of 3")
        .to_string();
    assert!(err.contains("maximum number of streams reached"), "{err}");

    // Consumers: one.
    let stream = js
        .get_stream("KV_other_data")
        .await
        .expect("other_data's stream");
    let consumer = |name: &str| jetstream::consumer::pull::Config {
        durable_name: Some(name.into()),
        ..Default::default()
    };
    stream
        .create_consumer(consumer("first"))
        .await
        .expect("one consumer");
    let err = stream
        .create_consumer(consumer("second"))
        .await
        .expect_err("a second consumer over a limit of 1")
        .to_string();
    assert!(err.contains("maximum consumers limit reached"), "{err}");

    // The administrator raises the disk limit: the refused write goes through.
    set_limits(
        &platform,
        &admin.token,
        &js,
        json!({"disk_storage": 8 << 20, "mem_storage": 64 << 10, "streams": 3, "consumer": 1}),
    )
    .await;
    data.put(format!("k{at}"), value)
        .await
        .expect("the write fits under the raised limit");
}

//! Declared buckets keep the seed's promises: a full bucket discards its oldest entries (it does
//! not refuse new writes), and registering again with changed parameters updates the bucket
//! without losing its data.

use async_nats::jetstream;
use serde_json::{Value, json};
use symphony_protocol::messages::RegisterReply;
use symphony_tests::{Platform, PlatformOptions, manifest};

fn declaring(history: u32, max_bucket_size: u64, description: &str) -> Value {
    let mut m = manifest::minimal("Buckets", "bk");
    m["buckets"] = json!([{
        "name": "bk_data", "description": description, "ttl": 0,
        "max_history_per_key": history, "max_bucket_size": max_bucket_size
    }]);
    m
}

#[tokio::test]
async fn a_full_declared_bucket_discards_its_oldest_entries_and_updates_keep_the_data() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    // registered_extension declares bk_data (unlimited); register again with a 2000-byte limit.
    let conn = platform.registered_extension("Buckets", "bk", &[]).await;
    let register = |m: Value| {
        let conn = &conn;
        async move {
            let reply: RegisterReply = conn
                .request_json(&conn.register_subject(), &m)
                .await
                .expect("registers");
            reply
        }
    };
    register(declaring(1, 2000, "small")).await;
    let js = jetstream::new(conn.client.clone());
    let kv = js
        .get_key_value("bk_data")
        .await
        .expect("the declared bucket");
    for i in 0..12 {
        kv.put(format!("k{i:02}"), vec![b'x'; 300].into())
            .await
            .unwrap_or_else(|e| panic!("write {i} into a full bucket: {e}"));
    }
    assert!(
        kv.get("k00").await.unwrap().is_none(),
        "the oldest entry was discarded"
    );
    assert_eq!(
        kv.get("k11").await.unwrap().map(|v| v.len()),
        Some(300),
        "the newest entry is there"
    );

    // Changed parameters: more history, a bigger limit, another description. The data stays.
    register(declaring(5, 8000, "bigger")).await;
    let info = js
        .get_stream("KV_bk_data")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.config.max_bytes, 8000);
    assert_eq!(info.config.max_messages_per_subject, 5);
    assert_eq!(info.config.description.as_deref(), Some("bigger"));
    assert_eq!(
        info.config.discard,
        jetstream::stream::DiscardPolicy::Old,
        "{:?}",
        info.config
    );
    assert_eq!(kv.get("k11").await.unwrap().map(|v| v.len()), Some(300));
    kv.put("k11", vec![b'y'; 10].into()).await.unwrap();
    let history: Vec<_> = futures::TryStreamExt::try_collect(kv.history("k11").await.unwrap())
        .await
        .unwrap();
    assert_eq!(history.len(), 2, "five values per key are kept now");
}

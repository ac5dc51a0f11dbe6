//! JetStream key-value buckets: creating them with the platform's rules (replicas, TTL, history,
//! size).

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use symphony_protocol::manifest::BucketSpec;

/// Creates or updates a bucket; existing data is kept. A bucket with a size limit discards its
/// oldest entries when full (the seed: "When exceeded, the oldest entries are discarded"), where a
/// plain JetStream KV bucket would refuse new writes.
pub async fn ensure_bucket(
    js: &jetstream::Context,
    spec: &BucketSpec,
    replicas: usize,
) -> anyhow::Result<kv::Store> {
    let store = create_or_update(js, spec, replicas).await?;
    if spec.max_bucket_size > 0 {
        // `get_stream` read the stream's info already: no second round trip.
        let stream = js.get_stream(format!("KV_{}", spec.name)).await?;
        let mut config = stream.cached_info().config.clone();
        if config.discard != jetstream::stream::DiscardPolicy::Old {
            config.discard = jetstream::stream::DiscardPolicy::Old;
            js.update_stream(config).await?;
        }
    }
    Ok(store)
}

async fn create_or_update(
    js: &jetstream::Context,
    spec: &BucketSpec,
    replicas: usize,
) -> anyhow::Result<kv::Store> {
    let config = kv::Config {
        bucket: spec.name.clone(),
        description: spec.description.clone(),
        history: i64::from(spec.max_history_per_key.max(1)),
        max_age: Duration::from_secs(spec.ttl),
        max_bytes: if spec.max_bucket_size == 0 {
            -1
        } else {
            spec.max_bucket_size as i64
        },
        num_replicas: replicas,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    };
    Ok(js.create_or_update_key_value(config).await?)
}

/// A platform bucket spec.
pub fn platform_bucket(name: &str, description: &str, ttl: Duration) -> BucketSpec {
    BucketSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        ttl: ttl.as_secs(),
        max_history_per_key: 1,
        max_bucket_size: 0,
    }
}

/// An existing bucket of a running server, unchanged (one-shot CLI commands).
pub async fn bind_bucket(js: &jetstream::Context, name: &str) -> anyhow::Result<kv::Store> {
    js.get_key_value(name)
        .await
        .map_err(|e| anyhow::anyhow!("bucket {name} is missing ({e}); is the server initialised?"))
}

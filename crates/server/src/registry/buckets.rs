//! Bucket management: the platform's own buckets and the ones extensions declare, with replicas
//! from the cluster size and ownership by prefix.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use symphony_protocol::manifest::BucketSpec;
use symphony_protocol::{ErrorBody, ErrorCode};

/// Creates or updates a bucket; existing data is kept.
pub async fn ensure_bucket(
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

/// Ownership of bucket names (`symphony_buckets`: bucket → prefix).
#[derive(Clone)]
pub struct BucketOwners {
    kv: kv::Store,
}

impl BucketOwners {
    pub fn new(kv: kv::Store) -> Self {
        BucketOwners { kv }
    }

    pub async fn owner(&self, bucket: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .kv
            .get(bucket)
            .await?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Fails with `bucket_owned` when another prefix owns one of `buckets`.
    pub async fn check(&self, prefix: &str, buckets: &[String]) -> Result<(), ErrorBody> {
        for bucket in buckets {
            let owner = self.owner(bucket).await.map_err(internal)?;
            if let Some(owner) = owner.filter(|o| o != prefix) {
                return Err(owned_error(bucket, &owner));
            }
        }
        Ok(())
    }

    /// Claims `buckets` for `prefix` (first claim wins, atomically).
    pub async fn claim(&self, prefix: &str, buckets: &[String]) -> Result<(), ErrorBody> {
        for bucket in buckets {
            if self
                .kv
                .create(bucket, prefix.to_owned().into())
                .await
                .is_err()
            {
                let owner = self.owner(bucket).await.map_err(internal)?;
                match owner {
                    Some(o) if o == prefix => {}
                    Some(o) => return Err(owned_error(bucket, &o)),
                    None => return Err(internal(anyhow::anyhow!("cannot claim bucket {bucket}"))),
                }
            }
        }
        Ok(())
    }
}

fn owned_error(bucket: &str, owner: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::BucketOwned,
        format!("bucket {bucket:?} belongs to extension {owner:?}"),
    )
    .with_hint("choose another bucket name under your own prefix")
}

pub fn internal(e: impl std::fmt::Display) -> ErrorBody {
    tracing::error!(error = %e, "internal error");
    ErrorBody::new(ErrorCode::Internal, "internal error; see the server log")
}

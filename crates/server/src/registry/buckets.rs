//! Ownership of bucket names by extension prefix (`symphony_buckets`).

use async_nats::jetstream::kv;
use symphony_protocol::{ErrorBody, ErrorCode};

use crate::error::internal;

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

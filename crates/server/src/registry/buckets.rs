//! Ownership of bucket names by extension prefix (`symphony_buckets`).

use symphony_protocol::{ErrorBody, ErrorCode};

use crate::bus::table::{Table, Text};
use crate::error::internal;

/// Ownership of bucket names (`symphony_buckets`: bucket → prefix).
#[derive(Clone)]
pub struct BucketOwners {
    /// Read and written straight through the KV: claims are compare-and-swap.
    table: Table<String, Text>,
}

impl BucketOwners {
    pub fn new(table: Table<String, Text>) -> Self {
        BucketOwners { table }
    }

    pub async fn owner(&self, bucket: &str) -> anyhow::Result<Option<String>> {
        Ok(self.table.get(bucket).await?.map(|v| (*v.value).clone()))
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
            if !matches!(
                self.table.create(bucket, prefix.to_owned()).await,
                Ok(Some(_))
            ) {
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

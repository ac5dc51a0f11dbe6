//! A key-value bucket's declaration (docs/protocol.md §5.2 `buckets`): its name and the options Symphony
//! creates it with.

use std::time::Duration;

use symphony_protocol::manifest::BucketSpec;
use symphony_protocol::{ErrorBody, ErrorCode};

/// A key-value bucket to declare with [`Extension::add_bucket`](crate::Extension::add_bucket), named
/// `<prefix>` or `<prefix>_<name>`. Symphony creates (or updates) it at registration and grants the
/// extension access. Each option keeps the server's default until it is set; a bare name converts into a
/// `BucketConfig` without options.
///
/// ```
/// use std::time::Duration;
/// use cirata_symphony::{BucketConfig, Extension};
///
/// # fn main() -> cirata_symphony::Result<()> {
/// let mut ext = Extension::new("Catalog", "catalog");
/// ext.add_bucket(BucketConfig::new("catalog_items").description("Catalog item storage"))?;
/// ext.add_bucket(
///     BucketConfig::new("catalog_cache")
///         .ttl(Duration::from_secs(3600))
///         .max_history_per_key(5)
///         .max_bucket_size(64 * 1024 * 1024),
/// )?;
/// ext.add_bucket("catalog")?;
/// assert_eq!(ext.manifest().buckets[1].ttl, 3600);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    name: String,
    description: String,
    ttl: Duration,
    max_history_per_key: u32,
    max_bucket_size: u64,
}

impl BucketConfig {
    /// A bucket named `name` (`<prefix>` or `<prefix>_<name>`, checked when it is declared), without a
    /// description, whose entries never expire, with one value per key and no size limit.
    ///
    /// ```
    /// let bucket = cirata_symphony::BucketConfig::new("catalog_items");
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        BucketConfig {
            name: name.into(),
            description: String::new(),
            ttl: Duration::ZERO,
            max_history_per_key: 0,
            max_bucket_size: 0,
        }
    }

    /// What the bucket holds, for people.
    ///
    /// ```
    /// let bucket = cirata_symphony::BucketConfig::new("catalog_items").description("Catalog items");
    /// ```
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// How long an entry lives, in whole seconds (`Duration::ZERO`, the default: forever). A fraction of a
    /// second is refused when the bucket is declared.
    ///
    /// ```
    /// use std::time::Duration;
    /// let bucket = cirata_symphony::BucketConfig::new("catalog_cache").ttl(Duration::from_secs(60));
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many values per key the bucket keeps, 0–64 (0, the default: the server's default, 1).
    ///
    /// ```
    /// let bucket = cirata_symphony::BucketConfig::new("catalog_items").max_history_per_key(10);
    /// ```
    pub fn max_history_per_key(mut self, max_history_per_key: u32) -> Self {
        self.max_history_per_key = max_history_per_key;
        self
    }

    /// The bucket's size limit in bytes (0, the default: unlimited).
    ///
    /// ```
    /// let bucket = cirata_symphony::BucketConfig::new("catalog_items").max_bucket_size(1 << 20);
    /// ```
    pub fn max_bucket_size(mut self, max_bucket_size: u64) -> Self {
        self.max_bucket_size = max_bucket_size;
        self
    }

    /// The manifest entry, with the checks that need no prefix (name and history are the manifest's
    /// checks, made by the declarations).
    pub(crate) fn to_spec(&self) -> Result<BucketSpec, ErrorBody> {
        if self.ttl.subsec_nanos() != 0 {
            return Err(ErrorBody::new(
                ErrorCode::InvalidBucket,
                format!(
                    "bucket {:?}: ttl {:?} is not a whole number of seconds (Symphony keeps the ttl in seconds; \
                     Duration::ZERO = no expiry)",
                    self.name, self.ttl
                ),
            ));
        }
        Ok(BucketSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            ttl: self.ttl.as_secs(),
            max_history_per_key: self.max_history_per_key,
            max_bucket_size: self.max_bucket_size,
        })
    }
}

impl From<&str> for BucketConfig {
    /// A bucket without options: `ext.add_bucket("catalog_items")`.
    fn from(name: &str) -> Self {
        BucketConfig::new(name)
    }
}

impl From<String> for BucketConfig {
    /// A bucket without options.
    fn from(name: String) -> Self {
        BucketConfig::new(name)
    }
}

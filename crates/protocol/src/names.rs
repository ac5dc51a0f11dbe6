//! Names with rules: extension prefixes, bucket names, subject tokens (docs/protocol.md §4.1).

use crate::error::{ErrorBody, ErrorCode};

/// Longest allowed prefix.
pub const MAX_PREFIX_LEN: usize = 32;
/// Longest allowed bucket name.
pub const MAX_BUCKET_LEN: usize = 64;
/// Bucket names reserved for the platform start with this.
pub const RESERVED_BUCKET_PREFIX: &str = "symphony_";

/// `^[a-z][a-z0-9_]{0,31}$`.
pub fn validate_prefix(prefix: &str) -> Result<(), ErrorBody> {
    let mut bytes = prefix.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if first_ok && rest_ok && prefix.len() <= MAX_PREFIX_LEN {
        return Ok(());
    }
    Err(ErrorBody::new(
        ErrorCode::InvalidPrefix,
        format!("invalid prefix {prefix:?}"),
    )
    .with_hint(
        "a prefix is 1-32 characters: a lowercase letter, then lowercase letters, digits or _",
    ))
}

/// A bucket name: `[A-Za-z0-9_-]`, 1-64 characters, not `symphony_…`. Each extension has its
/// own account and JetStream, so names of different extensions never collide; `symphony_…` stays
/// reserved because `$KV.symphony_status.…` is where an instance reports its status.
pub fn validate_bucket(bucket: &str) -> Result<(), ErrorBody> {
    let charset_ok = !bucket.is_empty()
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let reserved = bucket.starts_with(RESERVED_BUCKET_PREFIX);
    if charset_ok && !reserved && bucket.len() <= MAX_BUCKET_LEN {
        return Ok(());
    }
    Err(
        ErrorBody::new(ErrorCode::InvalidBucket, format!("invalid bucket name {bucket:?}"))
            .with_hint(format!(
                "use letters, digits, _ and - (at most {MAX_BUCKET_LEN} characters); names starting {RESERVED_BUCKET_PREFIX} are reserved"
            )),
    )
}

/// A literal NATS subject token: non-empty, no whitespace, no `.`, no wildcard characters.
pub fn is_literal_token(token: &str) -> bool {
    !token.is_empty()
        && !token
            .bytes()
            .any(|b| b.is_ascii_whitespace() || matches!(b, b'.' | b'*' | b'>'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        for ok in [
            "a",
            "catalog",
            "my_ext",
            "x9",
            "abcdefghijklmnopqrstuvwxyz012345",
        ] {
            assert!(validate_prefix(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "9a",
            "_a",
            "My",
            "a-b",
            "a.b",
            "a b",
            "abcdefghijklmnopqrstuvwxyz0123456",
        ] {
            assert_eq!(
                validate_prefix(bad).unwrap_err().code,
                ErrorCode::InvalidPrefix,
                "{bad}"
            );
        }
    }

    #[test]
    fn buckets() {
        for ok in [
            "catalog",
            "catalog_items",
            "other_items",
            "runtime_data",
            "A-2",
        ] {
            assert!(validate_bucket(ok).is_ok(), "{ok}");
        }
        for bad in ["catalog_a.b", "", "catalog_a b", "a*", "symphony_keys"] {
            assert_eq!(
                validate_bucket(bad).unwrap_err().code,
                ErrorCode::InvalidBucket,
                "{bad}"
            );
        }
    }
}

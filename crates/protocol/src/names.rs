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

/// A bucket is named `<prefix>` or `<prefix>_<name>` with `[A-Za-z0-9_-]`, at most 64 characters.
pub fn validate_bucket(prefix: &str, bucket: &str) -> Result<(), ErrorBody> {
    let charset_ok = !bucket.is_empty()
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let owned = bucket == prefix
        || bucket
            .strip_prefix(prefix)
            .is_some_and(|r| r.len() > 1 && r.starts_with('_'));
    let reserved = bucket.starts_with(RESERVED_BUCKET_PREFIX);
    if charset_ok && owned && !reserved && bucket.len() <= MAX_BUCKET_LEN {
        return Ok(());
    }
    Err(ErrorBody::new(ErrorCode::InvalidBucket, format!("invalid bucket name {bucket:?} for prefix {prefix:?}"))
        .with_hint(format!(
            "name buckets `{prefix}` or `{prefix}_<name>` using letters, digits, _ and - (at most {MAX_BUCKET_LEN} characters)"
        )))
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
        for ok in ["catalog", "catalog_items", "catalog_Items-2"] {
            assert!(validate_bucket("catalog", ok).is_ok(), "{ok}");
        }
        for bad in [
            "other_items",
            "catalogitems",
            "catalog_",
            "catalog_a.b",
            "",
            "catalog_a b",
        ] {
            assert_eq!(
                validate_bucket("catalog", bad).unwrap_err().code,
                ErrorCode::InvalidBucket,
                "{bad}"
            );
        }
        assert!(validate_bucket("symphony", "symphony_keys").is_err());
    }
}

//! Names with rules: extension prefixes, bucket names, user and role names, subject tokens
//! (docs/protocol.md §4.1, §9). Every name a caller supplies is checked here before it becomes part
//! of a KV key or a subject: NATS closes a connection whose control line is too long (4 KiB).

use crate::error::{ErrorBody, ErrorCode};

/// Longest allowed prefix.
pub const MAX_PREFIX_LEN: usize = 32;
/// Longest allowed bucket name.
pub const MAX_BUCKET_LEN: usize = 64;
/// Bucket names reserved for the platform start with this.
pub const RESERVED_BUCKET_PREFIX: &str = "symphony_";

/// Longest allowed user name.
pub const MAX_USERNAME_LEN: usize = 64;
/// Longest allowed role name.
pub const MAX_ROLE_NAME_LEN: usize = 64;
/// Names no user may have: `cli` is how keys the bootstrap CLI made show their owner.
pub const RESERVED_USERNAMES: &[&str] = &["cli"];

/// Quotes `name` for an error message, shortened when long (the message never echoes kilobytes).
fn quoted(name: &str) -> String {
    const SHOWN: usize = 40;
    match name.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}… ({} bytes)", &name[..cut], name.len()),
        None => format!("{name:?}"),
    }
}

/// A user name to create or sign in with: [`validate_username_syntax`], and not reserved (`cli`).
pub fn validate_username(name: &str) -> Result<(), ErrorBody> {
    validate_username_syntax(name)?;
    if RESERVED_USERNAMES.contains(&name) {
        return Err(ErrorBody::new(
            ErrorCode::InvalidRequest,
            format!("username {name:?} is reserved"),
        )
        .with_hint("it names the bootstrap CLI; choose another name"));
    }
    Ok(())
}

/// A user name that may name an existing user (one stored before a name was reserved): 1-64 of
/// letters, digits, `-`, `_`, `.` and `@`.
pub fn validate_username_syntax(name: &str) -> Result<(), ErrorBody> {
    let ok = !name.is_empty()
        && name.len() <= MAX_USERNAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if !ok {
        return Err(ErrorBody::new(
            ErrorCode::InvalidRequest,
            format!("username {} is invalid", quoted(name)),
        )
        .with_hint(format!(
            "1-{MAX_USERNAME_LEN} characters: letters, digits, -, _, . and @"
        )));
    }
    Ok(())
}

/// A role name: 1-64 of letters, digits, `-` and `_`.
pub fn validate_role_name(name: &str) -> Result<(), ErrorBody> {
    let ok = !name.is_empty()
        && name.len() <= MAX_ROLE_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        return Ok(());
    }
    Err(ErrorBody::new(
        ErrorCode::InvalidRequest,
        format!("role name {} is invalid", quoted(name)),
    )
    .with_hint(format!(
        "1-{MAX_ROLE_NAME_LEN} characters: letters, digits, - and _"
    )))
}

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
        format!("invalid prefix {}", quoted(prefix)),
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
        ErrorBody::new(ErrorCode::InvalidBucket, format!("invalid bucket name {}", quoted(bucket)))
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
    fn user_and_role_names_are_bounded_and_cli_is_reserved() {
        assert!(validate_username("alice@example.com").is_ok());
        assert!(validate_username(&"a".repeat(MAX_USERNAME_LEN)).is_ok());
        let long = "a".repeat(2200);
        for bad in ["", "a b", "a.b>", long.as_str(), "cli"] {
            let e = validate_username(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
            assert!(
                e.message.len() < 120,
                "the message stays short: {}",
                e.message
            );
        }
        assert!(
            validate_username("CLI").is_ok(),
            "names are case-sensitive; only cli names the CLI"
        );
        assert!(
            validate_username_syntax("cli").is_ok(),
            "an existing user cli can still be named"
        );
        assert!(validate_role_name("catalog-user").is_ok());
        for bad in ["", "a.b", long.as_str()] {
            assert_eq!(
                validate_role_name(bad).unwrap_err().code,
                ErrorCode::InvalidRequest
            );
        }
        assert!(validate_prefix(&long).unwrap_err().message.len() < 120);
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

//! Wall-clock helpers: unix seconds, nanoseconds and the wire's RFC 3339 timestamps (UTC, to the second).
//!
//! Every timestamp on the wire (status `started_at`/`updated_at`, key `created_at`/`expires_at`, audit
//! records) is RFC 3339 in UTC with whole seconds and a `Z` suffix (docs/protocol.md §5.6), e.g.
//! `2026-11-23T10:00:00Z`. These helpers are the one place that format is written and read.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The wire timestamp of `unix` seconds (instants before the epoch render as the epoch).
pub fn rfc3339(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The wire timestamp of now.
pub fn now_rfc3339() -> String {
    rfc3339(now_unix())
}

/// Unix seconds of an RFC 3339 UTC timestamp (fractional seconds are truncated); `None` if `s` is
/// not one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339(s).ok()?;
    let since = t.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since.as_secs()).ok()
}

/// Nanoseconds since the Unix epoch, the unit of NATS key-value entries' `created` time.
pub fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// The time between `stored` and `now` (zero if `stored` is in the future).
pub fn elapsed(now: i128, stored: i128) -> Duration {
    Duration::from_nanos(u64::try_from((now - stored).max(0)).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_the_epoch() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-5), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn rfc3339_of_a_known_instant() {
        assert_eq!(rfc3339(1_790_157_600), "2026-09-23T10:00:00Z");
        assert_eq!(parse_rfc3339("2026-09-23T10:00:00Z"), Some(1_790_157_600));
    }

    #[test]
    fn now_is_whole_seconds_utc() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z'), "{t}");
        assert_eq!(t.len(), "2026-11-23T10:00:00Z".len(), "{t}");
        let parsed = parse_rfc3339(&t).expect("parses");
        assert!((parsed - now_unix()).abs() <= 1, "{t}");
    }

    #[test]
    fn parse_rejects_what_is_not_rfc3339() {
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2026-09-23 10:00:00"), None);
        assert_eq!(
            parse_rfc3339("2026-09-23T10:00:00.900Z"),
            Some(1_790_157_600)
        );
    }

    #[test]
    fn elapsed_saturates() {
        assert_eq!(
            elapsed(5_000_000_000, 2_000_000_000),
            Duration::from_secs(3)
        );
        assert_eq!(elapsed(1, 10), Duration::ZERO);
        assert_eq!(elapsed(i128::MAX, 0), Duration::from_nanos(u64::MAX));
    }
}

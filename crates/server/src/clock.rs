//! Wall-clock helpers: unix seconds and RFC 3339 strings.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

pub fn rfc3339(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

pub fn now_rfc3339() -> String {
    rfc3339(now_unix())
}

/// Nanoseconds since the Unix epoch, the unit of `kv::Entry::created`.
pub fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// The time between `stored` and `now` (zero if `stored` is in the future).
pub fn elapsed(now: i128, stored: i128) -> Duration {
    Duration::from_nanos(u64::try_from((now - stored).max(0)).unwrap_or(u64::MAX))
}

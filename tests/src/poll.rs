//! Polling with a deadline. Deadlines bound how long a test waits; no test asserts that
//! something happened *faster* than a given time.

use std::future::Future;
use std::time::{Duration, Instant};

/// Default deadline for a condition that should come true "soon".
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
/// How long the server may take to write `ports.json`.
pub const SERVER_START_DEADLINE: Duration = Duration::from_secs(60);
/// Interval between polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Calls `check` until it returns `Ok`, and returns that value. After `deadline` it panics with
/// `what` and the last error.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let start = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match check().await {
            Ok(v) => return v,
            Err(e) if start.elapsed() >= deadline => {
                panic!("{what}: still failing after {deadline:?} ({attempts} attempts): {e:#}")
            }
            Err(_) => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}

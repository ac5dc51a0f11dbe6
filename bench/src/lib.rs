//! Shared pieces of the gateway benchmark (`bench/run.sh`): the request body every load generator sends
//! and the latency summary they print. The programs live in `src/bin`: `echo-ext` (the Rust SDK echo
//! extension behind the gateway), `http-echo` (the upstream nginx proxies to) and `nats-load` (the raw NATS
//! floor). Not a general benchmarking library.

use std::time::Duration;

use serde::Serialize;

/// The request body: a JSON object of exactly `size` bytes (`{"data":"xxx…"}`), the same bytes `post.lua`
/// sends through wrk. Sizes under the 11 bytes of the envelope give the envelope with an empty string.
pub fn json_payload(size: usize) -> Vec<u8> {
    const OPEN: &[u8] = br#"{"data":""#;
    const CLOSE: &[u8] = br#""}"#;
    let fill = size.saturating_sub(OPEN.len() + CLOSE.len());
    let mut body = Vec::with_capacity(OPEN.len() + fill + CLOSE.len());
    body.extend_from_slice(OPEN);
    body.resize(OPEN.len() + fill, b'x');
    body.extend_from_slice(CLOSE);
    body
}

/// The nearest-rank percentile (`p` in 0–100) of ascending `sorted` samples; `None` when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// What `nats-load` prints: one JSON object, latencies in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadSummary {
    pub scenario: String,
    pub connections: usize,
    pub payload_bytes: usize,
    pub duration_s: f64,
    pub requests: usize,
    pub errors: usize,
    pub rps: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LoadSummary {
    /// Summarizes every successful request's latency (sorted in place) over `elapsed`.
    pub fn new(
        scenario: &str,
        connections: usize,
        payload_bytes: usize,
        elapsed: Duration,
        latencies: &mut [Duration],
        errors: usize,
    ) -> Self {
        latencies.sort_unstable();
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
        let total: Duration = latencies.iter().sum();
        let mean_ms = if latencies.is_empty() {
            0.0
        } else {
            total.as_secs_f64() * 1e3 / latencies.len() as f64
        };
        LoadSummary {
            scenario: scenario.to_owned(),
            connections,
            payload_bytes,
            duration_s: elapsed.as_secs_f64(),
            requests: latencies.len(),
            errors,
            rps: latencies.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
            mean_ms,
            p50_ms: ms(percentile(latencies, 50.0)),
            p90_ms: ms(percentile(latencies, 90.0)),
            p99_ms: ms(percentile(latencies, 99.0)),
            p999_ms: ms(percentile(latencies, 99.9)),
            max_ms: ms(latencies.last().copied()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&n| Duration::from_micros(n)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples = us(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&samples, 50.0), Some(Duration::from_micros(50)));
        assert_eq!(percentile(&samples, 99.0), Some(Duration::from_micros(99)));
        assert_eq!(
            percentile(&samples, 100.0),
            Some(Duration::from_micros(100))
        );
        assert_eq!(percentile(&samples, 0.0), Some(Duration::from_micros(1)));
        assert_eq!(percentile(&us(&[7]), 99.9), Some(Duration::from_micros(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn summaries_sort_and_count() {
        let mut samples = us(&[400, 100, 300, 200]);
        let s = LoadSummary::new("nats", 2, 1024, Duration::from_secs(2), &mut samples, 1);
        assert_eq!((s.requests, s.errors), (4, 1));
        assert_eq!(s.rps, 2.0);
        assert_eq!((s.p50_ms, s.p99_ms, s.max_ms), (0.2, 0.4, 0.4));
        assert!((s.mean_ms - 0.25).abs() < 1e-9);
    }

    #[test]
    fn payloads_have_the_exact_size_and_are_json() {
        for size in [11, 64, 1024] {
            let body = json_payload(size);
            assert_eq!(body.len(), size);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(v["data"].is_string());
        }
        assert_eq!(json_payload(0), br#"{"data":""}"#);
    }
}

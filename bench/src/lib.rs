//! Shared pieces of the gateway benchmark (`bench/run.sh`): the request body every load generator sends,
//! the NATS credentials of an API key, and the latency summaries they print. The programs live in
//! `src/bin`: `echo-ext` (the Rust SDK echo extension behind the gateway), `http-echo` (the upstream nginx
//! proxies to), `nats-load` (the raw NATS floor, closed loop) and `open-loop` (raw NATS and the gateway at
//! a fixed arrival rate). Not a general benchmarking library.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::ConnectOptions;
use hdrhistogram::Histogram;
use serde::Serialize;
use symphony_protocol::Address;
use symphony_protocol::messages::ApiKey;

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

/// `GET <origin>/api/v1/apikey`: the key's JWT, seed, NATS URLs and inbox prefix.
pub async fn exchange_api_key(token: &str, address: &Address) -> anyhow::Result<ApiKey> {
    // reqwest is built with `rustls-no-provider`; building a client needs a process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = format!("{}/api/v1/apikey", address.http_base);
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {}", String::from_utf8_lossy(&body));
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {url}: not an API key"))
}

/// One NATS connection with an API key's credentials, named `name`.
pub async fn connect_nats(
    api_key: &ApiKey,
    address: &Address,
    name: String,
) -> anyhow::Result<async_nats::Client> {
    let key_pair = Arc::new(nkeys::KeyPair::from_seed(&api_key.seed)?);
    let urls: Vec<String> = api_key
        .nats_urls
        .iter()
        .map(|u| address.nats_url(u))
        .collect();
    ConnectOptions::with_jwt(api_key.jwt.clone(), move |nonce| {
        let key_pair = key_pair.clone();
        async move { key_pair.sign(&nonce).map_err(async_nats::AuthError::new) }
    })
    .custom_inbox_prefix(&api_key.inbox_prefix)
    .name(name)
    .connect(urls.as_slice())
    .await
    .with_context(|| format!("connect to {}", urls.join(", ")))
}

/// A latency histogram in nanoseconds, 3 significant digits (0.1 % resolution), growing as needed.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is a valid precision")
}

/// Records `d` in a [`latency_histogram`] (nanoseconds; 0 is recorded as 1 ns).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
    // `saturating_record` would clamp to the current range instead of growing it.
    if h.record(ns).is_err() {
        h.saturating_record(ns);
    }
}

/// What `open-loop` prints for one leg (one mode) of its run: latencies in milliseconds, measured from the
/// time each request was *scheduled* to be sent, so a request that waits behind a slow one counts the wait
/// (no coordinated omission).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenLoopLeg {
    /// `nats` or `http`.
    pub mode: String,
    /// The bench/run.sh scenario the leg calls the same way: `raw_nats` or `gateway`.
    pub scenario: String,
    /// Requests the schedule sent in the measured time.
    pub scheduled: u64,
    /// Successful requests (a reply of the request's size; HTTP 2xx).
    pub requests: u64,
    pub errors: u64,
    /// Measured time: the leg's slices, each until its last reply when that came after the slice's end.
    pub duration_s: f64,
    pub achieved_rps: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// How late the request left against its schedule (timer, wake-up, a connection still busy): the load
    /// generator's own share of the latencies above.
    pub send_lag_p50_ms: f64,
    pub send_lag_p99_ms: f64,
    pub send_lag_max_ms: f64,
}

impl OpenLoopLeg {
    /// Summarizes the latencies (`latency`, from the scheduled time) and send lags (`lag`) of one leg, in
    /// nanoseconds, over `elapsed`.
    pub fn new(
        mode: &str,
        scenario: &str,
        scheduled: u64,
        errors: u64,
        elapsed: Duration,
        latency: &Histogram<u64>,
        lag: &Histogram<u64>,
    ) -> Self {
        let ms = |h: &Histogram<u64>, q: f64| {
            if h.is_empty() {
                0.0
            } else {
                h.value_at_quantile(q) as f64 / 1e6
            }
        };
        let max = |h: &Histogram<u64>| {
            if h.is_empty() {
                0.0
            } else {
                h.max() as f64 / 1e6
            }
        };
        OpenLoopLeg {
            mode: mode.to_owned(),
            scenario: scenario.to_owned(),
            scheduled,
            requests: latency.len(),
            errors,
            duration_s: elapsed.as_secs_f64(),
            achieved_rps: latency.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
            mean_ms: if latency.is_empty() {
                0.0
            } else {
                latency.mean() / 1e6
            },
            p50_ms: ms(latency, 0.50),
            p90_ms: ms(latency, 0.90),
            p99_ms: ms(latency, 0.99),
            p999_ms: ms(latency, 0.999),
            max_ms: max(latency),
            send_lag_p50_ms: ms(lag, 0.50),
            send_lag_p99_ms: ms(lag, 0.99),
            send_lag_max_ms: max(lag),
        }
    }
}

/// What `open-loop` prints: the settings and one [`OpenLoopLeg`] per mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenLoopSummary {
    pub scenario: String,
    /// Requests per second each leg is sent at.
    pub target_rps: f64,
    pub connections: usize,
    pub payload_bytes: usize,
    /// The legs take turns in slices of this length (one leg at a time).
    pub slice_s: f64,
    /// CPU busy % of the whole machine (all cores, `/proc/stat`) over the measured time; `None` off Linux.
    pub machine_busy_pct: Option<f64>,
    pub legs: Vec<OpenLoopLeg>,
}

/// The turns of an open-loop run: `legs` legs take turns (0, 1, …, 0, 1, …) in slices of at most `slice`
/// until each had `per_leg` in total. Returns `(leg, length)` in order.
pub fn slice_plan(legs: usize, per_leg: Duration, slice: Duration) -> Vec<(usize, Duration)> {
    let mut plan = Vec::new();
    if legs == 0 || slice.is_zero() {
        return plan;
    }
    let mut left = per_leg;
    while !left.is_zero() {
        let len = left.min(slice);
        plan.extend((0..legs).map(|leg| (leg, len)));
        left -= len;
    }
    plan
}

/// The offset of the `i`-th request after the start of a slice at `rate` requests per second (computed
/// from `i`, so rounding does not add up over a slice).
pub fn send_offset(i: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(i as f64 / rate)
}

/// `(busy, total)` CPU ticks of the whole machine since boot (`/proc/stat`): busy is everything but idle
/// and iowait. `None` where there is no `/proc/stat`.
pub fn machine_cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = ticks.iter().sum();
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Busy % between two [`machine_cpu_ticks`] snapshots.
pub fn busy_pct(before: (u64, u64), after: (u64, u64)) -> Option<f64> {
    let total = after.1.checked_sub(before.1)?;
    let busy = after.0.checked_sub(before.0)?;
    (total > 0).then(|| 100.0 * busy as f64 / total as f64)
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

    #[test]
    fn open_loop_legs_take_turns_until_each_had_its_time() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(
            slice_plan(2, ms(2500), s(1)),
            [
                (0, s(1)),
                (1, s(1)),
                (0, s(1)),
                (1, s(1)),
                (0, ms(500)),
                (1, ms(500))
            ]
        );
        assert_eq!(slice_plan(1, s(2), s(5)), [(0, s(2))]);
        assert!(slice_plan(2, Duration::ZERO, s(1)).is_empty());
        assert!(slice_plan(0, s(1), s(1)).is_empty());
        assert!(slice_plan(1, s(1), Duration::ZERO).is_empty());
    }

    #[test]
    fn send_offsets_follow_the_rate_without_drift() {
        assert_eq!(send_offset(0, 1000.0), Duration::ZERO);
        assert_eq!(send_offset(1, 1000.0), Duration::from_millis(1));
        assert_eq!(
            send_offset(999_999, 1000.0),
            Duration::from_micros(999_999_000)
        );
        assert_eq!(send_offset(3, 400.0), Duration::from_micros(7500));
    }

    #[test]
    fn open_loop_summaries_read_the_histograms() {
        let mut latency = latency_histogram();
        let mut lag = latency_histogram();
        for n in 1..=1000 {
            record(&mut latency, Duration::from_micros(n));
            record(&mut lag, Duration::from_micros(n / 10));
        }
        record(&mut lag, Duration::ZERO); // recorded as 1 ns, not rejected
        let leg = OpenLoopLeg::new(
            "nats",
            "raw_nats",
            1001,
            1,
            Duration::from_secs(1),
            &latency,
            &lag,
        );
        assert_eq!((leg.requests, leg.errors, leg.scheduled), (1000, 1, 1001));
        assert_eq!(leg.achieved_rps, 1000.0);
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.002;
        assert!(close(leg.p50_ms, 0.5), "{}", leg.p50_ms);
        assert!(close(leg.p99_ms, 0.99), "{}", leg.p99_ms);
        assert!(close(leg.max_ms, 1.0), "{}", leg.max_ms);
        assert!(close(leg.mean_ms, 0.5005), "{}", leg.mean_ms);
        assert!(close(leg.send_lag_p50_ms, 0.05), "{}", leg.send_lag_p50_ms);
        let empty = OpenLoopLeg::new(
            "http",
            "gateway",
            0,
            0,
            Duration::from_secs(1),
            &latency_histogram(),
            &latency_histogram(),
        );
        assert_eq!(
            (empty.p50_ms, empty.max_ms, empty.achieved_rps),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn machine_busy_percent() {
        assert_eq!(busy_pct((10, 100), (60, 200)), Some(50.0));
        assert_eq!(busy_pct((10, 100), (10, 100)), None);
        assert_eq!(busy_pct((10, 100), (5, 90)), None);
        if cfg!(target_os = "linux") {
            let (busy, total) = machine_cpu_ticks().expect("/proc/stat on Linux");
            assert!(busy <= total);
        }
    }
}

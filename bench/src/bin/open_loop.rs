//! Open-loop load at a fixed arrival rate (what wrk2 does; wrk2 is not packaged in Debian): raw NATS
//! requests to the echo extension (`nats`, what `nats-load` sends) and HTTP POSTs through the gateway with
//! the API key as bearer (`http`, what wrk sends in the `gateway` scenario), at `--rate` requests per
//! second each.
//!
//! A pacer thread sends the i-th request of a slice at `start + i / rate` to the next of `--connections`
//! workers (round robin), each with its own NATS or HTTP/1.1 keep-alive connection and one request in
//! flight. Every latency is measured from the time the request was *scheduled*: a request that waits for a
//! busy connection or a late timer counts the wait, so a stall shows in the percentiles instead of
//! silently lowering the rate (no coordinated omission). With more than one mode the legs take turns in
//! `--slice` slices, one leg at a time, until each had `--duration`: background load on shared cores then
//! falls on both alike. Latencies go into HDR histograms (3 significant digits); prints one JSON
//! [`OpenLoopSummary`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use symphony_bench::{
    OpenLoopLeg, OpenLoopSummary, busy_pct, connect_nats, exchange_api_key, json_payload,
    latency_histogram, machine_cpu_ticks, record, send_offset, slice_plan,
};
use symphony_protocol::{Address, Token};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

#[derive(Parser, Debug)]
#[command(
    name = "open-loop",
    about = "Raw NATS and gateway requests at a fixed rate, latency from the scheduled send time"
)]
struct Args {
    /// API-key token: exchanged for NATS credentials (`nats`) and sent as bearer (`http`).
    #[arg(long, env = "SYMPHONY_TOKEN", hide_env_values = true)]
    token: String,
    /// Overrides the address in the token (like `SYMPHONY_ADDRESS`).
    #[arg(long, env = "SYMPHONY_ADDRESS")]
    address: Option<String>,
    /// Legs to run, taking turns: `nats`, `http` or both (`nats,http`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "nats,http")]
    mode: Vec<Mode>,
    /// NATS subject of the `nats` leg.
    #[arg(long, default_value = "cirata.extensions.echo.echo")]
    subject: String,
    /// URL the `http` leg POSTs to (plain `http://`); default: the echo endpoint on the token's address.
    #[arg(long)]
    url: Option<String>,
    /// Requests per second of each leg.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Connections per leg, each with one request in flight.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured time of each leg.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured load of each leg before the measured time (at the same rate, taking turns too).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Length of one turn when several legs run.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    slice: Duration,
    /// Request body size in bytes (a JSON object, the same body wrk and nats-load send).
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Per-request timeout; a request that times out counts as an error.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Nats,
    Http,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Nats => "nats",
            Mode::Http => "http",
        }
    }

    /// The closed-loop scenario of bench/run.sh that sends the same request.
    fn scenario(self) -> &'static str {
        match self {
            Mode::Nats => "raw_nats",
            Mode::Http => "gateway",
        }
    }
}

/// One request for a worker: when it should have left, and whether it counts.
struct Job {
    scheduled: Instant,
    measured: bool,
}

/// The `http` leg's target: where to connect and what to send.
struct HttpTarget {
    addr: String,
    authority: String,
    path: String,
    bearer: String,
}

impl HttpTarget {
    fn new(url: &str, token: &str) -> anyhow::Result<Self> {
        let uri: Uri = url.parse().with_context(|| format!("--url {url}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("--url {url}: only plain http:// is supported");
        }
        let authority = uri
            .authority()
            .with_context(|| format!("--url {url}: no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        Ok(HttpTarget {
            addr: format!("{}:{port}", authority.host()),
            authority: authority.to_string(),
            path: uri
                .path_and_query()
                .map_or("/".to_owned(), |p| p.to_string()),
            bearer: format!("Bearer {token}"),
        })
    }
}

/// One worker's connection.
enum Conn {
    Nats {
        client: async_nats::Client,
        subject: String,
        timeout: Duration,
    },
    Http {
        target: Arc<HttpTarget>,
        /// `None` after an error: the next request connects again.
        sender: Option<SendRequest<Full<Bytes>>>,
    },
}

async fn http_connect(target: &HttpTarget) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(&target.addr)
        .await
        .with_context(|| format!("connect to {}", target.addr))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

impl Conn {
    /// Sends `payload` and waits for the echo: `Ok` when the reply has the request's size (HTTP 2xx).
    async fn call(&mut self, payload: &Bytes) -> anyhow::Result<()> {
        match self {
            Conn::Nats {
                client,
                subject,
                timeout,
            } => {
                // The call nats-load makes.
                let request = async_nats::Request::new()
                    .payload(payload.clone())
                    .timeout(Some(*timeout));
                let reply = client.send_request(subject.clone(), request).await?;
                if reply.payload.len() != payload.len() {
                    bail!("reply of {} bytes", reply.payload.len());
                }
                Ok(())
            }
            Conn::Http { target, sender } => Self::post(target, sender, payload).await,
        }
    }

    async fn post(
        target: &HttpTarget,
        sender: &mut Option<SendRequest<Full<Bytes>>>,
        payload: &Bytes,
    ) -> anyhow::Result<()> {
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            *sender = Some(http_connect(target).await?);
        }
        let sender = sender.as_mut().expect("connected above");
        sender.ready().await?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(&target.path)
            .header(HOST, &target.authority)
            .header(AUTHORIZATION, &target.bearer)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(payload.clone()))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!("HTTP {status}");
        }
        if body.len() != payload.len() {
            bail!("reply of {} bytes", body.len());
        }
        Ok(())
    }
}

/// What one worker measured.
struct WorkerResult {
    latency: Histogram<u64>,
    lag: Histogram<u64>,
    errors: u64,
}

/// Serves jobs until the pacer hangs up; counts every finished job (measured or not) in `done`.
async fn worker(
    mut conn: Conn,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    payload: Bytes,
    timeout: Duration,
    done: Arc<AtomicU64>,
) -> WorkerResult {
    let mut result = WorkerResult {
        latency: latency_histogram(),
        lag: latency_histogram(),
        errors: 0,
    };
    while let Some(job) = jobs.recv().await {
        let sent = Instant::now();
        let ok = matches!(
            tokio::time::timeout(timeout, conn.call(&payload)).await,
            Ok(Ok(()))
        );
        let finished = Instant::now();
        if job.measured {
            if ok {
                record(&mut result.latency, finished - job.scheduled);
                record(&mut result.lag, sent - job.scheduled);
            } else {
                result.errors += 1;
            }
        }
        if !ok && let Conn::Http { sender, .. } = &mut conn {
            // Failed or timed out (the connection is left mid-response): the next request reconnects.
            *sender = None;
        }
        done.fetch_add(1, Ordering::Release);
    }
    result
}

/// The pacer's view of one leg.
struct Leg {
    workers: Vec<mpsc::UnboundedSender<Job>>,
    next: usize,
    sent: u64,
    done: Arc<AtomicU64>,
    /// Requests scheduled and time spent in measured slices.
    measured_sent: u64,
    measured_time: Duration,
}

/// Sleeps until `t` on this (non-async) thread: the precision of `nanosleep`, not tokio's 1 ms timer.
fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Sends one slice of `len` of leg `leg` at `rate`, then waits for its last reply (at most `timeout`
/// more: a worker answers every job within its timeout).
fn run_slice(leg: &mut Leg, len: Duration, rate: f64, measured: bool, timeout: Duration) {
    let start = Instant::now();
    for i in 0.. {
        let offset = send_offset(i, rate);
        if offset >= len {
            break;
        }
        let scheduled = start + offset;
        sleep_until(scheduled);
        let worker = &leg.workers[leg.next % leg.workers.len()];
        leg.next += 1;
        if worker
            .send(Job {
                scheduled,
                measured,
            })
            .is_ok()
        {
            leg.sent += 1;
            if measured {
                leg.measured_sent += 1;
            }
        }
    }
    let deadline = Instant::now() + timeout + Duration::from_secs(1);
    while leg.done.load(Ordering::Acquire) < leg.sent && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(100));
    }
    if measured {
        leg.measured_time += start.elapsed().max(len);
    }
}

/// The pacer thread: warm-up turns, then measured turns. Returns the legs (their counts) and the machine's
/// busy % over the measured turns.
fn pace(mut legs: Vec<Leg>, args: &Args) -> (Vec<Leg>, Option<f64>) {
    // The default timer slack (50 µs) would make every sleep up to 50 µs late.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK only sets this thread's timer slack; no pointers are passed.
    unsafe {
        let slack_ns: libc::c_ulong = 1;
        libc::prctl(libc::PR_SET_TIMERSLACK, slack_ns);
    }
    for (leg, len) in slice_plan(legs.len(), args.warmup, args.slice) {
        run_slice(&mut legs[leg], len, args.rate, false, args.timeout);
    }
    let before = machine_cpu_ticks();
    for (leg, len) in slice_plan(legs.len(), args.duration, args.slice) {
        run_slice(&mut legs[leg], len, args.rate, true, args.timeout);
    }
    let busy = before
        .zip(machine_cpu_ticks())
        .and_then(|(b, a)| busy_pct(b, a));
    for leg in &mut legs {
        leg.workers.clear(); // hangs up: the workers return what they measured
    }
    (legs, busy)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        bail!("--rate must be a positive number");
    }
    if args.connections == 0 || args.mode.is_empty() {
        bail!("--connections and --mode need at least one");
    }
    let mut modes: Vec<Mode> = Vec::new();
    for &mode in &args.mode {
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    let payload = Bytes::from(json_payload(args.size));

    // The address only when a leg needs it: NATS credentials, or the default URL.
    let address = if modes.contains(&Mode::Nats) || args.url.is_none() {
        let token = Token::parse(&args.token).context("the token is malformed")?;
        Some(Address::resolve(&token.origin, args.address.as_deref())?)
    } else {
        None
    };

    let mut legs = Vec::new();
    let mut handles = Vec::new();
    for &mode in &modes {
        let mut conns = Vec::with_capacity(args.connections);
        match mode {
            Mode::Nats => {
                let address = address.as_ref().expect("resolved for nats");
                let api_key = exchange_api_key(&args.token, address).await?;
                for n in 0..args.connections {
                    let client = connect_nats(&api_key, address, format!("open-loop-{n}")).await?;
                    conns.push(Conn::Nats {
                        client,
                        subject: args.subject.clone(),
                        timeout: args.timeout,
                    });
                }
            }
            Mode::Http => {
                let url = match &args.url {
                    Some(url) => url.clone(),
                    None => format!(
                        "{}/api/v1/extension/echo/echo",
                        address.as_ref().expect("resolved without --url").http_base
                    ),
                };
                let target = Arc::new(HttpTarget::new(&url, &args.token)?);
                for _ in 0..args.connections {
                    let sender = Some(http_connect(&target).await?);
                    conns.push(Conn::Http {
                        target: target.clone(),
                        sender,
                    });
                }
            }
        }
        let done = Arc::new(AtomicU64::new(0));
        let mut senders = Vec::with_capacity(conns.len());
        let mut workers = Vec::with_capacity(conns.len());
        for conn in conns {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            workers.push(tokio::spawn(worker(
                conn,
                rx,
                payload.clone(),
                args.timeout,
                done.clone(),
            )));
        }
        legs.push(Leg {
            workers: senders,
            next: 0,
            sent: 0,
            done,
            measured_sent: 0,
            measured_time: Duration::ZERO,
        });
        handles.push(workers);
    }

    let args = Arc::new(args);
    let pacer_args = args.clone();
    let (legs, machine_busy_pct) =
        tokio::task::spawn_blocking(move || pace(legs, &pacer_args)).await?;

    let mut summaries = Vec::with_capacity(modes.len());
    for ((mode, leg), workers) in modes.iter().zip(&legs).zip(handles) {
        let mut latency = latency_histogram();
        let mut lag = latency_histogram();
        let mut errors = 0;
        for w in workers {
            let r = w.await?;
            latency.add(&r.latency)?;
            lag.add(&r.lag)?;
            errors += r.errors;
        }
        summaries.push(OpenLoopLeg::new(
            mode.name(),
            mode.scenario(),
            leg.measured_sent,
            errors,
            leg.measured_time,
            &latency,
            &lag,
        ));
    }
    let summary = OpenLoopSummary {
        scenario: "open_loop".to_owned(),
        target_rps: args.rate,
        connections: args.connections,
        payload_bytes: args.size,
        slice_s: args.slice.as_secs_f64(),
        machine_busy_pct,
        legs: summaries,
    };
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

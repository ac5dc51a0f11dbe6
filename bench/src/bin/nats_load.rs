//! The raw NATS floor of the benchmark: exchanges an API-key token for its NATS credentials
//! (`GET <origin>/api/v1/apikey`), opens one NATS connection per worker and has every worker send
//! request after request (one in flight, like a wrk connection) to the echo endpoint for a fixed time.
//! Records every latency and prints a JSON [`LoadSummary`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use symphony_bench::{LoadSummary, connect_nats, exchange_api_key, json_payload};
use symphony_protocol::{Address, Token};
use tokio::sync::Barrier;

#[derive(Parser, Debug)]
#[command(
    name = "nats-load",
    about = "Raw NATS request/reply load against one subject"
)]
struct Args {
    /// API-key token whose key may publish to the subject.
    #[arg(long, env = "SYMPHONY_TOKEN", hide_env_values = true)]
    token: String,
    /// Overrides the address in the token (like `SYMPHONY_ADDRESS`).
    #[arg(long, env = "SYMPHONY_ADDRESS")]
    address: Option<String>,
    #[arg(long, default_value = "cirata.extensions.echo.echo")]
    subject: String,
    /// Concurrent workers, each with its own connection and one request in flight.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured time.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured load before the measured time.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Request body size in bytes (a JSON object, the same body wrk sends).
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Per-request timeout; a request that times out counts as an error.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Name of the scenario in the summary.
    #[arg(long, default_value = "raw_nats")]
    scenario: String,
}

/// Sends requests back to back until `until`; returns the latencies (when `record`) and the error count.
async fn drive(
    nc: &async_nats::Client,
    args: &Args,
    payload: &Bytes,
    until: Instant,
    record: bool,
) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::with_capacity(if record { 1 << 16 } else { 0 });
    let mut errors = 0;
    while Instant::now() < until {
        let request = async_nats::Request::new()
            .payload(payload.clone())
            .timeout(Some(args.timeout));
        let start = Instant::now();
        match nc.send_request(args.subject.clone(), request).await {
            Ok(reply) if reply.payload.len() == payload.len() => {
                if record {
                    latencies.push(start.elapsed());
                }
            }
            Ok(_) | Err(_) => errors += 1,
        }
    }
    (latencies, errors)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let token = Token::parse(&args.token).context("the token is malformed")?;
    let address = Address::resolve(&token.origin, args.address.as_deref())?;
    let api_key = exchange_api_key(&args.token, &address).await?;

    let mut clients = Vec::with_capacity(args.connections);
    for n in 0..args.connections {
        clients.push(connect_nats(&api_key, &address, format!("nats-load-{n}")).await?);
    }
    let payload = Bytes::from(json_payload(args.size));
    let ready = Arc::new(Barrier::new(args.connections + 1));
    let mut workers = Vec::with_capacity(args.connections);
    for nc in clients {
        let (args, payload, ready) = (args.clone(), payload.clone(), ready.clone());
        workers.push(tokio::spawn(async move {
            ready.wait().await;
            drive(&nc, &args, &payload, Instant::now() + args.warmup, false).await;
            ready.wait().await;
            let result = drive(&nc, &args, &payload, Instant::now() + args.duration, true).await;
            let _ = nc.drain().await;
            result
        }));
    }
    ready.wait().await;
    ready.wait().await;
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (l, e) = worker.await?;
        latencies.extend(l);
        errors += e;
    }
    let summary = LoadSummary::new(
        &args.scenario,
        args.connections,
        args.size,
        started.elapsed(),
        &mut latencies,
        errors,
    );
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

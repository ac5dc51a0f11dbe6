//! Revocation latency (issue 12): how long from `DELETE /api/v1/key/{id}` to nats-server dropping the
//! key's live connection. Each round creates a key as the signed-in administrator, exchanges it, connects
//! to NATS with it, revokes it and waits for the disconnect; then checks that a new connect is refused.
//! Prints one JSON object, times in milliseconds. Runs against a server started with
//! `SYMPHONY_ADMIN_PASSWORD` (the administrator signs in with it).

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use async_nats::{ConnectErrorKind, Event};
use clap::Parser;
use serde::Serialize;
use serde_json::json;
use symphony_bench::{connect_nats, exchange_api_key, percentile};
use symphony_protocol::Address;

#[derive(Parser, Debug)]
#[command(
    name = "revoke-drop",
    about = "Time from a key's revocation to its connection being dropped"
)]
struct Args {
    /// The server's HTTP URL.
    #[arg(long)]
    url: String,
    /// The administrator's password.
    #[arg(long, env = "SYMPHONY_ADMIN_PASSWORD")]
    admin_password: String,
    /// Rounds (one key each).
    #[arg(long, default_value_t = 20)]
    rounds: usize,
}

#[derive(Serialize)]
struct Summary {
    rounds: usize,
    /// Revoke call sent → connection dropped.
    drop_p50_ms: f64,
    drop_p90_ms: f64,
    drop_max_ms: f64,
    /// Revoke call sent → its 204.
    reply_p50_ms: f64,
    reply_max_ms: f64,
    /// Every round's new connect after the drop was refused.
    reconnect_refused: bool,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}/api/v1{path}", args.url.trim_end_matches('/'));
    let login: serde_json::Value = http
        .post(api("/login"))
        .json(&json!({"username": "admin", "password": args.admin_password}))
        .send()
        .await?
        .error_for_status()
        .context("sign in as admin")?
        .json()
        .await?;
    let session = login["token"]
        .as_str()
        .context("no session token")?
        .to_owned();
    let mut drops = Vec::new();
    let mut replies = Vec::new();
    for round in 0..args.rounds {
        let created: serde_json::Value = http
            .post(api("/keys"))
            .bearer_auth(&session)
            .json(&json!({"name": format!("revoke-drop {round}"),
                          "capabilities": ["pub:extensions.bench.x"]}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = created["token"].as_str().context("no token")?;
        let id = created["id"].as_str().context("no id")?;
        let address = Address::resolve(&args.url, None)?;
        let key = exchange_api_key(token, &address).await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let nc = async_nats::ConnectOptions::with_jwt(key.jwt.clone(), {
            let kp = std::sync::Arc::new(nkeys::KeyPair::from_seed(&key.seed)?);
            move |nonce| {
                let kp = kp.clone();
                async move { kp.sign(&nonce).map_err(async_nats::AuthError::new) }
            }
        })
        .custom_inbox_prefix(&key.inbox_prefix)
        .event_callback(move |e| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(e);
            }
        })
        .connect(address.nats_url(&key.nats_urls[0]))
        .await?;
        nc.flush().await?;
        let started = Instant::now();
        let revoke = http
            .delete(api(&format!("/key/{id}")))
            .bearer_auth(&session)
            .send();
        let waiting = async {
            while let Some(event) = rx.recv().await {
                if matches!(event, Event::Disconnected) {
                    return Ok(started.elapsed());
                }
            }
            bail!("the event stream ended")
        };
        let (reply, dropped) = tokio::join!(
            async {
                let r = revoke.await;
                (r, started.elapsed())
            },
            tokio::time::timeout(Duration::from_secs(30), waiting)
        );
        let (reply, replied) = reply;
        ensure!(reply?.status().as_u16() == 204, "the revoke call failed");
        drops.push(dropped.context("not dropped within 30 s")??);
        replies.push(replied);
        drop(nc);
        let refused = connect_nats(&key, &address, "revoke-drop-again".into()).await;
        match refused {
            Err(e)
                if e.downcast_ref::<async_nats::ConnectError>()
                    .is_some_and(|c| c.kind() == ConnectErrorKind::AuthorizationViolation) => {}
            other => bail!(
                "round {round}: a new connect was not refused: {:?}",
                other.map(|_| ())
            ),
        }
    }
    drops.sort();
    replies.sort();
    let p = |v: &[Duration], q| ms(percentile(v, q).unwrap_or_default());
    let summary = Summary {
        rounds: args.rounds,
        drop_p50_ms: p(&drops, 50.0),
        drop_p90_ms: p(&drops, 90.0),
        drop_max_ms: p(&drops, 100.0),
        reply_p50_ms: p(&replies, 50.0),
        reply_max_ms: p(&replies, 100.0),
        reconnect_refused: true,
    };
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

//! `symphony license`: the vendor's tool (`keygen`, `sign`: local, no server) and the
//! administrator's commands (`add`, `list`, `remove`: `/api/v1/licenses` as the signed-in user).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use nkeys::{KeyPair, KeyPairType};
use reqwest::Method;
use serde_json::Value;
use symphony_protocol::license::{self, LICENSE_VERSION, License, LicenseError};
use symphony_protocol::time::{now_unix, parse_rfc3339, rfc3339};

use super::RemoteArgs;
use super::http_client::ApiClient;
use super::terminal::print_table;

#[derive(Subcommand, Debug)]
pub enum LicenseCommand {
    /// Vendor: make a new license signing key (an operator nkey). Prints the public key, which
    /// servers trust with `--license-vendor-key`; the seed goes to --out (mode 0600) or stdout.
    Keygen(KeygenArgs),
    /// Vendor: sign a license for one deployment (`symphony info` shows its id); prints the signed
    /// license JSON, or writes it to --out.
    Sign(SignArgs),
    /// Upload a signed license file (administrators).
    Add(AddArgs),
    /// List the licenses with their state and consumption (administrators).
    List(ListArgs),
    /// Revoke a license: it stays listed as `revoked` and carries nothing (administrators).
    Remove(RemoveArgs),
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Write the seed to this file (mode 0600; an existing file is not overwritten) instead of
    /// printing it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SignArgs {
    /// The vendor seed file `symphony license keygen --out` wrote.
    #[arg(long)]
    pub seed_file: PathBuf,
    /// License id: 1-64 of A-Z, a-z, 0-9, `_`, `.` and `-`.
    #[arg(long)]
    pub id: String,
    #[arg(long)]
    pub customer: String,
    /// The deployment id the license is locked to (`dep_…`).
    #[arg(long)]
    pub deployment: String,
    /// The pool of units.
    #[arg(long)]
    pub units: f64,
    /// When it starts: an RFC 3339 time, or a duration from now (`0s`, `1h`). Default: now.
    #[arg(long, default_value = "0s")]
    pub starts: String,
    /// When it expires: an RFC 3339 time, or a duration from now (`365d`).
    #[arg(long)]
    pub expires: String,
    /// How long it still carries after expiry or exhaustion (`7d`, `0s`).
    #[arg(long, default_value = "0s", value_parser = parse_grace)]
    pub grace: Duration,
    /// A rate: `<prefix>.<dimension>=<units per unit of the dimension>`; repeat for more.
    #[arg(long = "rate", value_parser = parse_rate)]
    pub rates: Vec<(String, String, f64)>,
    /// Write the signed license here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// A signed license file (`symphony license sign` output).
    pub file: PathBuf,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// The license id.
    pub id: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

fn parse_grace(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 0s, 2s, 7d)"))
}

/// `repl.tables=2` → `("repl", "tables", 2.0)`.
fn parse_rate(s: &str) -> Result<(String, String, f64), String> {
    let usage = || format!("{s:?} is not <prefix>.<dimension>=<number> (e.g. repl.tables=2)");
    let (name, value) = s.split_once('=').ok_or_else(usage)?;
    let (prefix, dimension) = name.split_once('.').ok_or_else(usage)?;
    if prefix.is_empty() || dimension.is_empty() {
        return Err(usage());
    }
    let rate: f64 = value.trim().parse().map_err(|_| usage())?;
    Ok((prefix.to_owned(), dimension.to_owned(), rate))
}

/// An RFC 3339 time, or a duration from `now`, as unix seconds.
fn parse_time(flag: &str, s: &str, now: i64) -> anyhow::Result<i64> {
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    let d = humantime::parse_duration(s).map_err(|_| {
        invalid(format!(
            "--{flag} {s:?} is neither an RFC 3339 time nor a duration from now (30d, 1h)"
        ))
    })?;
    Ok(now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
}

/// A refusal as the CLI prints it: message (code).
fn invalid(message: impl std::fmt::Display) -> anyhow::Error {
    refused(&LicenseError::Malformed(message.to_string()))
}

fn refused(e: &LicenseError) -> anyhow::Error {
    anyhow::anyhow!("{e} ({})", e.code().as_str())
}

pub async fn run(command: LicenseCommand) -> anyhow::Result<()> {
    match command {
        LicenseCommand::Keygen(args) => keygen(args),
        LicenseCommand::Sign(args) => sign(args),
        LicenseCommand::Add(args) => add(args).await,
        LicenseCommand::List(args) => list(args).await,
        LicenseCommand::Remove(args) => remove(args).await,
    }
}

fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let vendor = KeyPair::new(KeyPairType::Operator);
    let seed = vendor.seed().context("cannot encode the seed")?;
    match &args.out {
        Some(path) => {
            anyhow::ensure!(
                !path.exists(),
                "{} exists; not overwriting a key (choose another --out)",
                path.display()
            );
            symphony_protocol::private_file::write_private(path, format!("{seed}\n").as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote the vendor seed to {} (keep it secret)",
                path.display()
            );
        }
        None => println!("vendor seed: {seed}"),
    }
    println!("vendor public key: {}", vendor.public_key());
    Ok(())
}

fn read_seed(path: &Path) -> anyhow::Result<KeyPair> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the seed file {}", path.display()))?;
    let seed = text.trim();
    let vendor = KeyPair::from_seed(seed).map_err(|_| {
        anyhow::anyhow!(
            "{} does not hold an nkey seed (symphony license keygen --out writes one)",
            path.display()
        )
    })?;
    anyhow::ensure!(
        seed.starts_with("SO"),
        "{} holds a seed that is not a vendor (operator) key",
        path.display()
    );
    Ok(vendor)
}

/// The license the arguments describe, issued at `now`.
fn license_of(args: &SignArgs, now: i64) -> anyhow::Result<License> {
    let mut rates: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (prefix, dimension, rate) in &args.rates {
        rates
            .entry(prefix.clone())
            .or_default()
            .insert(dimension.clone(), *rate);
    }
    Ok(License {
        v: LICENSE_VERSION,
        id: args.id.clone(),
        customer: args.customer.clone(),
        deployment: args.deployment.clone(),
        issued_at: rfc3339(now),
        starts_at: rfc3339(parse_time("starts", &args.starts, now)?),
        expires_at: rfc3339(parse_time("expires", &args.expires, now)?),
        grace_secs: args.grace.as_secs(),
        units: args.units,
        rates,
    })
}

fn sign(args: SignArgs) -> anyhow::Result<()> {
    let vendor = read_seed(&args.seed_file)?;
    if !args.deployment.starts_with("dep_") {
        return Err(invalid(format!(
            "--deployment {:?} is not a deployment id (dep_…; `symphony info` shows it)",
            args.deployment
        )));
    }
    let license = license_of(&args, now_unix())?;
    let signed = license::sign(&license, &vendor).map_err(|e| refused(&e))?;
    let json = serde_json::to_string_pretty(&signed)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, format!("{json}\n"))
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote license {} to {}", license.id, path.display());
        }
        None => println!("{json}"),
    }
    Ok(())
}

async fn add(args: AddArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let body: Value = serde_json::from_str(&text).map_err(|e| {
        invalid(format!(
            "{} is not a signed license (JSON): {e}",
            args.file.display()
        ))
    })?;
    let api = ApiClient::signed_in(&args.remote)?;
    let view: Value = api
        .call(
            Method::POST,
            "/licenses",
            Some(body),
            "Uploading the license",
        )
        .await?;
    let s = |k: &str| view.get(k).map(show).unwrap_or_else(|| "-".into());
    println!(
        "added license {} for {}: {} units, {} until {}",
        s("id"),
        s("customer"),
        s("units"),
        s("state"),
        s("expires_at")
    );
    Ok(())
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let api = ApiClient::signed_in(&args.remote)?;
    let views: Vec<Value> = api
        .call(Method::GET, "/licenses", None, "Reading the licenses")
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(());
    }
    let rows: Vec<[String; 6]> = views
        .iter()
        .map(|v| {
            let s = |k: &str| v.get(k).map(show).unwrap_or_else(|| "-".into());
            [
                s("id"),
                s("customer"),
                s("state"),
                format!("{} / {}", s("consumed"), s("units")),
                s("starts_at"),
                s("expires_at"),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "CUSTOMER",
            "STATE",
            "CONSUMED / UNITS",
            "STARTS",
            "EXPIRES",
        ],
        &rows,
    );
    Ok(())
}

async fn remove(args: RemoveArgs) -> anyhow::Result<()> {
    let id = args.id.trim();
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if !valid {
        anyhow::bail!(
            "{id:?} is not a license id (1-64 of A-Z, a-z, 0-9, _, . and -): `symphony license list` shows them"
        );
    }
    let api = ApiClient::signed_in(&args.remote)?;
    api.call_no_reply(
        Method::DELETE,
        &format!("/licenses/{id}"),
        "Revoking the license",
    )
    .await?;
    eprintln!("revoked license {id}: it no longer carries anything");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_rate("repl.tables=2").unwrap(),
            ("repl".into(), "tables".into(), 2.0)
        );
        assert_eq!(parse_rate("repl.gb.total=0.5").unwrap().1, "gb.total");
        for bad in [
            "repl=2",
            "repl.tables",
            ".x=1",
            "repl.=1",
            "repl.tables=many",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_are_rfc3339_or_a_duration_from_now() {
        let now = 1_800_000_000;
        assert_eq!(
            parse_time("expires", "30d", now).unwrap(),
            now + 30 * 86_400
        );
        assert_eq!(
            parse_time("expires", "2027-01-15T08:00:00Z", now).unwrap(),
            parse_rfc3339("2027-01-15T08:00:00Z").unwrap()
        );
        let e = parse_time("expires", "next year", now).unwrap_err();
        assert!(e.to_string().contains("invalid_license"), "{e}");
    }
}

//! Commands that call `/api/v1` as the signed-in user: `key create|list|revoke`,
//! `token create --registration`, `info`, `version --remote`.
//!
//! `key create` and `token create` with `--data-dir` (or `SYMPHONY_DATA_DIR`) keep acting as the
//! administrator of that local data dir (`admin.rs`), which is how the first keys exist before anyone
//! has signed in.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};
use symphony_protocol::capability::Capability;
use symphony_protocol::messages::KeyKind;
use symphony_protocol::rest::{CapabilityInput, CreateKey, CreatedKey, KeyView};
use symphony_protocol::{ErrorBody, KeyId};

use super::http_client::ApiClient;
use super::terminal::print_table;
use super::{InfoArgs, KeyCreateArgs, KeyListArgs, KeyRevokeArgs, TokenCreateArgs, VersionArgs};

/// A protocol error as the CLI prints it: message (code), then the hint.
fn body_error(e: ErrorBody) -> anyhow::Error {
    match e.hint {
        Some(hint) => anyhow::anyhow!("{} ({})\nhint: {hint}", e.message, e.code.as_str()),
        None => anyhow::anyhow!("{} ({})", e.message, e.code.as_str()),
    }
}

/// A lifetime as the API's `expires_in` (whole seconds, at least one).
fn lifetime(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

/// Says on stderr (to a person only) what was created; stdout stays just the token.
fn note_created(what: &str, created: &CreatedKey) {
    if std::io::stderr().is_terminal() {
        let expiry = created
            .expires_at
            .as_deref()
            .map_or("does not expire".to_owned(), |t| format!("expires {t}"));
        eprintln!(
            "created {what} {} ({expiry}); the token is shown only now",
            created.id
        );
    }
}

fn warn_ignored_credential(remote: &super::RemoteArgs) {
    if remote.credential.is_some() {
        eprintln!(
            "warning: --credential is ignored with --data-dir (acting as the data dir's administrator)"
        );
    }
}

pub async fn token_create(args: TokenCreateArgs) -> anyhow::Result<()> {
    if args.data.data_dir.is_some() {
        warn_ignored_credential(&args.remote);
        return super::admin::token_create(args).await;
    }
    let request = CreateKey {
        name: args.name,
        registration: true,
        prefix: args.prefix,
        expires_in: Some(lifetime(args.expires)),
        ..Default::default()
    };
    create_and_print(&args.remote, request, "registration token").await
}

pub async fn key_create(args: KeyCreateArgs) -> anyhow::Result<()> {
    if args.data.data_dir.is_some() {
        warn_ignored_credential(&args.remote);
        return super::admin::key_create(args).await;
    }
    // The server checks these too; checking here answers without a round trip.
    for c in &args.capabilities {
        Capability::parse_cli(c).map_err(body_error)?;
    }
    if args.capabilities.is_empty() && args.prefix.is_none() {
        bail!(
            "give at least one --capability (e.g. --capability pub:extensions.catalog.list) or a --prefix"
        );
    }
    let request = CreateKey {
        name: args.name,
        registration: false,
        capabilities: args
            .capabilities
            .into_iter()
            .map(CapabilityInput::Short)
            .collect(),
        prefix: args.prefix,
        buckets: args.buckets,
        expires_in: args.expires.map(lifetime),
        notes: args.notes,
    };
    create_and_print(&args.remote, request, "API key").await
}

/// `POST /api/v1/keys` as the signed-in user; prints the token (only it, on stdout).
async fn create_and_print(
    remote: &super::RemoteArgs,
    request: CreateKey,
    what: &str,
) -> anyhow::Result<()> {
    let api = ApiClient::signed_in(remote).map_err(with_bootstrap_hint)?;
    let created: CreatedKey = api
        .call(
            Method::POST,
            "/keys",
            Some(serde_json::to_value(request)?),
            &format!("Creating the {what}"),
        )
        .await?;
    println!("{}", created.token);
    note_created(what, &created);
    Ok(())
}

/// "Not logged in" also has the bootstrap way out for these two commands.
fn with_bootstrap_hint(e: anyhow::Error) -> anyhow::Error {
    if e.to_string().starts_with("not logged in") {
        anyhow::anyhow!(
            "{e}\nhint: on the server's machine, --data-dir DIR acts as the administrator of that data dir"
        )
    } else {
        e
    }
}

pub async fn key_list(args: KeyListArgs) -> anyhow::Result<()> {
    let api = ApiClient::signed_in(&args.remote)?;
    let keys: Value = api.call(Method::GET, "/keys", None, "Listing keys").await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&keys)?);
        return Ok(());
    }
    let rows: Vec<KeyView> = serde_json::from_value(keys)
        .context("unexpected reply to GET /api/v1/keys: is the server of a matching version?")?;
    if rows.is_empty() {
        eprintln!("no keys yet: create one with `symphony key create`");
        return Ok(());
    }
    let cells: Vec<[String; 8]> = rows
        .into_iter()
        .map(|k| {
            [
                k.id.to_string(),
                k.name,
                match k.kind {
                    KeyKind::ApiKey => "api_key".into(),
                    KeyKind::Registration => "registration".into(),
                },
                k.owner,
                k.expires_at.unwrap_or_else(|| "never".into()),
                k.last_used.unwrap_or_else(|| "never".into()),
                k.connected_instances.to_string(),
                if k.revoked { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "NAME",
            "KIND",
            "OWNER",
            "EXPIRES",
            "LAST USED",
            "INSTANCES",
            "REVOKED",
        ],
        &cells,
    );
    Ok(())
}

pub async fn key_revoke(args: KeyRevokeArgs) -> anyhow::Result<()> {
    let id = KeyId::parse(args.id.trim()).map_err(|_| {
        anyhow::anyhow!(
            "{:?} is not a key id (26 characters a-z, 2-7): `symphony key list` shows the ids",
            args.id
        )
    })?;
    let api = ApiClient::signed_in(&args.remote)?;
    api.call_no_reply(
        Method::DELETE,
        &format!("/key/{}", id.as_str()),
        "Revoking the key",
    )
    .await?;
    eprintln!(
        "revoked key {}: its token no longer works and its connections are closed",
        id.as_str()
    );
    Ok(())
}

pub async fn info(args: InfoArgs) -> anyhow::Result<()> {
    let api = ApiClient::signed_in(&args.remote)?;
    let symphony: Value = api
        .call(Method::GET, "/symphonyinfo", None, "Reading the instance")
        .await?;
    let user: Value = api
        .call(Method::GET, "/userinfo", None, "Reading your account")
        .await?;
    if args.json {
        let both = json!({"address": api.base(), "symphony": symphony, "user": user});
        println!("{}", serde_json::to_string_pretty(&both)?);
        return Ok(());
    }
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    let list = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "-".into())
    };
    let rows = [
        ("address", api.base().to_owned()),
        (
            "instance",
            format!("{} {}", s(&symphony, "name"), s(&symphony, "version")),
        ),
        ("origin", s(&symphony, "origin")),
        ("nats", list(&symphony, "nats_urls")),
        ("websocket", s(&symphony, "websocket_url")),
        ("user", s(&user, "username")),
        ("name", s(&user, "display_name")),
        ("roles", list(&user, "roles")),
        (
            "admin",
            if user.get("admin").and_then(Value::as_bool) == Some(true) {
                "yes".into()
            } else {
                "no".into()
            },
        ),
    ];
    for (label, value) in rows {
        println!("{label:<10} {value}");
    }
    Ok(())
}

pub async fn version(args: VersionArgs) -> anyhow::Result<()> {
    println!("symphony {}", env!("CARGO_PKG_VERSION"));
    if args.remote {
        let api = ApiClient::signed_in(&args.remote_args)?;
        let info: Value = api
            .call(Method::GET, "/symphonyinfo", None, "Asking the server")
            .await?;
        let version = info
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        println!("server {version} at {}", api.base());
    }
    Ok(())
}

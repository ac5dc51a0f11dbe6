//! Commands that call `/api/v1` as the signed-in user: `key create|list|revoke`,
//! `token create --registration`, `extension account|limits`, `info`, `version --remote`.
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
use symphony_protocol::jwt::JetStreamLimits;
use symphony_protocol::messages::KeyKind;
use symphony_protocol::names::validate_prefix;
use symphony_protocol::rest::{CapabilityInput, CreateKey, CreatedKey, ExtensionAccount, KeyView};
use symphony_protocol::{ErrorBody, KeyId};

use super::http_client::ApiClient;
use super::limits::LimitsTable;
use super::terminal::print_table;
use super::{
    ExtensionAccountArgs, ExtensionLimitsArgs, InfoArgs, KeyCreateArgs, KeyListArgs, KeyRevokeArgs,
    TokenCreateArgs, VersionArgs,
};
use crate::auth::accounts::validate_limits;

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

/// `/extensions/<prefix>/account` after checking the prefix here (it goes into the path).
fn account_path(prefix: &str) -> anyhow::Result<String> {
    validate_prefix(prefix).map_err(body_error)?;
    Ok(format!("/extensions/{prefix}/account"))
}

/// `GET /api/v1/extensions/{prefix}/account`.
async fn read_account(api: &ApiClient, prefix: &str) -> anyhow::Result<ExtensionAccount> {
    api.call(
        Method::GET,
        &account_path(prefix)?,
        None,
        "Reading the extension account",
    )
    .await
}

/// The account as `label value` lines (`--json`: as the server sent it).
fn print_account(account: &ExtensionAccount, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(account)?);
        return Ok(());
    }
    let owner = if account.owner.is_empty() {
        "(none: created with the data dir; administrators manage it)"
    } else {
        &account.owner
    };
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    for (label, value) in [
        ("prefix", account.prefix.clone()),
        ("owner", owner.to_owned()),
        ("account", or_dash(&account.account)),
        ("created", or_dash(&account.created_at)),
        ("created by", or_dash(&account.created_by)),
    ] {
        println!("{label:<14} {value}");
    }
    println!("{}", LimitsTable(&account.limits));
    Ok(())
}

pub async fn extension_account(args: ExtensionAccountArgs) -> anyhow::Result<()> {
    account_path(&args.prefix)?;
    let api = ApiClient::signed_in(&args.remote)?;
    let account = read_account(&api, &args.prefix).await?;
    print_account(&account, args.json)
}

/// The current limits with the values given on the command line in place of theirs.
fn merged_limits(current: JetStreamLimits, args: &ExtensionLimitsArgs) -> JetStreamLimits {
    JetStreamLimits {
        disk_storage: args.disk.unwrap_or(current.disk_storage),
        mem_storage: args.memory.unwrap_or(current.mem_storage),
        streams: args.streams.unwrap_or(current.streams),
        consumer: args.consumers.unwrap_or(current.consumer),
    }
}

pub async fn extension_limits(args: ExtensionLimitsArgs) -> anyhow::Result<()> {
    account_path(&args.prefix)?;
    if args.disk.is_none()
        && args.memory.is_none()
        && args.streams.is_none()
        && args.consumers.is_none()
    {
        bail!(
            "give at least one of --disk, --memory, --streams, --consumers \
             (`symphony extension account {}` shows the current limits)",
            args.prefix
        );
    }
    let api = ApiClient::signed_in(&args.remote)?;
    let current = read_account(&api, &args.prefix).await?;
    let limits = merged_limits(current.limits, &args);
    // The server checks the same rules; checking here answers without a second round trip.
    validate_limits(&limits).map_err(body_error)?;
    let account = if limits == current.limits {
        eprintln!("the limits are already these: nothing to change");
        current
    } else {
        api.call(
            Method::PUT,
            &format!("/extensions/{}/limits", args.prefix),
            Some(serde_json::to_value(limits)?),
            "Changing the limits",
        )
        .await?
    };
    print_account(&account, args.json)
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
        ("deployment", s(&symphony, "deployment_id")),
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
        ("session", format!("ends {}", s(&user, "session_ends_at"))),
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

//! Administrative commands that work against a running server's data dir: they read its identity
//! and `ports.json` and talk to its NATS directly.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use symphony_protocol::capability::Capability;
use symphony_protocol::messages::{ExtensionState, KeyKind, PortsFile};
use symphony_protocol::time::now_unix;

use super::{ExtensionListArgs, KeyCreateArgs, TokenCreateArgs};
use crate::auth::Auth;
use crate::auth::issue::Issuer;
use crate::auth::keys::NewKey;
use crate::bus::connect::{connect_server, connect_system};
use crate::identity::Identity;
use crate::registry::Registry;

pub const PORTS_FILE: &str = "ports.json";

/// Reads `<data-dir>/ports.json` of a running server.
pub fn read_ports(data_dir: &Path) -> anyhow::Result<PortsFile> {
    let path = data_dir.join(PORTS_FILE);
    let raw = std::fs::read(&path).with_context(|| {
        format!(
            "no running server found in {} ({} is missing); start one with `symphony serve --data-dir {}`",
            data_dir.display(),
            path.display(),
            data_dir.display()
        )
    })?;
    serde_json::from_slice(&raw).with_context(|| format!("{} is malformed", path.display()))
}

async fn open_registry(data_dir: &Path) -> anyhow::Result<Registry> {
    let ports = read_ports(data_dir)?;
    let identity = Arc::new(Identity::load(data_dir)?);
    let urls: Vec<String> = ports.nats_url.split(',').map(str::to_owned).collect();
    let ca = ports.tls_ca.as_deref().map(Path::new);
    let sys = connect_system(&identity, &urls, ca).await?;
    let client = connect_server(&identity, &urls, ca).await?;
    let auth = Arc::new(Auth::open(identity, &client, sys.clone()).await?);
    let heartbeat = Duration::from_secs(ports.heartbeat_secs.unwrap_or(30).max(1));
    Registry::open(auth, client, sys, ports.http_url, heartbeat).await
}

pub async fn token_create(args: TokenCreateArgs) -> anyhow::Result<()> {
    debug_assert!(args.registration);
    let registry = open_registry(&args.data.resolve()).await?;
    let new = NewKey {
        kind: KeyKind::Registration,
        name: args.name,
        prefix: args.prefix,
        capabilities: vec![],
        buckets: vec![],
        expires_at: Some(now_unix() + args.expires.as_secs().max(1) as i64),
        notes: String::new(),
    };
    issue_and_print(&registry, new).await
}

pub async fn key_create(args: KeyCreateArgs) -> anyhow::Result<()> {
    let capabilities = args
        .capabilities
        .iter()
        .map(|c| Capability::parse_cli(c))
        .collect::<Result<Vec<_>, _>>()?;
    if capabilities.is_empty() && args.prefix.is_none() {
        bail!(
            "give at least one --capability (e.g. --capability pub:extensions.catalog.list) or a --prefix"
        );
    }
    let new = NewKey {
        kind: KeyKind::ApiKey,
        name: args.name,
        prefix: args.prefix,
        capabilities,
        buckets: args.buckets,
        expires_at: args.expires.map(|d| now_unix() + d.as_secs().max(1) as i64),
        notes: args.notes,
    };
    // Checked before connecting: a bad key is refused even with no server running.
    new.validate()?;
    let registry = open_registry(&args.data.resolve()).await?;
    issue_and_print(&registry, new).await
}

/// Issues `new` as the data dir's administrator and prints the token (only it, on stdout).
async fn issue_and_print(registry: &Registry, new: NewKey) -> anyhow::Result<()> {
    let (_, token) = registry
        .auth
        .issue(Issuer::Cli, new, &registry.settings.origin)
        .await?;
    println!("{}", token.encode());
    Ok(())
}

pub async fn extension_list(args: ExtensionListArgs) -> anyhow::Result<()> {
    let registry = open_registry(&args.data.resolve()).await?;
    let views = registry.views().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(());
    }
    println!("{:<20} {:<28} {:<9} INSTANCES", "PREFIX", "NAME", "STATE");
    for v in views {
        let state = match v.state {
            ExtensionState::Ok => "OK",
            ExtensionState::Warning => "Warning",
            ExtensionState::Error => "Error",
            ExtensionState::Inactive => "Inactive",
        };
        println!(
            "{:<20} {:<28} {:<9} {}",
            v.prefix,
            v.name,
            state,
            v.instances.len()
        );
    }
    Ok(())
}

//! The server's own NATS connections (application account and system account), account-JWT pushes,
//! and the cluster size that decides bucket replicas.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::{AuthError, Client, ConnectOptions};
use nkeys::KeyPair;

use crate::identity::Identity;

/// Connects with a user JWT, signing the server nonce with `key`.
async fn connect_with_jwt(
    urls: &[String],
    (jwt, key): (String, KeyPair),
    name: &str,
    inbox_prefix: Option<&str>,
    ca: Option<&Path>,
) -> anyhow::Result<Client> {
    let key = Arc::new(key);
    let mut opts = ConnectOptions::with_jwt(jwt, move |nonce| {
        let key = key.clone();
        async move { key.sign(&nonce).map_err(AuthError::new) }
    })
    .name(name)
    .max_reconnects(None)
    .connection_timeout(Duration::from_secs(5))
    .event_callback(|event| async move {
        match event {
            async_nats::Event::Connected => tracing::info!("NATS connected"),
            async_nats::Event::Disconnected => tracing::warn!("NATS disconnected"),
            other => tracing::debug!(event = %other, "NATS event"),
        }
    });
    if let Some(ca) = ca {
        opts = opts.add_root_certificates(ca.to_path_buf());
    }
    if let Some(prefix) = inbox_prefix {
        opts = opts.custom_inbox_prefix(prefix);
    }
    let client = opts
        .connect(urls.to_vec())
        .await
        .with_context(|| format!("cannot connect to NATS at {}", urls.join(",")))?;
    Ok(client)
}

/// The system-account connection.
pub async fn connect_system(
    identity: &Identity,
    urls: &[String],
    ca: Option<&Path>,
) -> anyhow::Result<Client> {
    let credentials = identity.system_credentials()?;
    connect_with_jwt(urls, credentials, "symphony-system", None, ca).await
}

/// The application-account connection the server works with.
pub async fn connect_server(
    identity: &Identity,
    urls: &[String],
    ca: Option<&Path>,
) -> anyhow::Result<Client> {
    let credentials = identity.server_credentials()?;
    connect_with_jwt(urls, credentials, "symphony-server", None, ca).await
}

/// A short connection of the server into `prefix`'s extension account, for its JetStream API.
pub async fn connect_extension_admin(
    identity: &Identity,
    prefix: &str,
    urls: &[String],
    ca: Option<&Path>,
) -> anyhow::Result<Client> {
    let credentials = identity.extension_admin_credentials(prefix)?;
    connect_with_jwt(
        urls,
        credentials,
        "symphony-server",
        Some(symphony_protocol::subjects::SERVER_INBOX),
        ca,
    )
    .await
}

/// The gateway's connection into `prefix`'s extension account: a user that may only call that
/// extension's services and hear the replies in its own inbox.
pub async fn connect_gateway(
    identity: &Identity,
    prefix: &str,
    urls: &[String],
    ca: Option<&Path>,
) -> anyhow::Result<Client> {
    let credentials = identity.gateway_credentials(prefix)?;
    connect_with_jwt(
        urls,
        credentials,
        "symphony-gateway",
        Some(symphony_protocol::subjects::GATEWAY_INBOX),
        ca,
    )
    .await
}

/// Pushes an account JWT to the resolver (`$SYS.REQ.CLAIMS.UPDATE`) and checks the reply.
pub async fn push_account_jwt(sys: &Client, jwt: &str) -> anyhow::Result<()> {
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        sys.request("$SYS.REQ.CLAIMS.UPDATE", jwt.to_owned().into()),
    )
    .await
    .context("timed out pushing an account JWT")?
    .context("cannot push an account JWT")?;
    let v: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap_or_default();
    let code = v["data"]["code"].as_i64().unwrap_or_default();
    if code != 200 {
        bail!(
            "nats-server refused the account JWT: {}",
            String::from_utf8_lossy(&reply.payload)
        );
    }
    Ok(())
}

/// Number of JetStream servers in the meta group (1 when not clustered).
pub async fn cluster_size(sys: &Client) -> anyhow::Result<usize> {
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        sys.request("$SYS.REQ.SERVER.PING.JSZ", "{}".into()),
    )
    .await
    .context("timed out asking nats-server for JetStream info")??;
    let v: serde_json::Value = serde_json::from_slice(&reply.payload)?;
    Ok(v["data"]["meta_cluster"]["cluster_size"]
        .as_u64()
        .map_or(1, |n| n.max(1) as usize))
}

/// Replicas for buckets on a cluster of `size` nodes: 1 standalone, 3 for 3–4, 5 for 5+.
pub fn replicas_for(size: usize) -> usize {
    match size {
        0..=2 => 1,
        3..=4 => 3,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replica_rule() {
        let got: Vec<usize> = (1..=7).map(super::replicas_for).collect();
        assert_eq!(got, vec![1, 1, 3, 3, 5, 5, 5]);
    }
}

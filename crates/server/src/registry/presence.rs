//! Presence: an instance whose NATS connection closes is shown `disconnected` at once, instead of
//! when its status entry expires (docs/protocol.md §5.3).
//!
//! nats-server publishes a client disconnect advisory on `$SYS.ACCOUNT.<account>.DISCONNECT` for
//! every closed connection. SDK connections are named `<prefix>-<instance id>` (§5.6), so the
//! advisory says whose status entry (`$KV.symphony_status.<prefix>.<instance id>`) to mark — but a
//! name is whatever a client chose, so it is believed only when nats-server says the connection
//! was that instance's own user (its nkey, derived from the key id) in that prefix's account.
//! A stale advisory must never hide a live
//! instance (it may have reconnected to another node and published a fresh status already), so
//! before writing, the server
//!
//! 1. reads the status entry and remembers its revision; nothing to do when it is missing or
//!    already `disconnected`;
//! 2. asks every nats-server for the account's open connections of that user
//!    (`$SYS.REQ.ACCOUNT.<account>.CONNZ`): a connection with the same name, other than the one
//!    that closed, means the instance is still (or again) connected;
//! 3. writes `disconnected` with a compare-and-swap on the remembered revision: a status the
//!    instance published in the meantime wins.
//!
//! Replicas share the advisories through the queue group `symphony`; the compare-and-swap would
//! make any number of them reacting to one advisory harmless anyway.

use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use symphony_protocol::KeyId;
use symphony_protocol::messages::{InstanceState, InstanceStatus};
use symphony_protocol::names::validate_prefix;
use symphony_protocol::subjects;
use symphony_protocol::time::now_rfc3339;

use super::Registry;
use crate::bus::connect::cluster_size;
use crate::identity::Account;

/// How long the server waits for the nats-servers' connection lists (it stops earlier once every
/// server of the cluster answered, or one lists the instance).
const CONNZ_WINDOW: Duration = Duration::from_secs(2);

/// The parts of nats-server's `io.nats.server.advisory.v1.client_disconnect` the server uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DisconnectAdvisory {
    pub server: AdvisoryServer,
    pub client: AdvisoryClient,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AdvisoryServer {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AdvisoryClient {
    /// The connection id on `server`.
    pub id: u64,
    #[serde(default)]
    pub acc: String,
    /// The user's public nkey.
    #[serde(default)]
    pub user: String,
    /// The connection name the client chose.
    #[serde(default)]
    pub name: String,
}

/// What became of one advisory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not an instance connection: another name, or not the named instance's own user in its
    /// extension's account.
    NotAnInstance,
    /// No status entry, or it is `disconnected` already.
    NothingToMark,
    /// Another connection with the instance's name is open: it reconnected.
    StillConnected,
    /// The instance published a status while the server checked; that status stays.
    Superseded,
    /// The status entry now says `disconnected`.
    Marked,
}

/// `<prefix>-<instance id>` → (prefix, instance id), for SDK connection names (§5.6).
pub fn instance_of_connection(name: &str) -> Option<(&str, KeyId)> {
    let (prefix, id) = name.split_once('-')?;
    validate_prefix(prefix).ok()?;
    Some((prefix, KeyId::parse(id).ok()?))
}

/// One nats-server's answer to `$SYS.REQ.ACCOUNT.<account>.CONNZ`.
#[derive(Debug, Default, Deserialize)]
struct ConnzReply {
    #[serde(default)]
    server: Option<AdvisoryServer>,
    #[serde(default)]
    data: Option<Connz>,
}

#[derive(Debug, Default, Deserialize)]
struct Connz {
    #[serde(default)]
    server_id: String,
    #[serde(default)]
    connections: Vec<ConnInfo>,
}

#[derive(Debug, Default, Deserialize)]
struct ConnInfo {
    #[serde(default)]
    cid: u64,
    #[serde(default)]
    name: String,
}

impl ConnzReply {
    /// Whether this server lists an open connection named `name` other than the one that closed.
    fn lists(&self, name: &str, closed: &DisconnectAdvisory) -> bool {
        let Some(data) = &self.data else {
            return false;
        };
        let server_id = self
            .server
            .as_ref()
            .map_or(data.server_id.as_str(), |s| s.id.as_str());
        data.connections.iter().any(|c| {
            c.name == name && !(server_id == closed.server.id && c.cid == closed.client.id)
        })
    }
}

impl Registry {
    /// Every account's disconnect advisories, for as long as the process runs.
    pub async fn follow_disconnects(self) {
        let subject = "$SYS.ACCOUNT.*.DISCONNECT".to_owned();
        loop {
            match self
                .sys
                .queue_subscribe(subject.clone(), subjects::SERVER_QUEUE_GROUP.to_owned())
                .await
            {
                Ok(mut sub) => {
                    tracing::debug!(subject, "following disconnect advisories");
                    while let Some(msg) = sub.next().await {
                        let registry = self.clone();
                        tokio::spawn(async move {
                            registry.on_disconnect_message(&msg.payload).await;
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot follow disconnect advisories"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn on_disconnect_message(&self, payload: &[u8]) {
        tracing::trace!(advisory = %String::from_utf8_lossy(payload), "disconnect advisory");
        let advisory: DisconnectAdvisory = match serde_json::from_slice(payload) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable disconnect advisory");
                return;
            }
        };
        match self.on_disconnect(&advisory).await {
            Ok(Outcome::Marked) => tracing::info!(
                connection = %advisory.client.name,
                reason = %advisory.reason,
                server = %advisory.server.name,
                "instance disconnected"
            ),
            Ok(outcome @ (Outcome::StillConnected | Outcome::Superseded)) => tracing::info!(
                connection = %advisory.client.name,
                ?outcome,
                "disconnect advisory ignored: the instance is live"
            ),
            Ok(outcome) => tracing::debug!(
                connection = %advisory.client.name,
                ?outcome,
                "disconnect advisory"
            ),
            Err(e) => tracing::warn!(
                connection = %advisory.client.name,
                error = %format!("{e:#}"),
                "cannot record a disconnect; the status entry will expire instead"
            ),
        }
    }

    /// Marks the instance of a closed connection `disconnected`, unless it is connected again or
    /// has published a newer status (see the module documentation).
    pub async fn on_disconnect(&self, advisory: &DisconnectAdvisory) -> anyhow::Result<Outcome> {
        let Some((prefix, id)) = instance_of_connection(&advisory.client.name) else {
            return Ok(Outcome::NotAnInstance);
        };
        let identity = &self.auth.identity;
        let account = identity.account_public(&Account::Extension(prefix.to_owned()));
        if advisory.client.acc != account {
            return Ok(Outcome::NotAnInstance);
        }
        let key = subjects::status_key(prefix, &id);
        let Some(entry) = self.status.get(&key).await? else {
            return Ok(Outcome::NothingToMark);
        };
        let mut status: InstanceStatus = (*entry.value).clone();
        // The connection must be the user of the key the instance was minted for (§12.1).
        let Some(key_id) = status
            .key_id
            .clone()
            .filter(|k| identity.is_instance_of(k, &id))
        else {
            return Ok(Outcome::NotAnInstance);
        };
        if advisory.client.user != identity.user_keypair(&key_id)?.public_key() {
            return Ok(Outcome::NotAnInstance);
        }
        if !status.state.is_live() {
            return Ok(Outcome::NothingToMark);
        }
        if self.connected_elsewhere(&account, advisory).await? {
            return Ok(Outcome::StillConnected);
        }
        status.state = InstanceState::Disconnected;
        status.updated_at = now_rfc3339();
        status.message = Some(if advisory.reason.is_empty() {
            "connection closed".to_owned()
        } else {
            format!("connection closed ({})", advisory.reason)
        });
        match self.status.update(&key, status, entry.revision).await? {
            Some(_) => Ok(Outcome::Marked),
            None => Ok(Outcome::Superseded),
        }
    }

    /// Whether some nats-server lists another open connection with the closed one's name.
    async fn connected_elsewhere(
        &self,
        account: &str,
        closed: &DisconnectAdvisory,
    ) -> anyhow::Result<bool> {
        let servers = cluster_size(&self.sys).await.unwrap_or(usize::MAX);
        let inbox = self.sys.new_inbox();
        let mut replies = self.sys.subscribe(inbox.clone()).await?;
        let filter = serde_json::json!({ "limit": 1024, "user": closed.client.user });
        self.sys
            .publish_with_reply(
                format!("$SYS.REQ.ACCOUNT.{account}.CONNZ"),
                inbox,
                serde_json::to_vec(&filter)?.into(),
            )
            .await?;
        let until = tokio::time::Instant::now() + CONNZ_WINDOW;
        let mut answered = 0;
        while answered < servers {
            let Ok(Some(msg)) = tokio::time::timeout_at(until, replies.next()).await else {
                break;
            };
            answered += 1;
            tracing::trace!(reply = %String::from_utf8_lossy(&msg.payload), "connection list");
            let reply: ConnzReply = serde_json::from_slice(&msg.payload).unwrap_or_default();
            if reply.lists(&closed.client.name, closed) {
                return Ok(true);
            }
        }
        tracing::debug!(answered, servers, "no connection list names the instance");
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_connection_names() {
        let id = KeyId::generate();
        let name = format!("catalog-{id}");
        assert_eq!(instance_of_connection(&name), Some(("catalog", id.clone())));
        assert_eq!(
            instance_of_connection(&format!("my_ext2-{id}")).map(|(p, _)| p),
            Some("my_ext2")
        );
        for other in [
            "catalog-provision".to_owned(),
            "symphony-server".to_owned(),
            "symphony-system".to_owned(),
            format!("Catalog-{id}"),
            format!("catalog{id}"),
            String::new(),
        ] {
            assert_eq!(instance_of_connection(&other), None, "{other:?}");
        }
    }

    fn advisory(server: &str, cid: u64, name: &str) -> DisconnectAdvisory {
        DisconnectAdvisory {
            server: AdvisoryServer {
                id: server.into(),
                name: String::new(),
            },
            client: AdvisoryClient {
                id: cid,
                acc: String::new(),
                user: String::new(),
                name: name.into(),
            },
            reason: String::new(),
        }
    }

    fn connz(server: &str, conns: &[(u64, &str)]) -> ConnzReply {
        serde_json::from_value(serde_json::json!({
            "server": {"id": server, "name": "n"},
            "data": {"server_id": server, "connections": conns.iter()
                .map(|(cid, name)| serde_json::json!({"cid": cid, "name": name}))
                .collect::<Vec<_>>()}
        }))
        .unwrap()
    }

    #[test]
    fn the_closed_connection_itself_does_not_count_as_connected() {
        let closed = advisory("NA", 7, "hello-K");
        assert!(!connz("NA", &[(7, "hello-K")]).lists("hello-K", &closed));
        assert!(!connz("NA", &[(8, "other-K")]).lists("hello-K", &closed));
        assert!(connz("NA", &[(9, "hello-K")]).lists("hello-K", &closed));
        assert!(
            connz("NB", &[(7, "hello-K")]).lists("hello-K", &closed),
            "the same cid on another server is another connection"
        );
        assert!(!ConnzReply::default().lists("hello-K", &closed));
    }
}

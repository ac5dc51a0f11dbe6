//! Request handlers of `cirata.services.*`: provisioning, registration, cluster info.
//! Every request gets a reply: the result, or `{"error": …}` with a stable code.
//!
//! Requests come from other accounts through the platform's service export, so nats-server stamps
//! each with `Nats-Request-Info` (account and user nkey of the sender; the imports share it). A
//! request naming a key is answered only when that key's own user in that key's own account sent
//! it, and replies go only to the reply subject nats-server made up for the import (or an inbox):
//! never to a subject a caller chose (docs/protocol.md §3.1, docs/security.md).

use async_nats::Message;
use async_nats::jetstream;
use serde::{Deserialize, Serialize};
use symphony_protocol::error::ErrorReply;
use symphony_protocol::manifest::Manifest;
use symphony_protocol::messages::{
    BucketReply, ClusterInfo, KeyKind, ProvisionReply, ProvisionRequest, RegisterReply,
    RegistryRecord,
};
use symphony_protocol::names::{validate_bucket, validate_prefix};
use symphony_protocol::time::{now_rfc3339, now_unix};
use symphony_protocol::{ErrorBody, ErrorCode, KeyId, PROTOCOL_VERSION, subjects};

use super::Registry;
use crate::auth::audit::{AuditAction, event};
use crate::auth::issue::Issuer;
use crate::auth::keys::{KeyRecord, NewKey};
use crate::bus::connect::{cluster_size, connect_extension_admin};
use crate::bus::kv::ensure_bucket;
use crate::error::internal;

fn bad_request(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::InvalidRequest, message)
}

/// The sender nats-server vouches for (the `Nats-Request-Info` header it sets on requests that
/// cross a service import; a client cannot forge it there).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RequestInfo {
    /// The sender's account public key.
    #[serde(default)]
    pub acc: String,
    /// The sender's user nkey (the import shares it).
    #[serde(default)]
    pub user: String,
}

impl RequestInfo {
    fn of(msg: &Message) -> Option<RequestInfo> {
        let value = msg.headers.as_ref()?.get("Nats-Request-Info")?;
        serde_json::from_str(value.as_str()).ok()
    }
}

impl Registry {
    pub(super) async fn handle(&self, msg: Message) {
        let Some(reply) = msg.reply.clone() else {
            return;
        };
        let subject = msg.subject.as_str();
        if !subjects::is_reply_subject(&reply) {
            tracing::warn!(subject, reply = %reply, "refused a request whose reply subject is not an inbox");
            return;
        }
        if subject == subjects::USAGE_ENFORCEMENT {
            return; // the licensing feature answers it (its own subscription)
        }
        let sender = RequestInfo::of(&msg).unwrap_or_default();
        let result = if let Some(id) =
            subjects::key_id_suffix(subject, subjects::REGISTRY_PROVISION_PREFIX)
        {
            let provisioned = self.provision(id, &sender, &msg.payload).await;
            if let Err(error) = &provisioned {
                self.audit_failed_provisioning(id, &msg.payload, error)
                    .await;
            }
            provisioned.and_then(to_json)
        } else if let Some(rest) =
            subjects::key_id_suffix(subject, subjects::REGISTRY_REGISTER_PREFIX)
        {
            let (id, instance) = rest.split_once('.').unwrap_or((rest, ""));
            self.register(id, instance, &sender, &msg.payload)
                .await
                .and_then(to_json)
        } else if subject == subjects::CLUSTER_INFO {
            self.cluster_info().await.and_then(to_json)
        } else {
            Err(ErrorBody::new(
                ErrorCode::NotFound,
                format!("no Symphony service answers {subject}"),
            ))
        };
        let payload = match result {
            Ok(body) => body,
            Err(error) => {
                tracing::info!(subject, code = error.code.as_str(), message = %error.message, "request refused");
                serde_json::to_vec(&ErrorReply { error }).unwrap_or_default()
            }
        };
        if let Err(e) = self.client().publish(reply, payload.into()).await {
            tracing::warn!(error = %e, "cannot send a reply");
        }
    }

    /// The key `id` names, if `sender` is that key's own user in its own account and it is usable.
    async fn api_key_record(
        &self,
        id: &str,
        kind: KeyKind,
        sender: &RequestInfo,
    ) -> Result<(KeyRecord, u64), ErrorBody> {
        let id = KeyId::parse(id).map_err(|_| bad_request("malformed key id in the subject"))?;
        let (record, revision) = self
            .auth
            .keys
            .get(&id)
            .await
            .map_err(internal)?
            .ok_or_else(|| ErrorBody::new(ErrorCode::InvalidToken, "unknown key"))?;
        if record.kind != kind {
            return Err(ErrorBody::new(
                ErrorCode::WrongTokenKind,
                format!("this request needs a {kind:?} key"),
            ));
        }
        let identity = &self.auth.identity;
        let user = identity.user_keypair(&record.id).map_err(internal)?;
        if sender.acc != identity.account_public(&record.account())
            || sender.user != user.public_key()
        {
            return Err(ErrorBody::new(
                ErrorCode::Forbidden,
                "this request did not come from the key's own connection",
            ));
        }
        record.check_usable(now_unix())?;
        Ok((record, revision))
    }

    /// Fails with `prefix_owned` when `prefix` is registered under another extension name (the
    /// caller holds a key of that prefix, so the name is no secret to it).
    async fn check_prefix_owner(
        &self,
        prefix: &str,
        name: &str,
    ) -> Result<Option<RegistryRecord>, ErrorBody> {
        let existing = self.record(prefix).await.map_err(internal)?;
        if let Some(r) = existing.as_ref().filter(|r| r.manifest.name != name) {
            return Err(ErrorBody::new(
                ErrorCode::PrefixOwned,
                format!(
                    "prefix {prefix:?} is already owned by extension {:?}",
                    r.manifest.name
                ),
            )
            .with_hint(
                "choose another prefix; instances of one extension share a prefix and a name",
            ));
        }
        Ok(existing)
    }

    async fn provision(
        &self,
        id: &str,
        sender: &RequestInfo,
        payload: &[u8],
    ) -> Result<ProvisionReply, ErrorBody> {
        let (registration, revision) = self
            .api_key_record(id, KeyKind::Registration, sender)
            .await?;
        let req: ProvisionRequest = serde_json::from_slice(payload)
            .map_err(|e| bad_request(format!("provision request: {e}")))?;
        if req.v != PROTOCOL_VERSION {
            return Err(bad_request(format!(
                "provision request version {} is not supported",
                req.v
            )));
        }
        validate_prefix(&req.prefix)?;
        if let Some(bound) = registration.prefix.as_deref().filter(|b| *b != req.prefix) {
            return Err(ErrorBody::new(
                ErrorCode::PrefixMismatch,
                format!(
                    "this registration token is for prefix {bound:?}, not {:?}",
                    req.prefix
                ),
            ));
        }
        for bucket in &req.buckets {
            validate_bucket(bucket)?;
        }
        let new = NewKey {
            kind: KeyKind::ApiKey,
            name: req.name.clone(),
            prefix: Some(req.prefix.clone()),
            capabilities: req.capabilities,
            buckets: req.buckets,
            expires_at: None,
            notes: String::new(),
        };
        new.validate()?;
        self.check_prefix_owner(&req.prefix, &req.name).await?;
        let issuer = Issuer::Registration {
            token: &registration,
            revision,
        };
        let (key, token) = self.auth.issue(issuer, new, &self.settings.origin).await?;
        tracing::info!(registration = %registration.id, key = %key.id, prefix = %req.prefix, "provisioned an api key");
        Ok(ProvisionReply {
            token: token.encode(),
            id: key.id,
        })
    }

    async fn register(
        &self,
        id: &str,
        instance: &str,
        sender: &RequestInfo,
        payload: &[u8],
    ) -> Result<RegisterReply, ErrorBody> {
        let (key, _) = self.api_key_record(id, KeyKind::ApiKey, sender).await?;
        // nats-server lets an instance's JWT publish only its own registration subject; the
        // instance id is checked here too (docs/protocol.md §12.1).
        let instance = KeyId::parse(instance)
            .ok()
            .filter(|i| self.auth.identity.is_instance_of(&key.id, i))
            .ok_or_else(|| {
                ErrorBody::new(
                    ErrorCode::Forbidden,
                    "the subject names no instance of this key",
                )
                .with_hint("register on cirata.services.registry.register.<key id>.<instance id>")
            })?;
        let manifest = Manifest::parse(payload)?;
        let warnings = symphony_protocol::routes::compile(&manifest)?
            .map(|routes| routes.warnings)
            .unwrap_or_default();
        if key.prefix.as_deref() != Some(manifest.prefix.as_str()) {
            return Err(ErrorBody::new(
                ErrorCode::PrefixMismatch,
                format!(
                    "this key is bound to prefix {}, not {:?}",
                    key.prefix
                        .as_deref()
                        .map_or("none".to_owned(), |p| format!("{p:?}")),
                    manifest.prefix
                ),
            )
            .with_hint(
                "each extension needs its own key; provision one with a registration token",
            ));
        }
        let existing = self
            .check_prefix_owner(&manifest.prefix, &manifest.name)
            .await?;
        let first = existing.is_none();
        let replicas = self.replicas().await;
        let mut buckets = Vec::new();
        if !manifest.buckets.is_empty() {
            // Declared buckets are created in the extension's own account, by the server's own
            // user there.
            let settings = &self.settings;
            let admin = connect_extension_admin(
                &self.auth.identity,
                &manifest.prefix,
                &settings.nats_urls,
                settings.nats_ca.as_deref(),
            )
            .await
            .map_err(internal)?;
            let js = jetstream::new(admin.clone());
            for spec in &manifest.buckets {
                let created = ensure_bucket(&js, spec, replicas).await;
                if let Err(e) = created {
                    let _ = admin.drain().await;
                    return Err(ErrorBody::new(
                        ErrorCode::InvalidBucket,
                        format!("cannot create bucket {:?}: {e}", spec.name),
                    )
                    .with_hint("the extension account's JetStream limits may be reached; an administrator can raise them"));
                }
                buckets.push(BucketReply {
                    name: spec.name.clone(),
                    replicas,
                });
            }
            let _ = admin.drain().await;
        }
        let audited = match &existing {
            None => Some(event(
                AuditAction::ExtensionRegistered,
                &format!("key:{}", key.id),
                &format!("extension:{}", manifest.prefix),
            )),
            Some(old) => {
                let changed = manifest_changes(&old.manifest, &manifest);
                (!changed.is_empty()).then(|| {
                    event(
                        AuditAction::ManifestReplaced,
                        &format!("key:{}", key.id),
                        &format!("extension:{}", manifest.prefix),
                    )
                    .detail(format!("changed: {}", changed.join(", ")))
                })
            }
        };
        let now = now_rfc3339();
        let record = RegistryRecord {
            registered_at: existing.map_or_else(|| now.clone(), |r| r.registered_at),
            updated_at: now,
            manifest,
            warnings: warnings.clone(),
        };
        let prefix = record.manifest.prefix.clone();
        // The table writes through: a view read on this replica right after the reply shows it.
        self.store_record(&prefix, first, record).await?;
        tracing::info!(prefix = %prefix, key = %key.id, instance = %instance, "extension registered");
        if let Some(audited) = audited {
            self.auth.audit.record(audited).await;
        }
        Ok(RegisterReply {
            prefix,
            instance_id: instance,
            heartbeat_secs: self.settings.heartbeat.as_secs().max(1),
            status_ttl_secs: self.settings.status_ttl.as_secs(),
            buckets,
            warnings,
        })
    }

    /// Stores a registry record and returns its revision; the first registration of a prefix is
    /// an atomic create, so two different extensions racing for a new prefix cannot both win.
    async fn store_record(
        &self,
        prefix: &str,
        first: bool,
        record: RegistryRecord,
    ) -> Result<u64, ErrorBody> {
        if first {
            let created = self
                .records
                .create(prefix, record.clone())
                .await
                .map_err(internal)?;
            if let Some(revision) = created {
                return Ok(revision);
            }
            self.check_prefix_owner(prefix, &record.manifest.name)
                .await?;
        }
        self.records.put(prefix, record).await.map_err(internal)
    }

    /// A refused provisioning, audited with the token that tried and the prefix it asked for.
    async fn audit_failed_provisioning(&self, id: &str, payload: &[u8], error: &ErrorBody) {
        let prefix = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| v.get("prefix")?.as_str().map(str::to_owned))
            .filter(|p| validate_prefix(p).is_ok())
            .unwrap_or_default();
        let actor = match KeyId::parse(id) {
            Ok(id) => format!("key:{id}"),
            Err(_) => "unknown".to_owned(),
        };
        let failed = event(
            AuditAction::ProvisioningFailed,
            &actor,
            &format!("extension:{prefix}"),
        )
        .detail(format!("{}: {}", error.code.as_str(), error.message));
        self.auth.audit.record(failed).await;
    }

    async fn cluster_info(&self) -> Result<ClusterInfo, ErrorBody> {
        let size = cluster_size(&self.sys).await.map_err(internal)?;
        Ok(ClusterInfo {
            replicas: self.replicas().await,
            cluster_size: size,
        })
    }
}

/// The top-level parts of a manifest that differ between `old` and `new` (`resources`, `endpoints`, …),
/// in alphabetical order.
fn manifest_changes(old: &Manifest, new: &Manifest) -> Vec<String> {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return vec!["manifest".to_owned()];
    };
    let mut keys: Vec<&String> = new.keys().collect();
    keys.extend(old.keys().filter(|k| !new.contains_key(*k)));
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect()
}

fn to_json<T: Serialize>(value: T) -> Result<Vec<u8>, ErrorBody> {
    serde_json::to_vec(&value).map_err(internal)
}

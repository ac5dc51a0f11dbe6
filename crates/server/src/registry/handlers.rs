//! Request handlers of `cirata.services.*`: provisioning, registration, cluster info.
//! Every request gets a reply: the result, or `{"error": …}` with a stable code.

use async_nats::Message;
use serde::Serialize;
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
use crate::auth::issue::Issuer;
use crate::auth::keys::{KeyRecord, NewKey};
use crate::bus::connect::cluster_size;
use crate::bus::kv::ensure_bucket;
use crate::error::internal;

fn bad_request(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::InvalidRequest, message)
}

impl Registry {
    pub(super) async fn handle(&self, msg: Message) {
        let Some(reply) = msg.reply.clone() else {
            return;
        };
        let subject = msg.subject.as_str();
        let result = if let Some(id) =
            subjects::key_id_suffix(subject, subjects::REGISTRY_PROVISION_PREFIX)
        {
            self.provision(id, &msg.payload).await.and_then(to_json)
        } else if let Some(id) =
            subjects::key_id_suffix(subject, subjects::REGISTRY_REGISTER_PREFIX)
        {
            self.register(id, &msg.payload).await.and_then(to_json)
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

    async fn api_key_record(&self, id: &str, kind: KeyKind) -> Result<(KeyRecord, u64), ErrorBody> {
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
        record.check_usable(now_unix())?;
        Ok((record, revision))
    }

    /// Fails with `prefix_owned` when `prefix` is registered under another extension name.
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

    async fn provision(&self, id: &str, payload: &[u8]) -> Result<ProvisionReply, ErrorBody> {
        let (registration, revision) = self.api_key_record(id, KeyKind::Registration).await?;
        let req: ProvisionRequest = serde_json::from_slice(payload)
            .map_err(|e| bad_request(format!("provision request: {e}")))?;
        if req.v != PROTOCOL_VERSION {
            return Err(bad_request(format!(
                "provision request version {} is not supported",
                req.v
            )));
        }
        validate_prefix(&req.prefix)?;
        for bucket in &req.buckets {
            validate_bucket(&req.prefix, bucket)?;
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
        self.owners.check(&req.prefix, &new.buckets).await?;
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

    async fn register(&self, id: &str, payload: &[u8]) -> Result<RegisterReply, ErrorBody> {
        let (key, _) = self.api_key_record(id, KeyKind::ApiKey).await?;
        let manifest = Manifest::parse(payload)?;
        symphony_protocol::routes::compile(&manifest)?;
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
        let names = manifest.bucket_names();
        self.owners.claim(&manifest.prefix, &names).await?;
        let replicas = self.replicas().await;
        let mut buckets = Vec::new();
        for spec in &manifest.buckets {
            ensure_bucket(&self.js, spec, replicas).await.map_err(|e| {
                ErrorBody::new(
                    ErrorCode::InvalidBucket,
                    format!("cannot create bucket {:?}: {e}", spec.name),
                )
            })?;
            buckets.push(BucketReply {
                name: spec.name.clone(),
                replicas,
            });
        }
        let now = now_rfc3339();
        let record = RegistryRecord {
            registered_at: existing.map_or_else(|| now.clone(), |r| r.registered_at),
            updated_at: now,
            manifest,
        };
        let prefix = record.manifest.prefix.clone();
        // The table writes through: a view read on this replica right after the reply shows it.
        self.store_record(&prefix, first, record).await?;
        tracing::info!(prefix = %prefix, instance = %key.id, "extension registered");
        Ok(RegisterReply {
            prefix,
            instance_id: key.id,
            heartbeat_secs: self.settings.heartbeat.as_secs().max(1),
            status_ttl_secs: self.settings.status_ttl.as_secs(),
            buckets,
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

    async fn cluster_info(&self) -> Result<ClusterInfo, ErrorBody> {
        let size = cluster_size(&self.sys).await.map_err(internal)?;
        Ok(ClusterInfo {
            replicas: self.replicas().await,
            cluster_size: size,
        })
    }
}

fn to_json<T: Serialize>(value: T) -> Result<Vec<u8>, ErrorBody> {
    serde_json::to_vec(&value).map_err(internal)
}

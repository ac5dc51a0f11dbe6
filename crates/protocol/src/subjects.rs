//! Every NATS subject of the contract, built in one place (docs/protocol.md §4, §5).

use crate::token::KeyId;

/// The server's queue group for `cirata.services.>`.
pub const SERVER_QUEUE_GROUP: &str = "symphony";
/// Everything the server answers.
pub const SERVICES_WILDCARD: &str = "cirata.services.>";
pub const CLUSTER_INFO: &str = "cirata.services.cluster.info";
pub const USAGE_ENFORCEMENT: &str = "cirata.services.usage.enforcement";
pub const SYMPHONY_ENFORCEMENT: &str = "cirata.symphony.enforcement";
pub const REGISTRY_PROVISION_PREFIX: &str = "cirata.services.registry.provision";
pub const REGISTRY_REGISTER_PREFIX: &str = "cirata.services.registry.register";

/// Platform buckets.
pub const KEYS_BUCKET: &str = "symphony_keys";
pub const REGISTRY_BUCKET: &str = "symphony_registry";
pub const BUCKET_OWNERS_BUCKET: &str = "symphony_buckets";
pub const STATUS_BUCKET: &str = "symphony_status";
pub const USERS_BUCKET: &str = "symphony_users";
pub const ROLES_BUCKET: &str = "symphony_roles";
pub const SESSIONS_BUCKET: &str = "symphony_sessions";
pub const REVOCATIONS_BUCKET: &str = "symphony_revocations";
pub const LOGIN_FAILURES_BUCKET: &str = "symphony_login_failures";
/// The audit stream and its subjects (`symphony.audit.<action>`).
pub const AUDIT_STREAM: &str = "SYMPHONY_AUDIT";
pub const AUDIT_SUBJECT_PREFIX: &str = "symphony.audit";

pub fn provision(key: &KeyId) -> String {
    format!("{REGISTRY_PROVISION_PREFIX}.{key}")
}

pub fn register(key: &KeyId) -> String {
    format!("{REGISTRY_REGISTER_PREFIX}.{key}")
}

/// The status key of one instance inside [`STATUS_BUCKET`].
pub fn status_key(prefix: &str, key: &KeyId) -> String {
    format!("{prefix}.{key}")
}

/// The JetStream subject an instance publishes its status to.
pub fn status_subject(prefix: &str, key: &KeyId) -> String {
    format!("$KV.{STATUS_BUCKET}.{}", status_key(prefix, key))
}

/// The endpoint group of an extension: `cirata.extensions.<prefix>`.
pub fn extension_group(prefix: &str) -> String {
    format!("cirata.extensions.{prefix}")
}

/// Subjects addressed to one instance: `cirata.extensions.<prefix>.instance.<id>`.
pub fn instance_prefix(prefix: &str, key: &KeyId) -> String {
    format!("cirata.extensions.{prefix}.instance.{key}")
}

/// Inbox prefix of an api key (`_INBOX_<prefix>.<id>`, or `_INBOX_key.<id>` without a prefix).
pub fn api_key_inbox(prefix: Option<&str>, key: &KeyId) -> String {
    format!("_INBOX_{}.{key}", prefix.unwrap_or("key"))
}

/// Inbox prefix of a registration key.
pub fn registration_inbox(key: &KeyId) -> String {
    format!("_INBOX_provision.{key}")
}

/// Pulls the key id out of `<prefix>.<id>` subjects the server listens on.
pub fn key_id_suffix<'a>(subject: &'a str, prefix: &str) -> Option<&'a str> {
    subject.strip_prefix(prefix)?.strip_prefix('.')
}

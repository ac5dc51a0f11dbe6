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
pub const STATUS_BUCKET: &str = "symphony_status";
pub const USERS_BUCKET: &str = "symphony_users";
pub const ROLES_BUCKET: &str = "symphony_roles";
pub const SESSIONS_BUCKET: &str = "symphony_sessions";
pub const REVOCATIONS_BUCKET: &str = "symphony_revocations";
/// Extension accounts by prefix: owner and JetStream limits.
pub const ACCOUNTS_BUCKET: &str = "symphony_accounts";
pub const LOGIN_FAILURES_BUCKET: &str = "symphony_login_failures";
/// The audit stream and its subjects (`symphony.audit.<action>`).
pub const AUDIT_STREAM: &str = "SYMPHONY_AUDIT";
pub const AUDIT_SUBJECT_PREFIX: &str = "symphony.audit";

/// Accounts (docs/protocol.md §3.1): what the platform account exports to every other account.
/// Status writes of all extensions, each importing only its own `<prefix>.>` part.
pub const STATUS_EXPORT: &str = "$KV.symphony_status.>";
/// The server's inbox prefix on its connections in extension accounts (managing their JetStream).
pub const SERVER_INBOX: &str = "_INBOX_symphony";
/// The gateway's inbox prefix (its own user in the clients account).
pub const GATEWAY_INBOX: &str = "_INBOX_gateway";
/// Reply subjects a request carries after crossing a service import.
pub const IMPORT_REPLY_PREFIX: &str = "_R_.";

/// The part of [`STATUS_EXPORT`] an extension account imports.
pub fn status_import(prefix: &str) -> String {
    format!("$KV.{STATUS_BUCKET}.{prefix}.>")
}

/// An extension's services (requests to its endpoints), exported from its account.
pub fn extension_services(prefix: &str) -> String {
    format!("cirata.extensions.{prefix}.>")
}

/// An extension's events, exported from its account as a stream.
pub fn extension_events(prefix: &str) -> String {
    format!("extensions.{prefix}.>")
}

/// Whether a reply subject is one a platform service may answer: an inbox, or the reply a
/// service import made up for a request from another account. Anything else is a caller trying
/// to make the server publish to a subject of its choosing.
pub fn is_reply_subject(subject: &str) -> bool {
    subject.starts_with(IMPORT_REPLY_PREFIX) || subject.starts_with("_INBOX")
}

pub fn provision(key: &KeyId) -> String {
    format!("{REGISTRY_PROVISION_PREFIX}.{key}")
}

/// The registration subject of one instance: `cirata.services.registry.register.<K>.<I>`.
pub fn register(key: &KeyId, instance: &KeyId) -> String {
    format!("{REGISTRY_REGISTER_PREFIX}.{key}.{instance}")
}

/// Queue group of the commands channel (docs/protocol.md §12.3).
pub const COMMANDS_QUEUE: &str = "commands";

/// The subject of command `name`: `cirata.extensions.<prefix>.commands.<name>`.
pub fn command_subject(prefix: &str, name: &str) -> String {
    format!("cirata.extensions.{prefix}.commands.{name}")
}

/// The subject of instance handler `name` of one instance (§12.2).
pub fn instance_handler_subject(prefix: &str, instance: &KeyId, name: &str) -> String {
    format!("{}.{name}", instance_prefix(prefix, instance))
}

/// The status key of one instance inside [`STATUS_BUCKET`].
pub fn status_key(prefix: &str, instance: &KeyId) -> String {
    format!("{prefix}.{instance}")
}

/// The JetStream subject an instance publishes its status to.
pub fn status_subject(prefix: &str, instance: &KeyId) -> String {
    format!("$KV.{STATUS_BUCKET}.{}", status_key(prefix, instance))
}

/// The endpoint group of an extension: `cirata.extensions.<prefix>`.
pub fn extension_group(prefix: &str) -> String {
    format!("cirata.extensions.{prefix}")
}

/// Subjects addressed to one instance: `cirata.extensions.<prefix>.instance.<id>`.
pub fn instance_prefix(prefix: &str, instance: &KeyId) -> String {
    format!("cirata.extensions.{prefix}.instance.{instance}")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inboxes_and_import_replies_are_answered() {
        for ok in ["_R_.abc.def", "_INBOX_catalog.k.1", "_INBOX.x"] {
            assert!(is_reply_subject(ok), "{ok}");
        }
        for bad in [
            "$KV.symphony_roles.x",
            "$JS.API.STREAM.DELETE.KV_symphony_keys",
            "cirata.extensions.victim.hijack",
            "",
            "_R",
        ] {
            assert!(!is_reply_subject(bad), "{bad}");
        }
        assert_eq!(status_import("catalog"), "$KV.symphony_status.catalog.>");
        assert_eq!(extension_services("catalog"), "cirata.extensions.catalog.>");
    }
}

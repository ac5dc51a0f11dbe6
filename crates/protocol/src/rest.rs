//! Payloads of the platform's own REST API (docs/protocol.md §9): keys, users, sign-in, browser
//! credentials and the audit trail. The server answers with these types, the CLI and the end-to-end
//! tests read them, and the web UI's TypeScript declarations (`web/src/generated/contract.ts`) are
//! generated from them by this crate's tests, so no side keeps a copy.

use serde::{Deserialize, Serialize};

use crate::capability::{Capability, CapabilitySummary};
use crate::error::ErrorBody;
use crate::jwt::JetStreamLimits;
use crate::messages::KeyKind;
use crate::token::KeyId;

/// Paths under which the server answers itself (APIs, docs, downloads, vendored files): never the
/// web shell's routes. The web UI imports the same list from the generated contract.
pub const SERVER_PREFIXES: [&str; 5] = ["/api", "/help/access", "/pypi", "/downloads", "/vendor"];

/// Whether `path` lies under one of [`SERVER_PREFIXES`] (per segment: `/apix` does not).
pub fn is_server_path(path: &str) -> bool {
    SERVER_PREFIXES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The JetStream limits an extension account gets unless an administrator changes them: enough for
/// any extension's own data, not enough for one extension to fill the disk (docs/protocol.md §3.1).
pub const DEFAULT_EXTENSION_LIMITS: JetStreamLimits = JetStreamLimits {
    disk_storage: 1 << 30,
    mem_storage: 64 << 20,
    streams: 100,
    consumer: 1000,
};

/// An extension prefix's NATS account as the platform records it (`symphony_accounts`, by prefix):
/// who owns the prefix and the account's JetStream limits. `GET /api/v1/extensions/{prefix}/account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ExtensionAccount {
    pub prefix: String,
    /// The account's public key (`A…`).
    #[serde(default)]
    pub account: String,
    /// The user who owns the prefix (empty: the bootstrap CLI, an administrator).
    #[serde(default)]
    pub owner: String,
    /// Who created it: `<user>`, `key:<registration key id>` or `cli`.
    #[serde(default)]
    pub created_by: String,
    pub created_at: String,
    pub limits: JetStreamLimits,
}

/// `PUT /api/v1/extensions/{prefix}/limits`: the new JetStream limits (bytes, counts; -1 unlimited).
pub type UpdateLimits = JetStreamLimits;

/// A capability in a request: the JSON form or the CLI form `pub:extensions.x.y`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(untagged)]
pub enum CapabilityInput {
    Full(Capability),
    Short(String),
}

impl CapabilityInput {
    pub fn parse(self) -> Result<Capability, ErrorBody> {
        match self {
            CapabilityInput::Full(c) => Ok(c),
            CapabilityInput::Short(s) => Capability::parse_cli(&s),
        }
    }
}

/// `POST /api/v1/keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CreateKey {
    pub name: String,
    /// A single-use registration token instead of an API key.
    #[serde(default)]
    #[cfg_attr(test, ts(as = "Option<bool>", optional))]
    pub registration: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(test, ts(as = "Option<Vec<CapabilityInput>>", optional))]
    pub capabilities: Vec<CapabilityInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(test, ts(as = "Option<Vec<String>>", optional))]
    pub buckets: Vec<String>,
    /// Lifetime such as `24h` or `30d`; registration tokens default to 24 h, API keys to none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub expires_in: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(test, ts(as = "Option<String>", optional))]
    pub notes: String,
}

/// `POST /api/v1/keys`' reply (201). The token is shown once: the server keeps only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CreatedKey {
    #[cfg_attr(test, ts(type = "string"))]
    pub id: KeyId,
    pub kind: KeyKind,
    pub name: String,
    pub token: String,
    pub expires_at: Option<String>,
}

/// `PUT /api/v1/key/{id}`: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UpdateKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub notes: Option<String>,
    /// A new lifetime from now (`30d`), or `"never"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub expires_in: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub capabilities: Option<Vec<CapabilityInput>>,
}

/// One entry of `GET /api/v1/keys` (the token itself is never shown again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct KeyView {
    #[cfg_attr(test, ts(type = "string"))]
    pub id: KeyId,
    pub name: String,
    pub kind: KeyKind,
    pub owner: String,
    pub prefix: Option<String>,
    pub capabilities: CapabilitySummary,
    pub buckets: Vec<String>,
    pub notes: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used: Option<String>,
    pub revoked: bool,
    /// A registration token that has provisioned its key.
    pub used: bool,
    #[cfg_attr(test, ts(type = "number"))]
    pub connected_instances: usize,
}

/// `POST /api/v1/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// `POST /api/v1/login`'s reply; the token is also set as the session cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LoginReply {
    pub token: String,
    pub username: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    #[cfg_attr(test, ts(type = "number"))]
    pub idle_timeout_secs: u64,
}

/// `GET /api/v1/usertoken`: the browser's short-lived credentials (NATS over WebSocket and an HTTP
/// bearer acting as the session).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UserToken {
    pub token: String,
    pub jwt: String,
    pub seed: String,
    pub websocket_url: Option<String>,
    pub inbox_prefix: String,
    pub expires_at: String,
    #[cfg_attr(test, ts(type = "number"))]
    pub renew_after_secs: u64,
}

/// `POST /api/v1/usertoken/scoped`: credentials for one extension's UI frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ScopedTokenRequest {
    /// The extension whose frame gets the credentials.
    pub prefix: String,
}

/// `POST /api/v1/usertoken/scoped`'s reply: what an extension's UI frame may hold (docs/ui.md
/// "Trust"). `token` is a scoped bearer: only that extension's gateway routes accept it (on the
/// shell's origin and the UI sandbox origin), within the user's roles, until `expires_at` and never
/// after the session ends. The NATS credentials (`jwt`, `seed`, `inbox_prefix`) may publish to
/// `cirata.extensions.<prefix>.>` and subscribe to `extensions.<prefix>.>` where the user's roles
/// allow it, and use their own inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ScopedToken {
    pub prefix: String,
    pub token: String,
    pub jwt: String,
    pub seed: String,
    pub websocket_url: Option<String>,
    pub inbox_prefix: String,
    pub expires_at: String,
    #[cfg_attr(test, ts(type = "number"))]
    pub renew_after_secs: u64,
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UserView {
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub source: String,
    pub disabled: bool,
    pub created_at: String,
}

/// `POST /api/v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    #[serde(default)]
    #[cfg_attr(test, ts(as = "Option<String>", optional))]
    pub display_name: String,
    #[serde(default)]
    #[cfg_attr(test, ts(as = "Option<Vec<String>>", optional))]
    pub roles: Vec<String>,
}

/// `PUT /api/v1/users/{name}`: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UpdateUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub disabled: Option<bool>,
}

/// What the audit trail records. Reading an action this build does not know (written by a newer
/// server) gives [`AuditAction::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Login,
    LoginFailed,
    Logout,
    KeyCreated,
    RegistrationTokenCreated,
    KeyUpdated,
    KeyRevoked,
    Provisioned,
    UserCreated,
    UserUpdated,
    UserDeleted,
    RoleUpdated,
    RoleDeleted,
    /// An administrator changed an extension account's JetStream limits.
    LimitsChanged,
    /// An extension registered for the first time.
    ExtensionRegistered,
    /// A registration replaced an extension's manifest with a different one (the detail says what changed).
    ManifestReplaced,
    /// A registration token's provisioning was refused (the detail has the code and message).
    ProvisioningFailed,
    /// A token was exchanged for its NATS credentials (`GET /api/v1/apikey`).
    KeyExchanged,
    /// A signed-in user was given browser credentials (`GET /api/v1/usertoken`).
    UserTokenIssued,
    /// An administrator uploaded a license (`POST /api/v1/licenses`).
    LicenseAdded,
    /// An administrator removed a license (`DELETE /api/v1/licenses/{id}`).
    LicenseRemoved,
    /// An action this build does not know.
    Other,
}

/// Every action but [`AuditAction::Other`].
const AUDIT_ACTIONS: [AuditAction; 21] = [
    AuditAction::Login,
    AuditAction::LoginFailed,
    AuditAction::Logout,
    AuditAction::KeyCreated,
    AuditAction::RegistrationTokenCreated,
    AuditAction::KeyUpdated,
    AuditAction::KeyRevoked,
    AuditAction::Provisioned,
    AuditAction::UserCreated,
    AuditAction::UserUpdated,
    AuditAction::UserDeleted,
    AuditAction::RoleUpdated,
    AuditAction::RoleDeleted,
    AuditAction::LimitsChanged,
    AuditAction::ExtensionRegistered,
    AuditAction::ManifestReplaced,
    AuditAction::ProvisioningFailed,
    AuditAction::KeyExchanged,
    AuditAction::UserTokenIssued,
    AuditAction::LicenseAdded,
    AuditAction::LicenseRemoved,
];

impl<'de> Deserialize<'de> for AuditAction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(AUDIT_ACTIONS
            .into_iter()
            .find(|a| a.as_str() == name)
            .unwrap_or(AuditAction::Other))
    }
}

impl AuditAction {
    /// The name on the wire and in the audit subject (`symphony.audit.<action>`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::Logout => "logout",
            AuditAction::KeyCreated => "key_created",
            AuditAction::RegistrationTokenCreated => "registration_token_created",
            AuditAction::KeyUpdated => "key_updated",
            AuditAction::KeyRevoked => "key_revoked",
            AuditAction::Provisioned => "provisioned",
            AuditAction::UserCreated => "user_created",
            AuditAction::UserUpdated => "user_updated",
            AuditAction::UserDeleted => "user_deleted",
            AuditAction::RoleUpdated => "role_updated",
            AuditAction::RoleDeleted => "role_deleted",
            AuditAction::LimitsChanged => "limits_changed",
            AuditAction::ExtensionRegistered => "extension_registered",
            AuditAction::ManifestReplaced => "manifest_replaced",
            AuditAction::ProvisioningFailed => "provisioning_failed",
            AuditAction::KeyExchanged => "key_exchanged",
            AuditAction::UserTokenIssued => "user_token_issued",
            AuditAction::LicenseAdded => "license_added",
            AuditAction::LicenseRemoved => "license_removed",
            AuditAction::Other => "other",
        }
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for AuditAction {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One event of `GET /api/v1/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AuditEvent {
    /// RFC 3339.
    pub time: String,
    pub action: AuditAction,
    /// A username, `key:<id>`, or `cli`.
    pub actor: String,
    #[serde(default)]
    pub target: String,
    /// The caller's address, when the event came over HTTP.
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub detail: String,
}

impl AuditEvent {
    /// An event at `time` (RFC 3339) with no address or detail.
    pub fn new(time: String, action: AuditAction, actor: &str, target: &str) -> Self {
        AuditEvent {
            time,
            action,
            actor: actor.into(),
            target: target.into(),
            address: String::new(),
            detail: String::new(),
        }
    }

    /// The caller's address.
    pub fn at(mut self, address: &str) -> Self {
        self.address = address.into();
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_actions_round_trip_by_name_and_unknown_ones_are_other() {
        for action in [
            AuditAction::Login,
            AuditAction::RegistrationTokenCreated,
            AuditAction::RoleDeleted,
        ] {
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{}\"", action.as_str()));
            assert_eq!(serde_json::from_str::<AuditAction>(&json).unwrap(), action);
        }
        let later: AuditAction = serde_json::from_str("\"license_installed\"").unwrap();
        assert_eq!(later, AuditAction::Other);
    }

    #[test]
    fn create_key_accepts_both_capability_forms_and_omits_defaults() {
        let req: CreateKey = serde_json::from_str(
            r#"{"name":"x","capabilities":["pub:extensions.a.b",{"kind":"sub","subject":"extensions.a.>"}]}"#,
        )
        .unwrap();
        assert!(!req.registration);
        let caps: Vec<Capability> = req
            .capabilities
            .iter()
            .cloned()
            .map(|c| c.parse().unwrap())
            .collect();
        assert_eq!(caps[0].subject, "extensions.a.b");
        assert_eq!(caps[1].subject, "extensions.a.>");
        let minimal = CreateKey {
            name: "x".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&minimal).unwrap(),
            r#"{"name":"x","registration":false}"#
        );
    }

    #[test]
    fn server_paths_match_per_segment() {
        for path in [
            "/api",
            "/api/v1/x",
            "/vendor/react.js",
            "/help/access/swagger",
        ] {
            assert!(is_server_path(path), "{path}");
        }
        for path in ["/apix", "/help", "/help/extensions/x", "/catalog", "/"] {
            assert!(!is_server_path(path), "{path}");
        }
    }
}

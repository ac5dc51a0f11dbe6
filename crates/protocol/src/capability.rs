//! Capabilities and the NATS permissions they become (docs/protocol.md §4).
//!
//! Decisions only: nothing here talks to NATS. nats-server enforces the result.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorBody, ErrorCode};
use crate::names::{is_literal_token, validate_prefix};
use crate::subjects;
use crate::token::KeyId;

/// Direction of a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum CapabilityKind {
    Pub,
    Sub,
}

impl std::str::FromStr for CapabilityKind {
    type Err = ErrorBody;
    fn from_str(s: &str) -> Result<Self, ErrorBody> {
        match s {
            "pub" => Ok(CapabilityKind::Pub),
            "sub" => Ok(CapabilityKind::Sub),
            other => Err(ErrorBody::new(
                ErrorCode::InvalidCapability,
                format!("capability kind {other:?} is neither \"pub\" nor \"sub\""),
            )),
        }
    }
}

/// A declared capability: `{"kind":"sub","subject":"extensions.catalog.list","description":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Capability {
    pub kind: CapabilityKind,
    pub subject: String,
    #[serde(default)]
    pub description: String,
}

impl Capability {
    pub fn new(
        kind: CapabilityKind,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Capability {
            kind,
            subject: subject.into(),
            description: description.into(),
        }
    }

    /// Parses the CLI form `sub:extensions.x.>` (or `pub:…`).
    pub fn parse_cli(s: &str) -> Result<Self, ErrorBody> {
        let (kind, subject) = s.split_once(':').ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::InvalidCapability,
                format!("capability {s:?} is not <pub|sub>:<subject>"),
            )
            .with_hint("for example sub:extensions.my_ext.>")
        })?;
        let cap = Capability::new(kind.parse()?, subject, "");
        cap.check_syntax()?;
        Ok(cap)
    }

    /// The extension prefix the subject names (`extensions.<prefix>.…`), if it is literal.
    pub fn target_prefix(&self) -> Option<&str> {
        let mut tokens = self.subject.split('.');
        (tokens.next() == Some("extensions"))
            .then(|| tokens.next())
            .flatten()
            .filter(|t| is_literal_token(t))
    }

    fn has_wildcard(&self) -> bool {
        self.subject.split('.').any(|t| t == "*" || t == ">")
    }

    fn invalid(&self, why: &str) -> ErrorBody {
        ErrorBody::new(ErrorCode::InvalidCapability, format!("capability {:?}: {why}", self.subject))
            .with_hint("capabilities name subjects extensions.<prefix>[.<rest>]; `*` is a whole token, `>` only last")
    }

    /// Subject grammar only.
    pub fn check_syntax(&self) -> Result<(), ErrorBody> {
        let tokens: Vec<&str> = self.subject.split('.').collect();
        if tokens.first() != Some(&"extensions") || tokens.len() < 2 {
            return Err(self.invalid("must start with extensions.<prefix>"));
        }
        for (i, token) in tokens.iter().enumerate() {
            let wildcard_ok = *token == "*" || (*token == ">" && i == tokens.len() - 1);
            if !wildcard_ok && !is_literal_token(token) {
                return Err(self.invalid("has an empty, wildcard-containing or whitespace token"));
            }
        }
        match self.target_prefix() {
            Some(p) => {
                validate_prefix(p).map_err(|_| self.invalid("names an invalid extension prefix"))
            }
            None => Ok(()), // a wildcard in the prefix position; decided by `validate_for`
        }
    }

    /// Full check for a key bound to `own_prefix`: syntax, and wildcards only inside the own prefix.
    pub fn validate_for(&self, own_prefix: Option<&str>) -> Result<(), ErrorBody> {
        self.check_syntax()?;
        if self.has_wildcard()
            && (self.target_prefix().is_none() || self.target_prefix() != own_prefix)
        {
            return Err(ErrorBody::new(
                ErrorCode::CapabilityForbidden,
                format!(
                    "capability {:?}: wildcards are only allowed inside the extension's own prefix ({})",
                    self.subject,
                    own_prefix.map_or("none".to_owned(), |p| format!("extensions.{p}.…"))
                ),
            )
            .with_hint("to call another extension, declare its full subject, e.g. extensions.other.process"));
        }
        Ok(())
    }

    /// The subjects the capability grants a key bound to `own_prefix` (or to none) in its account
    /// (docs/protocol.md §4): on its own prefix both spellings (`extensions.…`, its events, and
    /// `cirata.extensions.…`, its services); on another extension a `pub` only calls its services
    /// and a `sub` only receives its events: nobody but the extension answers its requests.
    pub fn granted_subjects(&self, own_prefix: Option<&str>) -> Vec<String> {
        let service = format!("cirata.{}", self.subject);
        if own_prefix.is_some() && self.target_prefix() == own_prefix {
            return vec![self.subject.clone(), service];
        }
        match self.kind {
            CapabilityKind::Pub => vec![service],
            CapabilityKind::Sub => vec![self.subject.clone()],
        }
    }

    /// The import this capability needs in the account of a key bound to `own_prefix`: another
    /// extension's service (`pub`) or events (`sub`), as `(prefix, subject)`. `None` on the own
    /// prefix.
    pub fn foreign_import(&self, own_prefix: &str) -> Option<(String, String)> {
        let target = self.target_prefix()?;
        if target == own_prefix || self.has_wildcard() {
            return None;
        }
        let subject = match self.kind {
            CapabilityKind::Pub => format!("cirata.{}", self.subject),
            CapabilityKind::Sub => self.subject.clone(),
        };
        Some((target.to_owned(), subject))
    }
}

/// The allow lists of a NATS user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub pub_allow: Vec<String>,
    pub sub_allow: Vec<String>,
    /// Whether the user may answer each request it received once (the JWT `resp` permission).
    pub allow_responses: bool,
}

/// NATS subject matching: `*` matches one token, a final `>` one or more.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut subject_tokens = subject.split('.');
    for p in pattern.split('.') {
        match (p, subject_tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (p, Some(s)) if p == s => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

impl Permissions {
    /// Whether nats-server would let this user publish to `subject`.
    pub fn allows_publish(&self, subject: &str) -> bool {
        self.pub_allow.iter().any(|p| subject_matches(p, subject))
    }

    fn push(&mut self, kind: CapabilityKind, subject: String) {
        let list = match kind {
            CapabilityKind::Pub => &mut self.pub_allow,
            CapabilityKind::Sub => &mut self.sub_allow,
        };
        if !list.contains(&subject) {
            list.push(subject);
        }
    }
}

/// What a key bound to a prefix may publish of its own account's JetStream: all of it. The account
/// is the extension's alone and its limits bound it (docs/protocol.md §3.1).
pub const JETSTREAM_SUBJECTS: &[&str] = &["$JS.API.>", "$KV.>", "$O.>", "$JS.ACK.>", "$JS.FC.>"];

/// Permissions of an `api_key`: declared capabilities plus narrow infrastructure subjects. A key
/// bound to `prefix` lives in that extension's account (its subjects, its JetStream, its commands);
/// a key without one lives in the clients account and only calls and listens. With `instance`
/// (a JWT minted for one instance, docs/protocol.md §12.1) the instance's own subjects are added:
/// its instance handlers, its registration and its status.
pub fn api_key_permissions(
    key: &KeyId,
    instance: Option<&KeyId>,
    prefix: Option<&str>,
    capabilities: &[Capability],
) -> Permissions {
    let mut p = Permissions {
        allow_responses: prefix.is_some(),
        ..Permissions::default()
    };
    p.push(
        CapabilityKind::Sub,
        format!("{}.>", subjects::api_key_inbox(prefix, key)),
    );
    p.push(
        CapabilityKind::Sub,
        subjects::SYMPHONY_ENFORCEMENT.to_owned(),
    );
    p.push(CapabilityKind::Pub, subjects::CLUSTER_INFO.to_owned());
    p.push(CapabilityKind::Pub, subjects::USAGE_ENFORCEMENT.to_owned());
    if let Some(prefix) = prefix {
        p.push(CapabilityKind::Sub, "$SRV.>".to_owned());
        p.push(CapabilityKind::Sub, subjects::command_subject(prefix, ">"));
        if let Some(instance) = instance {
            p.push(
                CapabilityKind::Sub,
                format!("{}.>", subjects::instance_prefix(prefix, instance)),
            );
            p.push(CapabilityKind::Pub, subjects::register(key, instance));
            p.push(
                CapabilityKind::Pub,
                subjects::status_subject(prefix, instance),
            );
        }
        for subject in JETSTREAM_SUBJECTS {
            p.push(CapabilityKind::Pub, (*subject).to_owned());
        }
    }
    for cap in capabilities {
        for subject in cap.granted_subjects(prefix) {
            p.push(cap.kind, subject);
        }
    }
    p
}

/// Permissions of a registration key: the provisioning request and its own replies, nothing else.
pub fn registration_permissions(key: &KeyId) -> Permissions {
    Permissions {
        pub_allow: vec![subjects::provision(key)],
        sub_allow: vec![format!("{}.>", subjects::registration_inbox(key))],
        allow_responses: false,
    }
}

/// The product's capability JSON: `{"pub":{"allow":[…]},"sub":{"allow":[…]}}` (declared subjects only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CapabilitySummary {
    #[serde(rename = "pub")]
    pub publish: AllowList,
    #[serde(rename = "sub")]
    pub subscribe: AllowList,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AllowList {
    pub allow: Vec<String>,
}

impl CapabilitySummary {
    pub fn of(capabilities: &[Capability]) -> Self {
        let mut s = CapabilitySummary::default();
        for cap in capabilities {
            let list = match cap.kind {
                CapabilityKind::Pub => &mut s.publish.allow,
                CapabilityKind::Sub => &mut s.subscribe.allow,
            };
            if !list.contains(&cap.subject) {
                list.push(cap.subject.clone());
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(kind: CapabilityKind, s: &str) -> Capability {
        Capability::new(kind, s, "")
    }

    #[test]
    fn cli_form_parses() {
        let c = Capability::parse_cli("sub:extensions.x.>").unwrap();
        assert_eq!(
            (c.kind, c.subject.as_str()),
            (CapabilityKind::Sub, "extensions.x.>")
        );
        assert_eq!(
            Capability::parse_cli("both:extensions.x").unwrap_err().code,
            ErrorCode::InvalidCapability
        );
        assert_eq!(
            Capability::parse_cli("extensions.x").unwrap_err().code,
            ErrorCode::InvalidCapability
        );
    }

    #[test]
    fn syntax_rules() {
        for bad in [
            "cirata.x",
            "extensions",
            "extensions.",
            "extensions.x..y",
            "extensions.x.a>",
            "extensions.x.>.y",
            "extensions.X",
            "extensions.x.a b",
        ] {
            assert_eq!(
                cap(CapabilityKind::Sub, bad)
                    .validate_for(Some("x"))
                    .unwrap_err()
                    .code,
                ErrorCode::InvalidCapability,
                "{bad}"
            );
        }
        for ok in [
            "extensions.x",
            "extensions.x.>",
            "extensions.x.*.y",
            "extensions.other.mcp",
        ] {
            assert!(
                cap(CapabilityKind::Pub, ok).validate_for(Some("x")).is_ok(),
                "{ok}"
            );
        }
    }

    #[test]
    fn wildcards_only_inside_own_prefix() {
        for bad in [
            "extensions.other.>",
            "extensions.>",
            "extensions.*.x",
            "extensions.other.*",
        ] {
            assert_eq!(
                cap(CapabilityKind::Sub, bad)
                    .validate_for(Some("x"))
                    .unwrap_err()
                    .code,
                ErrorCode::CapabilityForbidden,
                "{bad}"
            );
        }
        assert_eq!(
            cap(CapabilityKind::Sub, "extensions.x.>")
                .validate_for(None)
                .unwrap_err()
                .code,
            ErrorCode::CapabilityForbidden
        );
    }

    #[test]
    fn an_extension_key_reaches_its_own_account_and_imports_nothing_it_did_not_declare() {
        let key = KeyId::generate();
        let caps = [
            cap(CapabilityKind::Sub, "extensions.catalog.list"),
            cap(CapabilityKind::Pub, "extensions.other.mcp"),
            cap(CapabilityKind::Sub, "extensions.other.events"),
        ];
        let instance = KeyId::generate();
        let p = api_key_permissions(&key, Some(&instance), Some("catalog"), &caps);
        assert!(p.allow_responses);
        for own in ["extensions.catalog.list", "cirata.extensions.catalog.list"] {
            assert!(p.sub_allow.contains(&own.to_owned()), "{own}");
        }
        // Another extension: call its service, hear its events; never answer it or fake events.
        assert!(
            p.pub_allow
                .contains(&"cirata.extensions.other.mcp".to_owned())
        );
        assert!(!p.pub_allow.contains(&"extensions.other.mcp".to_owned()));
        assert!(p.sub_allow.contains(&"extensions.other.events".to_owned()));
        assert!(
            !p.sub_allow
                .contains(&"cirata.extensions.other.events".to_owned())
        );
        assert!(p.sub_allow.contains(&format!("_INBOX_catalog.{key}.>")));
        assert!(
            p.pub_allow
                .contains(&format!("$KV.symphony_status.catalog.{instance}"))
        );
        assert!(p.pub_allow.contains(&"$JS.API.>".to_owned()));
        assert!(p.pub_allow.contains(&format!(
            "cirata.services.registry.register.{key}.{instance}"
        )));
        for forbidden in ["_INBOX.>", ">", "cirata.services.>", "cirata.extensions.>"] {
            assert!(
                !p.pub_allow
                    .iter()
                    .chain(&p.sub_allow)
                    .any(|s| s == forbidden),
                "{forbidden}"
            );
        }
        assert!(!p.pub_allow.iter().any(|s| s.contains("registry.provision")));
        assert_eq!(
            caps[1].foreign_import("catalog"),
            Some(("other".into(), "cirata.extensions.other.mcp".into()))
        );
        assert_eq!(
            caps[2].foreign_import("catalog"),
            Some(("other".into(), "extensions.other.events".into()))
        );
        assert_eq!(caps[0].foreign_import("catalog"), None);
    }

    #[test]
    fn a_key_without_prefix_only_calls_and_listens() {
        let key = KeyId::generate();
        let caps = [
            cap(CapabilityKind::Sub, "extensions.catalog.list"),
            cap(CapabilityKind::Pub, "extensions.catalog.add"),
        ];
        let p = api_key_permissions(&key, None, None, &caps);
        assert!(!p.allow_responses);
        assert_eq!(
            p.pub_allow,
            vec![
                subjects::CLUSTER_INFO.to_owned(),
                subjects::USAGE_ENFORCEMENT.to_owned(),
                "cirata.extensions.catalog.add".to_owned()
            ]
        );
        assert!(
            !p.sub_allow
                .iter()
                .any(|s| s.starts_with("cirata.extensions"))
        );
        assert!(!p.pub_allow.iter().any(|s| s.starts_with('$')));
    }

    #[test]
    fn subject_matching_follows_nats() {
        assert!(subject_matches("a.*.c", "a.b.c"));
        assert!(subject_matches("a.>", "a.b.c"));
        assert!(!subject_matches("a.>", "a"));
        assert!(!subject_matches("a.*", "a.b.c"));
        assert!(!subject_matches("a.b", "a.b.c"));
        assert!(subject_matches("a.b", "a.b"));
        let p = api_key_permissions(
            &KeyId::generate(),
            None,
            None,
            &[cap(CapabilityKind::Pub, "extensions.catalog.list")],
        );
        assert!(p.allows_publish("cirata.extensions.catalog.list"));
        assert!(!p.allows_publish("cirata.extensions.catalog.add"));
    }

    #[test]
    fn registration_key_can_only_provision() {
        let key = KeyId::generate();
        let p = registration_permissions(&key);
        assert_eq!(
            p.pub_allow,
            vec![format!("cirata.services.registry.provision.{key}")]
        );
        assert_eq!(p.sub_allow, vec![format!("_INBOX_provision.{key}.>")]);
        assert!(!p.allow_responses);
    }

    #[test]
    fn summary_uses_the_product_json_shape() {
        let s = CapabilitySummary::of(&[cap(CapabilityKind::Sub, "extensions.x.>")]);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"pub":{"allow":[]},"sub":{"allow":["extensions.x.>"]}})
        );
    }
}

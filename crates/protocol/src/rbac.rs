//! Roles and the RBAC rules (docs/protocol.md §9): which subjects a role grants, which extensions it
//! shows, and whether a capability lies within a user's roles. Pure.

use serde::{Deserialize, Serialize};

use crate::capability::{Capability, CapabilityKind, Permissions};
use crate::error::{ErrorBody, ErrorCode};

pub const ADMIN_ROLE: &str = "symphony-admin";
pub const DEVELOPER_ROLE: &str = "developer";
pub const VIEWER_ROLE: &str = "viewer";
/// The role every user has when nothing else is said.
pub const DEFAULT_ROLE: &str = VIEWER_ROLE;

/// A role: subject patterns in capability space (`extensions.<p>.…`) and the extensions it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Patterns the role may publish to (each also grants `cirata.<pattern>`).
    #[serde(default, rename = "pub")]
    pub publish: Vec<String>,
    /// Patterns the role may subscribe to.
    #[serde(default, rename = "sub")]
    pub subscribe: Vec<String>,
    /// Prefixes of the extensions the role shows; `*` shows all.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Administers users, roles, every key and the audit trail.
    #[serde(default)]
    pub admin: bool,
    /// Built-in roles cannot be changed or deleted.
    #[serde(default)]
    pub builtin: bool,
}

/// The built-in roles.
pub fn builtin_roles() -> Vec<Role> {
    let all = || vec!["extensions.>".to_owned()];
    vec![
        Role {
            name: ADMIN_ROLE.into(),
            description: "Everything: users, roles, every key, every extension".into(),
            publish: all(),
            subscribe: all(),
            extensions: vec!["*".into()],
            admin: true,
            builtin: true,
        },
        Role {
            name: DEVELOPER_ROLE.into(),
            description:
                "Builds and runs extensions: keys and registration tokens for any extension subject"
                    .into(),
            publish: all(),
            subscribe: all(),
            extensions: vec!["*".into()],
            admin: false,
            builtin: true,
        },
        Role {
            name: VIEWER_ROLE.into(),
            description: "Sees every extension and receives their events; calls none".into(),
            publish: vec![],
            subscribe: all(),
            extensions: vec!["*".into()],
            admin: false,
            builtin: true,
        },
    ]
}

/// Validates a custom role.
pub fn validate_role(role: &Role) -> Result<(), ErrorBody> {
    crate::names::validate_role_name(&role.name)?;
    for (kind, patterns) in [
        (CapabilityKind::Pub, &role.publish),
        (CapabilityKind::Sub, &role.subscribe),
    ] {
        for p in patterns {
            let cap = Capability::new(kind, p.clone(), "");
            if p != "extensions.>" {
                cap.check_syntax()?;
            }
        }
    }
    for e in &role.extensions {
        if e != "*" {
            crate::names::validate_prefix(e)?;
        }
    }
    Ok(())
}

/// Whether `pattern` (a role's) covers every subject `subject` (a capability, maybe with wildcards) can match.
pub fn covers(pattern: &str, subject: &str) -> bool {
    let mut s = subject.split('.');
    for p in pattern.split('.') {
        let Some(t) = s.next() else { return false };
        match p {
            ">" => return true,
            "*" if t != ">" => {}
            p if p == t => {}
            _ => return false,
        }
    }
    s.next().is_none()
}

/// The subjects both patterns match, as one pattern (`None` when they share none). NATS wildcards:
/// `*` is one token, `>` one or more trailing tokens.
pub fn intersect(a: &str, b: &str) -> Option<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    let mut out: Vec<&str> = Vec::with_capacity(a.len().max(b.len()));
    let mut i = 0;
    loop {
        match (a.get(i), b.get(i)) {
            (Some(&">"), Some(_)) => {
                out.extend_from_slice(&b[i..]);
                break;
            }
            (Some(_), Some(&">")) => {
                out.extend_from_slice(&a[i..]);
                break;
            }
            (Some(&"*"), Some(t)) | (Some(t), Some(&"*")) => out.push(t),
            (Some(x), Some(y)) if x == y => out.push(x),
            (None, None) => break,
            _ => return None,
        }
        i += 1;
    }
    Some(out.join("."))
}

/// Each of `patterns` narrowed to `scope`, without duplicates.
fn narrowed(patterns: &[String], scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in patterns {
        if let Some(s) = intersect(p, scope)
            && !out.contains(&s)
        {
            out.push(s);
        }
    }
    out
}

fn kind_name(kind: CapabilityKind) -> &'static str {
    match kind {
        CapabilityKind::Pub => "pub",
        CapabilityKind::Sub => "sub",
    }
}

/// The union of several roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    pub extensions: Vec<String>,
    pub admin: bool,
}

impl Grants {
    pub fn of<'a>(roles: impl IntoIterator<Item = &'a Role>) -> Grants {
        let mut g = Grants::default();
        for r in roles {
            g.publish.extend(r.publish.iter().cloned());
            g.subscribe.extend(r.subscribe.iter().cloned());
            g.extensions.extend(r.extensions.iter().cloned());
            g.admin |= r.admin;
        }
        for v in [&mut g.publish, &mut g.subscribe, &mut g.extensions] {
            v.sort();
            v.dedup();
        }
        g
    }

    /// Whether the roles allow a capability (admins allow everything).
    pub fn allows(&self, cap: &Capability) -> bool {
        let patterns = match cap.kind {
            CapabilityKind::Pub => &self.publish,
            CapabilityKind::Sub => &self.subscribe,
        };
        self.admin || patterns.iter().any(|p| covers(p, &cap.subject))
    }

    /// Refuses the first capability outside the roles, with the reason.
    pub fn check(&self, capabilities: &[Capability]) -> Result<(), ErrorBody> {
        match capabilities.iter().find(|c| !self.allows(c)) {
            None => Ok(()),
            Some(c) => Err(ErrorBody::new(
                ErrorCode::CapabilityForbidden,
                format!("{} {} is outside your roles", kind_name(c.kind), c.subject),
            )
            .with_hint("ask an administrator for a role that covers it")),
        }
    }

    /// A key bound to `prefix` carries that extension's implicit permissions (its registration, status,
    /// instance subjects and buckets, §4), so binding one needs roles that cover the whole prefix.
    pub fn check_binding(&self, prefix: &str) -> Result<(), ErrorBody> {
        let whole = format!("extensions.{prefix}.>");
        let both = [
            Capability::new(CapabilityKind::Pub, whole.clone(), ""),
            Capability::new(CapabilityKind::Sub, whole.clone(), ""),
        ];
        if both.iter().all(|c| self.allows(c)) {
            return Ok(());
        }
        Err(ErrorBody::new(
            ErrorCode::CapabilityForbidden,
            format!(
                "binding a key to prefix {prefix:?} needs a role that grants pub and sub {whole}"
            ),
        )
        .with_hint("a key bound to a prefix can register that extension and use its buckets"))
    }

    /// Whether an extension is visible.
    pub fn shows(&self, prefix: &str) -> bool {
        self.admin || self.extensions.iter().any(|e| e == "*" || e == prefix)
    }

    /// Whether the roles may call the endpoint subject `cirata.extensions.<p>.<name>` (or `extensions.…`).
    pub fn may_publish(&self, subject: &str) -> bool {
        let cap_subject = subject.strip_prefix("cirata.").unwrap_or(subject);
        self.admin
            || self
                .publish
                .iter()
                .any(|p| crate::capability::subject_matches(p, cap_subject))
    }

    /// NATS permissions of a browser session (clients account): call the services its roles may
    /// publish to (`cirata.<pattern>`), hear the events they may subscribe to (`<pattern>`), and its
    /// own inbox. Never an extension's service subjects: only the extension answers its requests.
    pub fn browser_permissions(&self, inbox_prefix: &str) -> Permissions {
        let mut sub_allow = self.subscribe.clone();
        sub_allow.push(format!("{inbox_prefix}.>"));
        sub_allow.push(crate::subjects::SYMPHONY_ENFORCEMENT.to_owned());
        Permissions {
            pub_allow: self.publish.iter().map(|p| format!("cirata.{p}")).collect(),
            sub_allow,
            allow_responses: false,
        }
    }

    /// NATS permissions of one extension's UI frame (docs/ui.md "Trust"): [`Self::browser_permissions`]
    /// narrowed to that extension's subjects (`cirata.extensions.<prefix>.>` to call,
    /// `extensions.<prefix>.>` to hear), plus the frame's own inbox. An administrator's frame gets
    /// the extension's subjects, not everything.
    pub fn scoped_browser_permissions(&self, prefix: &str, inbox_prefix: &str) -> Permissions {
        let scope = format!("extensions.{prefix}.>");
        let mut sub_allow = narrowed(&self.subscribe, &scope);
        sub_allow.push(format!("{inbox_prefix}.>"));
        sub_allow.push(crate::subjects::SYMPHONY_ENFORCEMENT.to_owned());
        Permissions {
            pub_allow: narrowed(&self.publish, &scope)
                .into_iter()
                .map(|p| format!("cirata.{p}"))
                .collect(),
            sub_allow,
            allow_responses: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> Role {
        builtin_roles()
            .into_iter()
            .find(|r| r.name == name)
            .unwrap()
    }

    #[test]
    fn coverage_follows_wildcards() {
        assert!(covers("extensions.>", "extensions.x.>"));
        assert!(covers("extensions.x.>", "extensions.x.a.b"));
        assert!(!covers("extensions.x.>", "extensions.y.a"));
        assert!(covers("extensions.*.list", "extensions.x.list"));
        assert!(!covers("extensions.*.list", "extensions.>"));
        assert!(!covers("extensions.x.list", "extensions.x.*"));
        assert!(!covers("extensions.x", "extensions.x.a"));
    }

    #[test]
    fn intersections_of_patterns() {
        for (a, b, want) in [
            (
                "extensions.>",
                "extensions.catalog.>",
                Some("extensions.catalog.>"),
            ),
            (
                "extensions.catalog.>",
                "extensions.>",
                Some("extensions.catalog.>"),
            ),
            (
                "extensions.*.list",
                "extensions.catalog.>",
                Some("extensions.catalog.list"),
            ),
            (
                "extensions.*.*",
                "extensions.catalog.>",
                Some("extensions.catalog.*"),
            ),
            (
                "extensions.catalog.list",
                "extensions.catalog.>",
                Some("extensions.catalog.list"),
            ),
            ("extensions.other.>", "extensions.catalog.>", None),
            ("extensions.catalog", "extensions.catalog.>", None),
            ("extensions.*", "extensions.catalog.>", None),
            (">", "extensions.catalog.>", Some("extensions.catalog.>")),
            (
                "extensions.catalog.a.b",
                "extensions.catalog.>",
                Some("extensions.catalog.a.b"),
            ),
            ("a.b", "a.b", Some("a.b")),
            ("a.b", "a.c", None),
            ("a.*", "a", None),
        ] {
            assert_eq!(intersect(a, b).as_deref(), want, "{a} ∩ {b}");
        }
    }

    #[test]
    fn scoped_permissions_are_the_roles_within_the_extension() {
        let admin = Grants::of([&role(ADMIN_ROLE)]);
        let p = admin.scoped_browser_permissions("catalog", "_INBOX_ui.c1");
        assert_eq!(p.pub_allow, ["cirata.extensions.catalog.>"]);
        assert_eq!(
            p.sub_allow,
            [
                "extensions.catalog.>",
                "_INBOX_ui.c1.>",
                crate::subjects::SYMPHONY_ENFORCEMENT
            ]
        );
        assert!(p.allows_publish("cirata.extensions.catalog.list"));
        assert!(!p.allows_publish("cirata.extensions.other.list"));
        assert!(!p.allows_publish("cirata.symphony.anything"));

        let viewer = Grants::of([&role(VIEWER_ROLE)]);
        let p = viewer.scoped_browser_permissions("catalog", "_INBOX_ui.c2");
        assert!(p.pub_allow.is_empty(), "{p:?}");
        assert_eq!(p.sub_allow[0], "extensions.catalog.>");

        let custom = Grants {
            publish: vec![
                "extensions.catalog.list".into(),
                "extensions.other.>".into(),
            ],
            subscribe: vec!["extensions.*.events".into()],
            extensions: vec!["catalog".into()],
            admin: false,
        };
        let p = custom.scoped_browser_permissions("catalog", "_INBOX_ui.c3");
        assert_eq!(p.pub_allow, ["cirata.extensions.catalog.list"]);
        assert_eq!(p.sub_allow[0], "extensions.catalog.events");
    }

    #[test]
    fn builtin_matrix() {
        let sub = Capability::new(CapabilityKind::Sub, "extensions.catalog.>", "");
        let publ = Capability::new(CapabilityKind::Pub, "extensions.catalog.list", "");
        let viewer = Grants::of([&role(VIEWER_ROLE)]);
        let dev = Grants::of([&role(DEVELOPER_ROLE)]);
        let admin = Grants::of([&role(ADMIN_ROLE)]);
        assert!(viewer.allows(&sub) && !viewer.allows(&publ));
        assert_eq!(
            viewer.check(std::slice::from_ref(&publ)).unwrap_err().code,
            ErrorCode::CapabilityForbidden
        );
        assert!(dev.allows(&sub) && dev.allows(&publ) && !dev.admin);
        assert!(admin.admin && admin.may_publish("cirata.anything.else"));
        assert!(
            dev.may_publish("cirata.extensions.catalog.list")
                && !viewer.may_publish("cirata.extensions.catalog.list")
        );
    }

    #[test]
    fn binding_a_prefix_needs_the_whole_prefix() {
        let dev = Grants::of([&role(DEVELOPER_ROLE)]);
        let viewer = Grants::of([&role(VIEWER_ROLE)]);
        assert!(dev.check_binding("catalog").is_ok());
        assert_eq!(
            viewer.check_binding("catalog").unwrap_err().code,
            ErrorCode::CapabilityForbidden
        );
    }

    #[test]
    fn custom_roles_union_and_visibility() {
        let custom = Role {
            name: "catalog-user".into(),
            description: String::new(),
            publish: vec!["extensions.catalog.list".into()],
            subscribe: vec![],
            extensions: vec!["catalog".into()],
            admin: false,
            builtin: false,
        };
        assert!(validate_role(&custom).is_ok());
        let g = Grants::of([&custom]);
        assert!(g.shows("catalog") && !g.shows("other"));
        assert!(g.may_publish("cirata.extensions.catalog.list"));
        assert!(!g.may_publish("cirata.extensions.catalog.add"));
        let p = g.browser_permissions("_INBOX_user.s1");
        assert!(
            p.pub_allow
                .contains(&"cirata.extensions.catalog.list".to_owned())
        );
        assert!(p.sub_allow.contains(&"_INBOX_user.s1.>".to_owned()));
        assert!(!p.pub_allow.contains(&"extensions.catalog.list".to_owned()));
        let admin = Grants::of([&role(ADMIN_ROLE)]).browser_permissions("_INBOX_user.s2");
        assert!(admin.sub_allow.contains(&"extensions.>".to_owned()));
        assert!(
            !admin
                .sub_allow
                .iter()
                .any(|s| s.starts_with("cirata.extensions"))
        );
        let mut bad = custom.clone();
        bad.name = "bad name".into();
        assert!(validate_role(&bad).is_err());
    }
}

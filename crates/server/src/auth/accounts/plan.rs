//! Which accounts exist and what passes between them (docs/protocol.md §3.1). Pure: from the
//! recorded extension accounts, the imports their keys' capabilities need and the revocations, it
//! decides every account's limits, exports and imports. Signing and pushing happen in the parent.
//!
//! | account | holds | exports | imports |
//! |---|---|---|---|
//! | platform | the server, `symphony_*` state | `cirata.services.>` (service), `$KV.symphony_status.>` (private service), `cirata.symphony.enforcement` (stream) | — |
//! | clients | browser users, keys without a prefix, registration keys, the gateway | — | the platform's services and enforcement; every extension's services and events |
//! | `ext_<p>` | one extension's instances and JetStream | `cirata.extensions.<p>.>` (service), `extensions.<p>.>` (stream), both private | the platform's services, its own status part, enforcement; what its keys' capabilities name of other extensions |
//!
//! The platform account's JWT never changes with the extensions: nats-server forgets the pending
//! replies of an exporting account whenever its JWT is updated, and the platform answers every
//! provisioning and registration. (The server reaches an extension's JetStream with its own user
//! in that account instead.)

use std::collections::{BTreeMap, BTreeSet};

use symphony_protocol::jwt::{AccountLimits, Export, ExportKind, JetStreamLimits};
use symphony_protocol::subjects;

use crate::identity::Account;

/// One import an account needs; its exporter issues the activation token when `private`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImportSpec {
    pub from: Account,
    /// The exporter's subject.
    pub subject: String,
    /// Where it appears in the importing account, when different.
    pub local_subject: Option<String>,
    pub kind: ExportKind,
    /// Private export: needs an activation token.
    pub private: bool,
    /// Services only: the exporter learns the requesting user (`Nats-Request-Info`).
    pub share: bool,
}

/// Everything an account JWT says besides its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSpec {
    pub account: Account,
    pub limits: AccountLimits,
    pub exports: Vec<Export>,
    pub imports: Vec<ImportSpec>,
    /// User public key → unix time.
    pub revocations: BTreeMap<String, i64>,
}

/// What the plan is made from.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Extension prefix → its account's JetStream limits.
    pub extensions: BTreeMap<String, JetStreamLimits>,
    /// Extension prefix → imports of other extensions its keys' capabilities need:
    /// `(target prefix, subject, kind)` (`pub` → service, `sub` → stream).
    pub foreign: BTreeMap<String, BTreeSet<(String, String, ExportKind)>>,
    /// Account → its revocations.
    pub revocations: BTreeMap<Account, BTreeMap<String, i64>>,
}

/// A service import. Only the platform's services learn the requesting user (`share`): they decide
/// by it. Extensions' services do not: nats-server would encode the caller's whole JWT into every
/// request's `Nats-Request-Info` (measurably slower through the gateway, bench/REPORT.md), and the
/// gateway names the caller itself (`Symphony-Caller`).
fn service(from: Account, subject: String, private: bool) -> ImportSpec {
    ImportSpec {
        share: from == Account::Platform,
        from,
        subject,
        local_subject: None,
        kind: ExportKind::Service,
        private,
    }
}

fn stream(from: Account, subject: String, private: bool) -> ImportSpec {
    ImportSpec {
        from,
        subject,
        local_subject: None,
        kind: ExportKind::Stream,
        private,
        share: false,
    }
}

/// The platform services and enforcement every other account imports.
fn platform_imports() -> Vec<ImportSpec> {
    vec![
        service(
            Account::Platform,
            subjects::SERVICES_WILDCARD.to_owned(),
            false,
        ),
        stream(
            Account::Platform,
            subjects::SYMPHONY_ENFORCEMENT.to_owned(),
            false,
        ),
    ]
}

/// Every account and what it says.
pub fn plan(inputs: &Inputs) -> Vec<AccountSpec> {
    let revocations = |a: &Account| inputs.revocations.get(a).cloned().unwrap_or_default();
    let mut out = Vec::new();

    out.push(AccountSpec {
        account: Account::Platform,
        limits: AccountLimits::unlimited(true),
        exports: vec![
            Export::service(subjects::SERVICES_WILDCARD, false),
            Export::service(subjects::STATUS_EXPORT, true),
            Export::stream(subjects::SYMPHONY_ENFORCEMENT, false),
        ],
        imports: vec![],
        revocations: revocations(&Account::Platform),
    });

    let mut clients = platform_imports();
    for p in inputs.extensions.keys() {
        let ext = Account::Extension(p.clone());
        clients.push(service(ext.clone(), subjects::extension_services(p), true));
        clients.push(stream(ext, subjects::extension_events(p), true));
    }
    out.push(AccountSpec {
        account: Account::Clients,
        limits: AccountLimits::unlimited(false),
        exports: vec![],
        imports: clients,
        revocations: revocations(&Account::Clients),
    });

    for (p, limits) in &inputs.extensions {
        let account = Account::Extension(p.clone());
        let mut imports = platform_imports();
        imports.push(service(Account::Platform, subjects::status_import(p), true));
        for (target, subject, kind) in inputs.foreign.get(p).into_iter().flatten() {
            // An extension that has no account yet gets the import once it has one.
            if target == p || !inputs.extensions.contains_key(target) {
                continue;
            }
            let from = Account::Extension(target.clone());
            imports.push(match kind {
                ExportKind::Service => service(from, subject.clone(), true),
                ExportKind::Stream => stream(from, subject.clone(), true),
            });
        }
        out.push(AccountSpec {
            revocations: revocations(&account),
            account,
            limits: AccountLimits::with_jetstream(*limits),
            exports: vec![
                Export::service(subjects::extension_services(p), true),
                Export::stream(subjects::extension_events(p), true),
            ],
            imports,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphony_protocol::rest::DEFAULT_EXTENSION_LIMITS;

    fn inputs() -> Inputs {
        let mut i = Inputs::default();
        for p in ["catalog", "hello"] {
            i.extensions.insert(p.into(), DEFAULT_EXTENSION_LIMITS);
        }
        i.foreign.insert(
            "hello".into(),
            BTreeSet::from([
                (
                    "catalog".into(),
                    "cirata.extensions.catalog.list".into(),
                    ExportKind::Service,
                ),
                (
                    "catalog".into(),
                    "extensions.catalog.changed".into(),
                    ExportKind::Stream,
                ),
                (
                    "missing".into(),
                    "cirata.extensions.missing.x".into(),
                    ExportKind::Service,
                ),
            ]),
        );
        i
    }

    fn spec<'a>(specs: &'a [AccountSpec], account: &Account) -> &'a AccountSpec {
        specs.iter().find(|s| &s.account == account).unwrap()
    }

    #[test]
    fn the_platform_exports_services_and_never_changes_with_the_extensions() {
        let specs = plan(&inputs());
        let platform = spec(&specs, &Account::Platform);
        assert_eq!(
            platform,
            spec(&plan(&Inputs::default()), &Account::Platform)
        );
        assert!(platform.limits.disk_storage != 0, "JetStream on");
        let status = platform
            .exports
            .iter()
            .find(|e| e.subject == subjects::STATUS_EXPORT)
            .unwrap();
        assert!(
            status.token_req,
            "each extension gets only its own status part"
        );
        assert!(platform.imports.is_empty());
    }

    #[test]
    fn clients_have_no_jetstream_and_reach_every_extension_by_private_imports() {
        let specs = plan(&inputs());
        let clients = spec(&specs, &Account::Clients);
        assert_eq!(clients.limits.disk_storage, 0);
        assert_eq!(clients.limits.mem_storage, 0);
        assert!(clients.exports.is_empty());
        let subjects: Vec<&str> = clients.imports.iter().map(|i| i.subject.as_str()).collect();
        for s in [
            "cirata.services.>",
            "cirata.extensions.catalog.>",
            "extensions.catalog.>",
            "cirata.extensions.hello.>",
        ] {
            assert!(subjects.contains(&s), "{s}: {subjects:?}");
        }
        assert!(
            clients
                .imports
                .iter()
                .all(|i| i.from == Account::Platform || i.private)
        );
    }

    #[test]
    fn an_extension_imports_only_what_its_capabilities_name_and_exports_privately() {
        let specs = plan(&inputs());
        let hello = spec(&specs, &Account::Extension("hello".into()));
        assert_eq!(
            hello.limits.disk_storage,
            DEFAULT_EXTENSION_LIMITS.disk_storage
        );
        assert!(hello.exports.iter().all(|e| e.token_req));
        let foreign: Vec<(&Account, &str)> = hello
            .imports
            .iter()
            .filter(|i| i.from != Account::Platform)
            .map(|i| (&i.from, i.subject.as_str()))
            .collect();
        let catalog = Account::Extension("catalog".into());
        assert_eq!(
            foreign,
            vec![
                (&catalog, "cirata.extensions.catalog.list"),
                (&catalog, "extensions.catalog.changed")
            ],
            "an extension without an account is skipped"
        );
        assert!(
            hello
                .imports
                .iter()
                .any(|i| i.subject == "$KV.symphony_status.hello.>" && i.private)
        );
        let catalog_spec = spec(&specs, &catalog);
        assert!(
            catalog_spec
                .imports
                .iter()
                .all(|i| i.from == Account::Platform),
            "catalog declared nothing of hello"
        );
    }

    #[test]
    fn revocations_stay_in_their_account() {
        let mut i = inputs();
        i.revocations.insert(
            Account::Extension("catalog".into()),
            BTreeMap::from([("UX".to_owned(), 5)]),
        );
        let specs = plan(&i);
        assert_eq!(
            spec(&specs, &Account::Extension("catalog".into()))
                .revocations
                .len(),
            1
        );
        assert!(
            spec(&specs, &Account::Extension("hello".into()))
                .revocations
                .is_empty()
        );
        assert!(spec(&specs, &Account::Clients).revocations.is_empty());
    }
}

//! The versioned registration manifest and its validation (docs/protocol.md §5.2).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::capability::{Capability, CapabilityKind};
use crate::error::{ErrorBody, ErrorCode};
use crate::names::{is_literal_token, validate_bucket, validate_prefix};

/// Largest accepted encoded manifest.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;
/// Highest `max_history_per_key` JetStream KV allows.
pub const MAX_HISTORY: u32 = 64;
/// Longest extension name, in characters.
pub const MAX_NAME_LEN: usize = 128;

/// MIME types a resource may have.
pub const MIME_TYPES: &[&str] = &[
    "text/symphony-jsx",
    "text/symphony-module",
    "text/html+symphony",
    "text/html+htmx",
    "text/html",
    "text/html;profile=mcp-app",
    "text/markdown",
];
pub const HTMX_MIME: &str = "text/html+htmx";
/// MIME types of resources the server serves as JavaScript modules (TSX transpiled):
/// `GET /api/v1/ui/module/{prefix}/{name}`.
pub const MODULE_MIME_TYPES: &[&str] = &["text/symphony-jsx", "text/symphony-module"];

/// Whether `mime_type` names a module resource; parameters after `;` are ignored.
pub fn is_module_mime(mime_type: &str) -> bool {
    let base = mime_type.split(';').next().unwrap_or_default().trim();
    MODULE_MIME_TYPES
        .iter()
        .any(|m| m.eq_ignore_ascii_case(base))
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdkInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub uri: String,
    pub mime_type: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub path: String,
    pub uri: String,
    #[serde(default)]
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Menu {
    pub group: String,
    pub label: String,
    pub route: String,
    pub icon: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Widget {
    pub uri: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seconds; 0 = entries never expire.
    #[serde(default)]
    pub ttl: u64,
    /// 0 = server default (1).
    #[serde(default)]
    pub max_history_per_key: u32,
    /// Bytes; 0 = unlimited.
    #[serde(default)]
    pub max_bucket_size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    pub name: String,
    pub subject: String,
}

/// A command of the commands channel (docs/protocol.md §12.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CommandSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub service: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub endpoints: Vec<EndpointSpec>,
}

/// What an extension registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub name: String,
    pub prefix: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub sdk: SdkInfo,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub menus: Vec<Menu>,
    #[serde(default)]
    pub widgets: Vec<Widget>,
    #[serde(default)]
    pub buckets: Vec<BucketSpec>,
    #[serde(default)]
    pub endpoints: Vec<ServiceSpec>,
    /// Commands one instance handles each (§12.3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandSpec>,
    /// Names of the handlers every instance serves for itself (§12.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_handlers: Vec<String>,
}

fn invalid(message: String) -> ErrorBody {
    ErrorBody::new(ErrorCode::InvalidManifest, message)
}

/// Checks a resource URI: `ui://<prefix>/<name>`.
pub fn validate_resource_uri(prefix: &str, uri: &str) -> Result<(), ErrorBody> {
    let ok = uri
        .strip_prefix("ui://")
        .and_then(|rest| rest.strip_prefix(prefix))
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|name| !name.is_empty() && !name.chars().any(char::is_whitespace));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "resource uri {uri:?} must be ui://{prefix}/<name>"
        )))
    }
}

/// Checks an extension name: 1-128 characters, not blank.
pub fn validate_name(name: &str) -> Result<(), ErrorBody> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(invalid(format!(
            "extension name {name:?} must be 1-{MAX_NAME_LEN} characters"
        )));
    }
    Ok(())
}

/// Checks one resource: its URI, its MIME type and, for htmx, its JSON config `{"entry": "…"}`.
pub fn validate_resource(prefix: &str, r: &Resource) -> Result<(), ErrorBody> {
    validate_resource_uri(prefix, &r.uri)?;
    if !MIME_TYPES.contains(&r.mime_type.as_str()) {
        return Err(invalid(format!(
            "resource {:?} has unsupported mime type {:?} (supported: {})",
            r.uri,
            r.mime_type,
            MIME_TYPES.join(", ")
        )));
    }
    if r.mime_type == HTMX_MIME {
        let cfg: serde_json::Value = serde_json::from_str(&r.content).unwrap_or_default();
        if !cfg.get("entry").is_some_and(serde_json::Value::is_string) {
            return Err(invalid(format!(
                "htmx resource {:?} needs the JSON config {{\"entry\": \"…\"}}",
                r.uri
            )));
        }
    }
    Ok(())
}

/// Checks a menu entry: group and label not blank, a valid route path.
pub fn validate_menu(m: &Menu) -> Result<(), ErrorBody> {
    if m.label.trim().is_empty() || m.group.trim().is_empty() {
        return Err(invalid("menu group and label must not be empty".into()));
    }
    validate_route_path(&m.route)
}

/// Checks a micro service name: `[A-Za-z0-9_-]+`.
/// Whether `name` is non-empty and only `[A-Za-z0-9_-]`: one subject token, no wildcard.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

pub fn validate_service_name(name: &str) -> Result<(), ErrorBody> {
    if is_plain_name(name) {
        Ok(())
    } else {
        Err(invalid(format!(
            "service name {name:?} may only use A-Z, a-z, 0-9, _ and -"
        )))
    }
}

/// Longest name of a command or an instance handler.
pub const MAX_HANDLER_NAME_LEN: usize = 64;

/// Checks the name of a command or an instance handler (`what`): 1-64 of `[A-Za-z0-9_-]`, one
/// subject token (docs/protocol.md §12.2).
pub fn validate_handler_name(what: &str, name: &str) -> Result<(), ErrorBody> {
    if is_plain_name(name) && name.len() <= MAX_HANDLER_NAME_LEN {
        Ok(())
    } else {
        let shown: String = name.chars().take(40).collect();
        Err(ErrorBody::new(
            ErrorCode::InvalidEndpoint,
            format!(
                "{what} name {shown:?} must be 1-{MAX_HANDLER_NAME_LEN} of A-Z, a-z, 0-9, _ and -"
            ),
        ))
    }
}

/// A service version as semver: `1` and `1.0` (the seed writes `add_endpoints("myext", "1.0")`)
/// become `1.0.0`; a pre-release or build suffix is kept (`1.0-rc.1` → `1.0.0-rc.1`). The numeric core
/// must be one to three dot-separated numbers; the suffix is checked by the micro service library.
pub fn normalize_service_version(version: &str) -> Result<String, ErrorBody> {
    let split = version.find(['-', '+']).unwrap_or(version.len());
    let (core, suffix) = version.split_at(split);
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() > 3 || !parts.iter().all(numeric) {
        return Err(invalid(format!(
            "service version {version:?} is not semver (e.g. 1.0.0)"
        )));
    }
    let mut padded = parts.join(".");
    for _ in parts.len()..3 {
        padded.push_str(".0");
    }
    Ok(padded + suffix)
}

/// Checks a bucket declaration.
pub fn validate_bucket_spec(b: &BucketSpec) -> Result<(), ErrorBody> {
    validate_bucket(&b.name)?;
    if b.max_history_per_key > MAX_HISTORY {
        return Err(ErrorBody::new(
            ErrorCode::InvalidBucket,
            format!(
                "bucket {:?}: max_history_per_key {} is over {MAX_HISTORY}",
                b.name, b.max_history_per_key
            ),
        ));
    }
    Ok(())
}

/// Checks a route path: starts with `/`, no whitespace.
pub fn validate_route_path(path: &str) -> Result<(), ErrorBody> {
    if path.starts_with('/') && !path.chars().any(char::is_whitespace) {
        Ok(())
    } else {
        Err(invalid(format!(
            "route path {path:?} must start with / and contain no whitespace"
        )))
    }
}

/// A declared capability whose `kind` is a string other than `pub`/`sub` is `invalid_capability` (§4), though
/// it fails as a shape error when the manifest is deserialized.
fn capability_kind_error(value: &serde_json::Value) -> Option<ErrorBody> {
    value
        .get("capabilities")?
        .as_array()?
        .iter()
        .filter_map(|c| c.get("kind")?.as_str())
        .find_map(|kind| kind.parse::<CapabilityKind>().err())
}

impl Manifest {
    /// Parses and validates an encoded manifest, with the typed error for each failure.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ErrorBody> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ErrorBody::new(
                ErrorCode::ManifestTooLarge,
                format!(
                    "manifest is {} bytes; the limit is {MAX_MANIFEST_BYTES}",
                    bytes.len()
                ),
            )
            .with_hint(
                "serve large content from an endpoint instead of embedding it in a resource",
            ));
        }
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("manifest is not JSON: {e}")))?;
        match value
            .get("manifest_version")
            .and_then(serde_json::Value::as_u64)
        {
            None => {
                return Err(invalid(
                    "manifest_version is missing or not a number".into(),
                ));
            }
            Some(v) if v != u64::from(crate::PROTOCOL_VERSION) => {
                return Err(ErrorBody::new(
                    ErrorCode::UnsupportedManifestVersion,
                    format!(
                        "manifest_version {v} is not supported; this server speaks {}",
                        crate::PROTOCOL_VERSION
                    ),
                )
                .with_hint("upgrade the Symphony server or use an SDK that matches it"));
            }
            Some(_) => {}
        }
        let manifest = Manifest::deserialize(&value).map_err(|e| {
            capability_kind_error(&value).unwrap_or_else(|| invalid(format!("manifest: {e}")))
        })?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Every rule of §5.2 that does not need the registry.
    pub fn validate(&self) -> Result<(), ErrorBody> {
        let p = self.prefix.as_str();
        validate_prefix(p)?;
        validate_name(&self.name)?;
        for cap in &self.capabilities {
            cap.validate_for(Some(p))?;
        }
        let mut uris = HashSet::new();
        for r in &self.resources {
            validate_resource(p, r)?;
            if !uris.insert(r.uri.as_str()) {
                return Err(invalid(format!("resource {:?} is declared twice", r.uri)));
            }
        }
        fn check_routes(routes: &[Route], uris: &HashSet<&str>) -> Result<(), ErrorBody> {
            for r in routes {
                validate_route_path(&r.path)?;
                if !uris.contains(r.uri.as_str()) {
                    return Err(invalid(format!(
                        "route {:?} points at undeclared resource {:?}",
                        r.path, r.uri
                    )));
                }
                check_routes(&r.routes, uris)?;
            }
            Ok(())
        }
        check_routes(&self.routes, &uris)?;
        for m in &self.menus {
            validate_menu(m)?;
        }
        for w in &self.widgets {
            validate_resource_uri(p, &w.uri)?;
        }
        let mut names = HashSet::new();
        for b in &self.buckets {
            validate_bucket_spec(b)?;
            if !names.insert(b.name.as_str()) {
                return Err(ErrorBody::new(
                    ErrorCode::InvalidBucket,
                    format!("bucket {:?} is declared twice", b.name),
                ));
            }
        }
        let own = format!("{}.", crate::subjects::extension_group(p));
        for s in &self.endpoints {
            validate_service_name(&s.service)?;
            for e in &s.endpoints {
                let suffix = e.subject.strip_prefix(&own).unwrap_or_default();
                if suffix.is_empty() || !suffix.split('.').all(is_literal_token) {
                    return Err(ErrorBody::new(
                        ErrorCode::InvalidEndpoint,
                        format!(
                            "endpoint {:?} of service {:?}: subject {:?} is not under {own}",
                            e.name, s.service, e.subject
                        ),
                    )
                    .with_hint(format!(
                        "an extension's endpoints are its own subjects: add them to the group {}",
                        crate::subjects::extension_group(p)
                    )));
                }
            }
        }
        let mut commands = HashSet::new();
        for c in &self.commands {
            validate_handler_name("command", &c.name)?;
            if !commands.insert(c.name.as_str()) {
                return Err(invalid(format!("command {:?} is declared twice", c.name)));
            }
        }
        let mut handlers = HashSet::new();
        for h in &self.instance_handlers {
            validate_handler_name("instance handler", h)?;
            if !handlers.insert(h.as_str()) {
                return Err(invalid(format!("instance handler {h:?} is declared twice")));
            }
        }
        Ok(())
    }

    /// Names of the declared buckets.
    pub fn bucket_names(&self) -> Vec<String> {
        self.buckets.iter().map(|b| b.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn module_mime_types_compare_the_base_type() {
        assert!(is_module_mime("text/symphony-jsx"));
        assert!(is_module_mime("text/symphony-module; charset=utf-8"));
        assert!(is_module_mime("Text/Symphony-JSX"));
        assert!(!is_module_mime("text/markdown"));
        assert!(!is_module_mime("text/html;profile=mcp-app"));
        assert!(!is_module_mime("text/symphony-jsxx"));
    }

    fn base() -> serde_json::Value {
        json!({
            "manifest_version": 1, "name": "Catalog", "prefix": "catalog",
            "capabilities": [{"kind":"sub","subject":"extensions.catalog.list","description":"List"}],
            "resources": [{"uri":"ui://catalog/home","mime_type":"text/symphony-jsx","content":"x"}],
            "routes": [{"path":"/catalog","uri":"ui://catalog/home","routes":[{"path":"/s","uri":"ui://catalog/home"}]}],
            "menus": [{"group":"main","label":"Catalog","route":"/catalog","icon":"fa-book"}],
            "buckets": [{"name":"catalog_items","description":"items"}]
        })
    }

    fn code_of(v: serde_json::Value) -> ErrorCode {
        Manifest::parse(&serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .code
    }

    #[test]
    fn a_good_manifest_parses() {
        let m = Manifest::parse(&serde_json::to_vec(&base()).unwrap()).unwrap();
        assert_eq!(m.bucket_names(), vec!["catalog_items".to_owned()]);
        assert_eq!(m.routes[0].routes[0].path, "/s");
    }

    #[test]
    fn each_bad_input_has_its_code() {
        let mut v = base();
        v["manifest_version"] = json!(2);
        assert_eq!(code_of(v), ErrorCode::UnsupportedManifestVersion);
        let mut v = base();
        v.as_object_mut().unwrap().remove("manifest_version");
        assert_eq!(code_of(v), ErrorCode::InvalidManifest);
        let mut v = base();
        v["prefix"] = json!("Bad-Prefix");
        assert_eq!(code_of(v), ErrorCode::InvalidPrefix);
        let mut v = base();
        v["capabilities"][0]["subject"] = json!("extensions.other.>");
        assert_eq!(code_of(v), ErrorCode::CapabilityForbidden);
        let mut v = base();
        v["capabilities"][0]["subject"] = json!("nope");
        assert_eq!(code_of(v), ErrorCode::InvalidCapability);
        let mut v = base();
        v["buckets"][0]["name"] = json!("symphony_items");
        assert_eq!(code_of(v), ErrorCode::InvalidBucket);
        for subject in [
            "$JS.API.STREAM.DELETE.KV_symphony_keys",
            "cirata.extensions.other.list",
            "cirata.extensions.catalog",
            "cirata.extensions.catalog.*",
            "cirata.extensions.catalogx.list",
        ] {
            let mut v = base();
            v["endpoints"] = json!([{"service": "catalog", "version": "1.0.0",
                "endpoints": [{"name": "evil", "subject": subject}]}]);
            assert_eq!(code_of(v), ErrorCode::InvalidEndpoint, "{subject}");
        }
        let mut v = base();
        v["endpoints"] = json!([{"service": "catalog", "version": "1.0.0",
            "endpoints": [{"name": "list", "subject": "cirata.extensions.catalog.list"}]}]);
        assert!(Manifest::parse(&serde_json::to_vec(&v).unwrap()).is_ok());
        let mut v = base();
        v["routes"][0]["uri"] = json!("ui://catalog/missing");
        assert_eq!(code_of(v), ErrorCode::InvalidManifest);
        let mut v = base();
        v["resources"][0]["mime_type"] = json!("application/x-evil");
        assert_eq!(code_of(v), ErrorCode::InvalidManifest);
        let mut v = base();
        v["resources"][0]["content"] = json!("y".repeat(MAX_MANIFEST_BYTES));
        assert_eq!(code_of(v), ErrorCode::ManifestTooLarge);
        assert_eq!(
            Manifest::parse(b"{not json").unwrap_err().code,
            ErrorCode::InvalidManifest
        );
    }

    #[test]
    fn htmx_resources_need_an_entry() {
        let mut v = base();
        v["resources"][0]["mime_type"] = json!("text/html+htmx");
        assert_eq!(code_of(v.clone()), ErrorCode::InvalidManifest);
        v["resources"][0]["content"] = json!(r#"{"entry":"pages/table"}"#);
        assert!(Manifest::parse(&serde_json::to_vec(&v).unwrap()).is_ok());
    }
}

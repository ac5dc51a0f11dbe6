//! What an extension declares — name, prefix, description, capabilities, UI resources, routes, menus,
//! widgets and buckets — and the manifest and provisioning request they add up to. Pure: no I/O; every
//! declaration is checked when it is made, with the rules of `symphony_protocol`.

mod bucket;
mod route;

use symphony_protocol::capability::{Capability, CapabilityKind};
use symphony_protocol::manifest::{
    self, BucketSpec, HTMX_MIME, MIME_TYPES, Manifest, Menu, Resource, SdkInfo, ServiceSpec, Widget,
};
use symphony_protocol::messages::ProvisionRequest;
use symphony_protocol::names::validate_prefix;
use symphony_protocol::{ErrorBody, ErrorCode, PROTOCOL_VERSION};

use crate::error::{Error, Result};

pub use bucket::BucketConfig;
pub use route::Route;

/// The SDK's name in manifests and status records.
pub const SDK_NAME: &str = "cirata-symphony-rust";

/// This SDK's name and version.
pub(crate) fn sdk_info() -> SdkInfo {
    SdkInfo {
        name: SDK_NAME.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

fn invalid(message: String) -> Error {
    Error::Invalid(ErrorBody::new(ErrorCode::InvalidManifest, message))
}

fn check_identity(name: &str, prefix: &str) -> Result<(), ErrorBody> {
    validate_prefix(prefix)?;
    if name.trim().is_empty() || name.len() > 128 {
        return Err(ErrorBody::new(
            ErrorCode::InvalidManifest,
            format!("extension name {name:?} must be 1-128 characters"),
        ));
    }
    Ok(())
}

/// Everything an extension declares before (and while) it runs; the started services are not part of it
/// and are passed to [`manifest`](Declarations::manifest).
#[derive(Debug, Clone)]
pub(crate) struct Declarations {
    name: String,
    prefix: String,
    description: String,
    /// Why `name` or `prefix` are unusable; reported by every later call.
    invalid: Option<ErrorBody>,
    capabilities: Vec<Capability>,
    resources: Vec<Resource>,
    routes: Vec<Route>,
    menus: Vec<Menu>,
    widgets: Vec<Widget>,
    buckets: Vec<BucketSpec>,
}

impl Declarations {
    /// Never fails: an invalid name or prefix is kept and reported by [`check_valid`](Self::check_valid)
    /// and every `add_*` call.
    pub(crate) fn new(name: String, prefix: String) -> Self {
        let invalid = check_identity(&name, &prefix).err();
        Declarations {
            name,
            prefix,
            description: String::new(),
            invalid,
            capabilities: Vec::new(),
            resources: Vec::new(),
            routes: Vec::new(),
            menus: Vec::new(),
            widgets: Vec::new(),
            buckets: Vec::new(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn description(&self) -> &str {
        &self.description
    }

    pub(crate) fn set_description(&mut self, description: String) {
        self.description = description;
    }

    /// Fails when the name or prefix given to [`new`](Self::new) is unusable.
    pub(crate) fn check_valid(&self) -> Result<()> {
        match &self.invalid {
            Some(body) => Err(Error::Invalid(body.clone())),
            None => Ok(()),
        }
    }

    /// A `pub`/`sub` capability on `extensions.<prefix>[.<rest>]`, wildcards only inside the own prefix.
    /// Repeats are ignored.
    pub(crate) fn add_capability(
        &mut self,
        kind: &str,
        subject: &str,
        description: &str,
    ) -> Result<()> {
        self.check_valid()?;
        let kind: CapabilityKind = kind.parse().map_err(Error::Invalid)?;
        let cap = Capability::new(kind, subject, description);
        cap.validate_for(Some(&self.prefix))
            .map_err(Error::Invalid)?;
        if !self
            .capabilities
            .iter()
            .any(|c| c.kind == cap.kind && c.subject == cap.subject)
        {
            self.capabilities.push(cap);
        }
        Ok(())
    }

    /// A new UI resource; a URI declared before is an error.
    pub(crate) fn add_resource(
        &mut self,
        uri: &str,
        mime_type: &str,
        content: String,
    ) -> Result<()> {
        let resource = self.checked_resource(uri, mime_type, content)?;
        if self.resources.iter().any(|r| r.uri == uri) {
            return Err(invalid(format!(
                "resource {uri:?} is declared twice; use update_resource() to change it"
            )));
        }
        self.resources.push(resource);
        Ok(())
    }

    /// Replaces the resource `uri`, or adds it, with the checks of [`add_resource`](Self::add_resource).
    pub(crate) fn put_resource(
        &mut self,
        uri: &str,
        mime_type: &str,
        content: String,
    ) -> Result<()> {
        let resource = self.checked_resource(uri, mime_type, content)?;
        match self.resources.iter_mut().find(|r| r.uri == uri) {
            Some(existing) => *existing = resource,
            None => self.resources.push(resource),
        }
        Ok(())
    }

    /// A resource that passes the contract's rules: URI under the prefix, a known MIME type, and the JSON
    /// config an htmx resource needs.
    fn checked_resource(&self, uri: &str, mime_type: &str, content: String) -> Result<Resource> {
        self.check_valid()?;
        manifest::validate_resource_uri(&self.prefix, uri).map_err(Error::Invalid)?;
        if !MIME_TYPES.contains(&mime_type) {
            return Err(invalid(format!(
                "resource {uri:?} has unsupported mime type {mime_type:?} (supported: {})",
                MIME_TYPES.join(", ")
            )));
        }
        if mime_type == HTMX_MIME {
            let config: serde_json::Value = serde_json::from_str(&content).unwrap_or_default();
            if !config
                .get("entry")
                .is_some_and(serde_json::Value::is_string)
            {
                return Err(invalid(format!(
                    "htmx resource {uri:?} needs the JSON config {{\"entry\": \"…\"}}; use add_htmx_resource()"
                )));
            }
        }
        Ok(Resource {
            uri: uri.to_owned(),
            mime_type: mime_type.to_owned(),
            content,
        })
    }

    /// An HTMX resource whose shell loads `entry` first.
    pub(crate) fn add_htmx_resource(&mut self, uri: &str, entry: &str) -> Result<()> {
        let config = serde_json::json!({ "entry": entry }).to_string();
        self.add_resource(uri, HTMX_MIME, config)
    }

    /// A route (with its nested routes). Whether its resources are declared is Symphony's check at
    /// registration, so routes may come before their resources.
    pub(crate) fn add_route(&mut self, route: Route) -> Result<()> {
        self.check_valid()?;
        route.validate(&self.prefix).map_err(Error::Invalid)?;
        self.routes.push(route);
        Ok(())
    }

    /// A navigation entry.
    pub(crate) fn add_menu(
        &mut self,
        group: &str,
        label: &str,
        route: &str,
        icon: &str,
    ) -> Result<()> {
        self.check_valid()?;
        if group.trim().is_empty() || label.trim().is_empty() {
            return Err(invalid("menu group and label must not be empty".into()));
        }
        manifest::validate_route_path(route).map_err(Error::Invalid)?;
        self.menus.push(Menu {
            group: group.to_owned(),
            label: label.to_owned(),
            route: route.to_owned(),
            icon: icon.to_owned(),
        });
        Ok(())
    }

    /// A dashboard widget showing one of the extension's resources.
    pub(crate) fn add_widget(&mut self, uri: &str, title: &str, description: &str) -> Result<()> {
        self.check_valid()?;
        manifest::validate_resource_uri(&self.prefix, uri).map_err(Error::Invalid)?;
        self.widgets.push(Widget {
            uri: uri.to_owned(),
            title: title.to_owned(),
            description: description.to_owned(),
        });
        Ok(())
    }

    /// A key-value bucket (any valid name: it lives in the extension's own account) within the
    /// contract's limits; each name once.
    pub(crate) fn add_bucket(&mut self, bucket: BucketConfig) -> Result<()> {
        self.check_valid()?;
        let spec = bucket.to_spec().map_err(Error::Invalid)?;
        manifest::validate_bucket_spec(&spec).map_err(Error::Invalid)?;
        if self.buckets.iter().any(|b| b.name == spec.name) {
            return Err(Error::Invalid(ErrorBody::new(
                ErrorCode::InvalidBucket,
                format!("bucket {:?} is declared twice", spec.name),
            )));
        }
        self.buckets.push(spec);
        Ok(())
    }

    /// The manifest to register (docs/protocol.md §5.2): the declarations plus the started `endpoints`.
    pub(crate) fn manifest(&self, endpoints: Vec<ServiceSpec>) -> Manifest {
        Manifest {
            commands: Vec::new(),
            instance_handlers: Vec::new(),
            manifest_version: PROTOCOL_VERSION,
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            description: self.description.clone(),
            sdk: sdk_info(),
            capabilities: self.capabilities.clone(),
            resources: self.resources.clone(),
            routes: self.routes.iter().map(Route::to_wire).collect(),
            menus: self.menus.clone(),
            widgets: self.widgets.clone(),
            buckets: self.buckets.clone(),
            endpoints,
        }
    }

    /// What provisioning asks for: the declared capabilities and bucket names.
    pub(crate) fn provision_request(&self) -> ProvisionRequest {
        ProvisionRequest {
            v: PROTOCOL_VERSION,
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            capabilities: self.capabilities.clone(),
            buckets: self.buckets.iter().map(|b| b.name.clone()).collect(),
        }
    }
}

#[cfg(test)]
mod tests;

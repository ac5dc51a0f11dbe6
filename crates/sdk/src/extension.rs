//! The [`Extension`] type: identity, token, the manifest it adds up to, and its service registry.
//! Declarations (`add_capability`, UI, buckets) live in `declare.rs`; connecting and running in
//! `lifecycle.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use symphony_protocol::capability::Capability;
use symphony_protocol::manifest::{BucketSpec, Manifest, Menu, Resource, SdkInfo, Widget};
use symphony_protocol::messages::ProvisionRequest;
use symphony_protocol::names::validate_prefix;
use symphony_protocol::{ErrorBody, ErrorCode, PROTOCOL_VERSION};

use crate::declare::Route;
use crate::error::{Error, Result};
use crate::health::HealthShared;
use crate::lifecycle::Session;
use crate::service::{self, Registry, Service};

/// The SDK's name in manifests and status records.
pub const SDK_NAME: &str = "cirata-symphony-rust";

/// A Symphony extension: declare what it offers, then [`connect`](Extension::connect) /
/// [`run`](Extension::run).
///
/// ```no_run
/// use cirata_symphony::Extension;
///
/// # async fn demo() -> cirata_symphony::Result<()> {
/// let mut ext = Extension::new("Hello World", "hello");
/// ext.add_capability("sub", "extensions.hello.>", "Everything of hello")?;
/// ext.run().await
/// # }
/// ```
pub struct Extension {
    pub(crate) name: String,
    pub(crate) prefix: String,
    pub(crate) description: String,
    pub(crate) explicit_token: Option<String>,
    /// Why `name` or `prefix` are unusable; reported by every later call.
    invalid: Option<ErrorBody>,
    pub(crate) capabilities: Vec<Capability>,
    pub(crate) resources: Vec<Resource>,
    pub(crate) routes: Vec<Route>,
    pub(crate) menus: Vec<Menu>,
    pub(crate) widgets: Vec<Widget>,
    pub(crate) buckets: Vec<BucketSpec>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) session: Option<Session>,
    /// Shared with every [`HealthHandle`](crate::HealthHandle) and the run loop.
    pub(crate) health: Arc<HealthShared>,
}

impl std::fmt::Debug for Extension {
    /// Never prints the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extension")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("connected", &self.session.is_some())
            .field(
                "instance_id",
                &self.session.as_ref().map(|s| s.instance_id.as_str()),
            )
            .finish_non_exhaustive()
    }
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

impl Extension {
    /// A new extension named `name` (shown to people) with the prefix `prefix` (`^[a-z][a-z0-9_]{0,31}$`,
    /// namespaces subjects, resources and buckets). Never fails: an invalid name or prefix is reported by
    /// every `add_*` call and by [`connect`](Extension::connect). Use [`try_new`](Extension::try_new) to
    /// check at once.
    ///
    /// ```
    /// let ext = cirata_symphony::Extension::new("Catalog", "catalog");
    /// assert_eq!(ext.prefix(), "catalog");
    /// ```
    pub fn new(name: impl Into<String>, prefix: impl Into<String>) -> Self {
        let name = name.into();
        let prefix = prefix.into();
        let invalid = check_identity(&name, &prefix).err();
        Extension {
            name,
            prefix,
            description: String::new(),
            explicit_token: None,
            invalid,
            capabilities: Vec::new(),
            resources: Vec::new(),
            routes: Vec::new(),
            menus: Vec::new(),
            widgets: Vec::new(),
            buckets: Vec::new(),
            registry: Arc::default(),
            session: None,
            health: Arc::default(),
        }
    }

    /// Like [`new`](Extension::new), but fails at once on an invalid name or prefix.
    ///
    /// ```
    /// use cirata_symphony::Extension;
    /// assert!(Extension::try_new("Catalog", "catalog").is_ok());
    /// assert!(Extension::try_new("Catalog", "Catalog!").is_err());
    /// ```
    pub fn try_new(name: impl Into<String>, prefix: impl Into<String>) -> Result<Self> {
        let ext = Extension::new(name, prefix);
        ext.check_valid()?;
        Ok(ext)
    }

    /// Sets the description.
    ///
    /// ```
    /// let ext = cirata_symphony::Extension::new("Catalog", "catalog").with_description("Items");
    /// assert_eq!(ext.description(), "Items");
    /// ```
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Uses `token` (API key or registration token) instead of looking one up.
    ///
    /// ```
    /// let ext = cirata_symphony::Extension::new("Catalog", "catalog").with_token("…");
    /// assert_eq!(ext.token(), Some("…"));
    /// ```
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.explicit_token = Some(token.into());
        self
    }

    pub(crate) fn check_valid(&self) -> Result<()> {
        match &self.invalid {
            Some(body) => Err(Error::Invalid(body.clone())),
            None => Ok(()),
        }
    }

    /// Starts a micro service (`io.nats.micro.v1`) on the connection; add endpoints through its groups. Its
    /// spec (with `metadata`, e.g. an `"openapi"` document) goes into the manifest that
    /// [`run`](Extension::run) registers. Needs [`connect`](Extension::connect) first.
    ///
    /// ```no_run
    /// # async fn demo(mut ext: cirata_symphony::Extension) -> cirata_symphony::Result<()> {
    /// ext.connect().await?;
    /// let svc = ext.add_endpoints("catalog", "1.0.0", "Catalog service", Default::default()).await?;
    /// let group = svc.add_group("cirata.extensions.catalog");
    /// # Ok(()) }
    /// ```
    pub async fn add_endpoints(
        &self,
        name: &str,
        version: &str,
        description: &str,
        metadata: HashMap<String, String>,
    ) -> Result<Service> {
        self.check_valid()?;
        let session = self.session.as_ref().ok_or(Error::NotConnected {
            what: "add_endpoints()",
        })?;
        service::start(
            &self.registry,
            &session.nc,
            name,
            version,
            description,
            metadata,
        )
        .await
    }

    /// The extension's name.
    ///
    /// ```
    /// assert_eq!(cirata_symphony::Extension::new("Catalog", "catalog").name(), "Catalog");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The extension's prefix.
    ///
    /// ```
    /// assert_eq!(cirata_symphony::Extension::new("Catalog", "catalog").prefix(), "catalog");
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The description.
    ///
    /// ```
    /// assert_eq!(cirata_symphony::Extension::new("Catalog", "catalog").description(), "");
    /// ```
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The token in use: the permanent token once connected, else the one given to
    /// [`with_token`](Extension::with_token). Treat it as a secret.
    ///
    /// ```
    /// assert_eq!(cirata_symphony::Extension::new("Catalog", "catalog").token(), None);
    /// ```
    pub fn token(&self) -> Option<&str> {
        match &self.session {
            Some(s) => Some(&s.token),
            None => self.explicit_token.as_deref(),
        }
    }

    /// The manifest as it would be registered now (declarations plus started services).
    ///
    /// ```
    /// let m = cirata_symphony::Extension::new("Catalog", "catalog").manifest();
    /// assert_eq!(m.manifest_version, 1);
    /// assert_eq!(m.sdk.name, "cirata-symphony-rust");
    /// ```
    pub fn manifest(&self) -> Manifest {
        Manifest {
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
            endpoints: self.registry.specs(),
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

/// This SDK's name and version.
pub(crate) fn sdk_info() -> SdkInfo {
    SdkInfo {
        name: SDK_NAME.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: Error) -> ErrorCode {
        e.server_error().expect("a typed error").code
    }

    #[test]
    fn bad_name_or_prefix_is_reported_by_every_call() {
        let mut ext = Extension::new("Bad", "Bad-Prefix");
        assert_eq!(
            code(ext.add_capability("sub", "extensions.x", "").unwrap_err()),
            ErrorCode::InvalidPrefix
        );
        assert_eq!(
            code(ext.add_bucket("x", "", 0, 0, 0).unwrap_err()),
            ErrorCode::InvalidPrefix
        );
        assert_eq!(
            code(ext.add_route("/x", "ui://x/y").unwrap_err()),
            ErrorCode::InvalidPrefix
        );
        assert!(Extension::try_new("", "ok").is_err());
        assert!(Extension::try_new("Ok", "ok").is_ok());
    }

    #[tokio::test]
    async fn endpoints_need_a_connection() {
        let ext = Extension::new("Catalog", "catalog");
        let e = ext
            .add_endpoints("catalog", "1.0.0", "", HashMap::new())
            .await
            .err()
            .unwrap();
        assert!(matches!(e, Error::NotConnected { .. }));
    }
}

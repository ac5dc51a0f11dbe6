//! What an extension declares before it connects: capabilities, UI resources, routes, menus, widgets and
//! buckets. Each `add_*` call validates its input at once with the rules of `symphony_protocol`.

use symphony_protocol::capability::{Capability, CapabilityKind};
use symphony_protocol::manifest::{
    self, BucketSpec, HTMX_MIME, MIME_TYPES, Menu, Resource, Widget,
};
use symphony_protocol::{ErrorBody, ErrorCode};

use crate::error::{Error, Result};
use crate::extension::Extension;

/// A page route, possibly with nested routes whose paths are relative to it.
///
/// ```
/// use cirata_symphony::Route;
/// let r = Route::new("/catalog", "ui://catalog/home")
///     .with_children(vec![Route::new("/settings", "ui://catalog/settings")]);
/// assert_eq!(r.routes[0].path, "/settings");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Path, starting with `/`.
    pub path: String,
    /// The resource shown, `ui://<prefix>/<name>`.
    pub uri: String,
    /// Nested routes.
    pub routes: Vec<Route>,
}

impl Route {
    /// A route without children.
    ///
    /// ```
    /// let r = cirata_symphony::Route::new("/detail", "ui://catalog/detail");
    /// assert!(r.routes.is_empty());
    /// ```
    pub fn new(path: impl Into<String>, uri: impl Into<String>) -> Self {
        Route {
            path: path.into(),
            uri: uri.into(),
            routes: Vec::new(),
        }
    }

    /// Adds nested routes.
    ///
    /// ```
    /// use cirata_symphony::Route;
    /// let r = Route::new("/a", "ui://x/a").with_children(vec![Route::new("/b", "ui://x/b")]);
    /// assert_eq!(r.routes.len(), 1);
    /// ```
    pub fn with_children(mut self, routes: Vec<Route>) -> Self {
        self.routes.extend(routes);
        self
    }

    pub(crate) fn validate(&self, prefix: &str) -> Result<(), ErrorBody> {
        manifest::validate_route_path(&self.path)?;
        manifest::validate_resource_uri(prefix, &self.uri)?;
        self.routes.iter().try_for_each(|r| r.validate(prefix))
    }

    pub(crate) fn to_wire(&self) -> manifest::Route {
        manifest::Route {
            path: self.path.clone(),
            uri: self.uri.clone(),
            routes: self.routes.iter().map(Route::to_wire).collect(),
        }
    }
}

fn invalid(message: String) -> Error {
    Error::Invalid(ErrorBody::new(ErrorCode::InvalidManifest, message))
}

impl Extension {
    /// Declares a capability: `kind` is `"pub"` or `"sub"`, `subject` is `extensions.<prefix>[.<rest>]`.
    /// Wildcards (`*`, `>`) are allowed only inside the extension's own prefix; another extension's subject
    /// must be named in full.
    ///
    /// ```
    /// # fn main() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Catalog", "catalog");
    /// ext.add_capability("sub", "extensions.catalog.list", "List items")?
    ///     .add_capability("pub", "extensions.intelligence.mcp", "Ask Intelligence")?;
    /// assert!(ext.add_capability("pub", "extensions.other.>", "x").is_err());
    /// # Ok(()) }
    /// ```
    pub fn add_capability(
        &mut self,
        kind: &str,
        subject: &str,
        description: &str,
    ) -> Result<&mut Self> {
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
        Ok(self)
    }

    /// Declares a UI resource `ui://<prefix>/<name>` with one of the MIME types of docs/protocol.md §5.2.
    ///
    /// ```
    /// # fn main() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Catalog", "catalog");
    /// ext.add_resource("ui://catalog/help", "text/markdown", "# Help")?;
    /// assert!(ext.add_resource("ui://catalog/x", "application/evil", "").is_err());
    /// # Ok(()) }
    /// ```
    pub fn add_resource(
        &mut self,
        uri: &str,
        mime_type: &str,
        content: impl Into<String>,
    ) -> Result<&mut Self> {
        let resource = self.checked_resource(uri, mime_type, content.into())?;
        if self.resources.iter().any(|r| r.uri == uri) {
            return Err(invalid(format!(
                "resource {uri:?} is declared twice; use update_resource() to change it"
            )));
        }
        self.resources.push(resource);
        Ok(self)
    }

    /// Replaces the resource `uri` (or adds it, with the checks of
    /// [`add_resource`](Extension::add_resource)) and, when connected, registers again so Symphony shows
    /// it at once. Call it before [`run`](Extension::run) or after [`connect`](Extension::connect); the
    /// new content is kept even when registering again fails.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Catalog", "catalog");
    /// ext.add_resource("ui://catalog/help", "text/markdown", "# Help")?;
    /// ext.update_resource("ui://catalog/help", "text/markdown", "# Help v2").await?;
    /// assert_eq!(ext.manifest().resources[0].content, "# Help v2");
    /// assert!(ext.update_resource("ui://catalog/x", "application/evil", "").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn update_resource(
        &mut self,
        uri: &str,
        mime_type: &str,
        content: impl Into<String>,
    ) -> Result<()> {
        let resource = self.checked_resource(uri, mime_type, content.into())?;
        match self.resources.iter_mut().find(|r| r.uri == uri) {
            Some(existing) => *existing = resource,
            None => self.resources.push(resource),
        }
        self.register_again().await
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

    /// Declares an HTMX resource (`text/html+htmx`): Symphony serves the shell and loads `entry` first.
    ///
    /// ```
    /// # fn main() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Catalog", "catalog");
    /// ext.add_htmx_resource("ui://catalog/table", "pages/table")?;
    /// assert_eq!(ext.manifest().resources[0].content, r#"{"entry":"pages/table"}"#);
    /// # Ok(()) }
    /// ```
    pub fn add_htmx_resource(&mut self, uri: &str, entry: &str) -> Result<&mut Self> {
        let config = serde_json::json!({ "entry": entry }).to_string();
        self.add_resource(uri, HTMX_MIME, config)
    }

    /// Maps a path to a resource. Whether the resource is declared is checked by Symphony at registration.
    ///
    /// ```
    /// # fn main() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Catalog", "catalog");
    /// ext.add_route("/catalog", "ui://catalog/home")?;
    /// assert!(ext.add_route("catalog", "ui://catalog/home").is_err());
    /// # Ok(()) }
    /// ```
    pub fn add_route(&mut self, path: &str, uri: &str) -> Result<&mut Self> {
        self.add_route_with_children(path, uri, Vec::new())
    }

    /// Maps a path to a resource, with nested routes (paths relative to `path`).
    ///
    /// ```
    /// # fn main() -> cirata_symphony::Result<()> {
    /// use cirata_symphony::Route;
    /// let mut ext = cirata_symphony::Extension::new("Catalog", "catalog");
    /// ext.add_route_with_children("/catalog", "ui://catalog/home", vec![
    ///     Route::new("/settings", "ui://catalog/settings"),
    /// ])?;
    /// # Ok(()) }
    /// ```
    pub fn add_route_with_children(
        &mut self,
        path: &str,
        uri: &str,
        children: Vec<Route>,
    ) -> Result<&mut Self> {
        self.check_valid()?;
        let route = Route::new(path, uri).with_children(children);
        route.validate(&self.prefix).map_err(Error::Invalid)?;
        self.routes.push(route);
        Ok(self)
    }

    /// Adds a navigation entry: `group` (e.g. `"main"`), `label`, the `route` it opens and a Font Awesome
    /// icon class.
    ///
    /// ```
    /// # fn main() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Catalog", "catalog");
    /// ext.add_menu("main", "Catalog", "/catalog", "fa-book")?;
    /// # Ok(()) }
    /// ```
    pub fn add_menu(
        &mut self,
        group: &str,
        label: &str,
        route: &str,
        icon: &str,
    ) -> Result<&mut Self> {
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
        Ok(self)
    }

    /// Offers a resource as a dashboard widget.
    ///
    /// ```
    /// # fn main() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Catalog", "catalog");
    /// ext.add_widget("ui://catalog/status", "Status", "Real-time status")?;
    /// # Ok(()) }
    /// ```
    pub fn add_widget(&mut self, uri: &str, title: &str, description: &str) -> Result<&mut Self> {
        self.check_valid()?;
        manifest::validate_resource_uri(&self.prefix, uri).map_err(Error::Invalid)?;
        self.widgets.push(Widget {
            uri: uri.to_owned(),
            title: title.to_owned(),
            description: description.to_owned(),
        });
        Ok(self)
    }

    /// Declares a key-value bucket, named `<prefix>` or `<prefix>_<name>`. Symphony creates (or updates) it
    /// at registration and grants this extension access. `ttl` in seconds (0 = no expiry),
    /// `max_history_per_key` 0–64 (0 = server default 1), `max_bucket_size` in bytes (0 = unlimited).
    ///
    /// ```
    /// # fn main() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Catalog", "catalog");
    /// ext.add_bucket("catalog_items", "Catalog item storage", 0, 0, 0)?;
    /// assert!(ext.add_bucket("other_items", "not ours", 0, 0, 0).is_err());
    /// # Ok(()) }
    /// ```
    pub fn add_bucket(
        &mut self,
        name: &str,
        description: &str,
        ttl: u64,
        max_history_per_key: u32,
        max_bucket_size: u64,
    ) -> Result<&mut Self> {
        self.check_valid()?;
        let spec = BucketSpec {
            name: name.to_owned(),
            description: description.to_owned(),
            ttl,
            max_history_per_key,
            max_bucket_size,
        };
        manifest::validate_bucket_spec(&self.prefix, &spec).map_err(Error::Invalid)?;
        if self.buckets.iter().any(|b| b.name == name) {
            return Err(Error::Invalid(ErrorBody::new(
                ErrorCode::InvalidBucket,
                format!("bucket {name:?} is declared twice"),
            )));
        }
        self.buckets.push(spec);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphony_protocol::Manifest;

    fn code(e: Error) -> ErrorCode {
        e.server_error().expect("a typed error").code
    }

    #[test]
    fn capabilities_are_checked_against_the_own_prefix() {
        let mut ext = Extension::new("Catalog", "catalog");
        ext.add_capability("sub", "extensions.catalog.>", "all")
            .unwrap();
        ext.add_capability("pub", "extensions.other.process", "one call")
            .unwrap();
        assert_eq!(
            code(
                ext.add_capability("pub", "extensions.other.>", "")
                    .unwrap_err()
            ),
            ErrorCode::CapabilityForbidden
        );
        assert_eq!(
            code(ext.add_capability("sub", "nope.x", "").unwrap_err()),
            ErrorCode::InvalidCapability
        );
        assert_eq!(
            code(
                ext.add_capability("both", "extensions.catalog", "")
                    .unwrap_err()
            ),
            ErrorCode::InvalidCapability
        );
        // Repeats are idempotent.
        ext.add_capability("sub", "extensions.catalog.>", "again")
            .unwrap();
        assert_eq!(ext.manifest().capabilities.len(), 2);
    }

    #[test]
    fn buckets_resources_and_routes_are_validated() {
        let mut ext = Extension::new("Catalog", "catalog");
        assert_eq!(
            code(ext.add_bucket("other_items", "", 0, 0, 0).unwrap_err()),
            ErrorCode::InvalidBucket
        );
        assert_eq!(
            code(ext.add_bucket("catalog_items", "", 0, 65, 0).unwrap_err()),
            ErrorCode::InvalidBucket
        );
        ext.add_bucket("catalog_items", "", 0, 0, 0).unwrap();
        assert_eq!(
            code(ext.add_bucket("catalog_items", "", 0, 0, 0).unwrap_err()),
            ErrorCode::InvalidBucket
        );
        assert!(
            ext.add_resource("ui://catalog/home", "text/plain", "")
                .is_err()
        );
        assert!(
            ext.add_resource("ui://other/home", "text/markdown", "")
                .is_err()
        );
        assert!(
            ext.add_resource("ui://catalog/t", "text/html+htmx", "<p>")
                .is_err()
        );
        ext.add_resource("ui://catalog/home", "text/symphony-jsx", "x")
            .unwrap();
        assert!(
            ext.add_resource("ui://catalog/home", "text/markdown", "")
                .is_err()
        );
        assert!(ext.add_route("no-slash", "ui://catalog/home").is_err());
        assert!(ext.add_route("/a b", "ui://catalog/home").is_err());
        assert!(
            ext.add_route_with_children(
                "/catalog",
                "ui://catalog/home",
                vec![
                    Route::new("/s", "ui://catalog/s")
                        .with_children(vec![Route::new("bad", "ui://catalog/x")])
                ]
            )
            .is_err()
        );
        assert!(ext.add_menu("main", "", "/catalog", "fa-book").is_err());
        assert!(
            ext.add_menu("main", "Catalog", "catalog", "fa-book")
                .is_err()
        );
        assert!(ext.add_widget("ui://nope/w", "W", "").is_err());
    }

    #[tokio::test]
    async fn update_resource_replaces_or_adds_with_the_same_checks() {
        let mut ext = Extension::new("Catalog", "catalog");
        ext.add_resource("ui://catalog/home", "text/symphony-jsx", "v1")
            .unwrap();
        ext.update_resource("ui://catalog/home", "text/symphony-jsx", "v2")
            .await
            .unwrap();
        ext.update_resource("ui://catalog/help", "text/markdown", "# Help")
            .await
            .unwrap();
        let resources = ext.manifest().resources;
        assert_eq!(resources.len(), 2);
        assert_eq!(resources[0].content, "v2");
        assert_eq!(resources[1].uri, "ui://catalog/help");
        for (uri, mime, content) in [
            ("ui://other/home", "text/markdown", ""),
            ("ui://catalog/home", "text/plain", ""),
            ("ui://catalog/t", "text/html+htmx", "<p>"),
        ] {
            let e = ext.update_resource(uri, mime, content).await.unwrap_err();
            assert!(matches!(e, Error::Invalid(_)), "{uri} {mime}: {e}");
        }
        assert_eq!(ext.manifest().resources[0].content, "v2");
        let e = ext
            .add_resource("ui://catalog/home", "text/symphony-jsx", "v3")
            .unwrap_err();
        assert!(e.to_string().contains("update_resource"), "{e}");
        let mut bad = Extension::new("Bad", "Bad-Prefix");
        assert_eq!(
            code(
                bad.update_resource("ui://x/y", "text/markdown", "")
                    .await
                    .unwrap_err()
            ),
            ErrorCode::InvalidPrefix
        );
    }

    #[test]
    fn routes_to_resources_declared_later_are_accepted() {
        let mut ext = Extension::new("Catalog", "catalog");
        ext.add_route_with_children(
            "/catalog",
            "ui://catalog/home",
            vec![Route::new("/settings", "ui://catalog/settings")],
        )
        .unwrap();
        ext.add_resource("ui://catalog/home", "text/symphony-jsx", "x")
            .unwrap();
        ext.add_resource("ui://catalog/settings", "text/symphony-jsx", "y")
            .unwrap();
        ext.add_menu("main", "Catalog", "/catalog", "fa-book")
            .unwrap();
        ext.add_bucket("catalog_items", "items", 0, 0, 0).unwrap();
        let m = ext.manifest();
        assert_eq!(m.routes[0].routes[0].uri, "ui://catalog/settings");
        // What the SDK sends passes the server's own validation.
        let bytes = serde_json::to_vec(&m).unwrap();
        Manifest::parse(&bytes).unwrap();
        let p = ext.provision_request();
        assert_eq!(p.buckets, vec!["catalog_items".to_owned()]);
        assert_eq!(p.v, 1);
    }
}

//! A page route of the manifest (docs/protocol.md §5.2): a path, the resource it shows, and nested routes.

use symphony_protocol::ErrorBody;
use symphony_protocol::manifest;

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

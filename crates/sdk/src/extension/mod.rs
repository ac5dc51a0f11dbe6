//! The [`Extension`] type, the SDK's front: it composes the declarations (`declare`), the connection
//! (`session`), the health (`health`), the services, instance handlers and commands (`service`,
//! `listener`), the work partitioning (`partition`) and the run (`lifecycle`), and delegates to them; none
//! of them knows `Extension`.

use std::future::Future;
use std::sync::Arc;

use async_nats::jetstream;
use bytes::Bytes;
use symphony_protocol::manifest::Manifest;

use crate::client::Client;
use crate::declare::{BucketConfig, Declarations, Route};
use crate::error::{Error, Result};
use crate::handler::{self, HandlerError, Request};
use crate::health::{Health, HealthHandle};
use crate::lifecycle::{self, Run};
use crate::partition::WorkPartitioner;
use crate::service::{self, Registry, Service, ServiceConfig};
use crate::session::Session;

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
    declarations: Declarations,
    explicit_token: Option<String>,
    /// Started services; shared with their [`Service`] handles.
    registry: Arc<Registry>,
    /// Present from [`connect`](Extension::connect) until [`run`](Extension::run) ends.
    session: Option<Session>,
    /// Shared with every [`HealthHandle`] and the run loop.
    health: HealthHandle,
    /// Shared with every [`WorkPartitioner`] handle and the claim loop.
    partitioner: WorkPartitioner,
}

impl std::fmt::Debug for Extension {
    /// Never prints the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extension")
            .field("name", &self.name())
            .field("prefix", &self.prefix())
            .field("connected", &self.session.is_some())
            .field(
                "instance_id",
                &self.session.as_ref().map(|s| s.instance_id().as_str()),
            )
            .finish_non_exhaustive()
    }
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
        Extension {
            declarations: Declarations::new(name.into(), prefix.into()),
            explicit_token: None,
            registry: Arc::default(),
            session: None,
            health: HealthHandle::new(),
            partitioner: WorkPartitioner::default(),
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
        ext.declarations.check_valid()?;
        Ok(ext)
    }

    /// Sets the description.
    ///
    /// ```
    /// let ext = cirata_symphony::Extension::new("Catalog", "catalog").with_description("Items");
    /// assert_eq!(ext.description(), "Items");
    /// ```
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.declarations.set_description(description.into());
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

    /// The extension's name.
    ///
    /// ```
    /// assert_eq!(cirata_symphony::Extension::new("Catalog", "catalog").name(), "Catalog");
    /// ```
    pub fn name(&self) -> &str {
        self.declarations.name()
    }

    /// The extension's prefix.
    ///
    /// ```
    /// assert_eq!(cirata_symphony::Extension::new("Catalog", "catalog").prefix(), "catalog");
    /// ```
    pub fn prefix(&self) -> &str {
        self.declarations.prefix()
    }

    /// The description.
    ///
    /// ```
    /// assert_eq!(cirata_symphony::Extension::new("Catalog", "catalog").description(), "");
    /// ```
    pub fn description(&self) -> &str {
        self.declarations.description()
    }

    /// The token in use: the permanent token once connected, else the one given to
    /// [`with_token`](Extension::with_token). Treat it as a secret.
    ///
    /// ```
    /// assert_eq!(cirata_symphony::Extension::new("Catalog", "catalog").token(), None);
    /// ```
    pub fn token(&self) -> Option<&str> {
        match &self.session {
            Some(s) => Some(s.token()),
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
        self.registry.manifest(&self.declarations)
    }

    /// Declares a capability: `kind` is `"pub"` or `"sub"`, `subject` is `extensions.<prefix>[.<rest>]`.
    /// Wildcards (`*`, `>`) are allowed only inside the extension's own prefix; another extension's subject
    /// must be named in full. Repeats are ignored.
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
        self.declarations
            .add_capability(kind, subject, description)?;
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
        self.declarations
            .add_resource(uri, mime_type, content.into())?;
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
        self.declarations
            .put_resource(uri, mime_type, content.into())?;
        let manifest = self.manifest();
        if let Some(session) = &mut self.session {
            session.register(&manifest).await?;
            tracing::debug!(prefix = %self.declarations.prefix(), "registered again");
        }
        Ok(())
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
        self.declarations.add_htmx_resource(uri, entry)?;
        Ok(self)
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
        self.declarations
            .add_route(Route::new(path, uri).with_children(children))?;
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
        self.declarations.add_menu(group, label, route, icon)?;
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
        self.declarations.add_widget(uri, title, description)?;
        Ok(self)
    }

    /// Declares a key-value bucket, named `<prefix>` or `<prefix>_<name>`, with the options of a
    /// [`BucketConfig`] (or a bare name). Symphony creates (or updates) it at registration and grants this
    /// extension access; open it with [`kv`](Extension::kv).
    ///
    /// ```
    /// use cirata_symphony::{BucketConfig, Extension};
    /// # fn main() -> cirata_symphony::Result<()> {
    /// let mut ext = Extension::new("Catalog", "catalog");
    /// ext.add_bucket(BucketConfig::new("catalog_items").description("Catalog item storage"))?;
    /// assert!(ext.add_bucket("symphony_items").is_err()); // reserved for the platform
    /// # Ok(()) }
    /// ```
    pub fn add_bucket(&mut self, bucket: impl Into<BucketConfig>) -> Result<&mut Self> {
        self.declarations.add_bucket(bucket.into())?;
        Ok(self)
    }

    /// Whether [`connect`](Extension::connect) has succeeded (and [`run`](Extension::run) has not ended).
    ///
    /// ```
    /// assert!(!cirata_symphony::Extension::new("Catalog", "catalog").is_connected());
    /// ```
    pub fn is_connected(&self) -> bool {
        self.session.is_some()
    }

    /// Finds a token, exchanges it for the API key, provisions a permanent key first if it is a registration
    /// token, connects to NATS and registers the manifest (so declared buckets exist before handlers run).
    /// Does nothing when already connected. [`run`](Extension::run) calls it when needed.
    ///
    /// Token order: [`with_token`](Extension::with_token); the OS credential store or
    /// `<config>/<prefix>.token` from an earlier provisioning (skipped with a warning if Symphony rejects
    /// it); `SYMPHONY_TOKEN`; `REGISTRATION_TOKEN`. Never reads stdin.
    ///
    /// ```no_run
    /// # async fn demo() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Catalog", "catalog");
    /// ext.connect().await?;
    /// println!("instance {}", ext.instance_id().unwrap_or_default());
    /// # Ok(()) }
    /// ```
    pub async fn connect(&mut self) -> Result<()> {
        if self.session.is_some() {
            return Ok(());
        }
        self.declarations.check_valid()?;
        let manifest = self.manifest();
        let session = Session::open(
            &self.declarations,
            &self.registry,
            self.explicit_token.as_deref(),
            &manifest,
        )
        .await?;
        self.registry.set_caller_key(session.caller_key());
        self.session = Some(session);
        Ok(())
    }

    /// Starts the micro service (`io.nats.micro.v1`) `config` describes on the connection; add endpoints
    /// through its groups. Its spec (with the metadata, e.g. an `"openapi"` document) goes into the
    /// manifest that [`run`](Extension::run) registers. Needs [`connect`](Extension::connect) first.
    ///
    /// ```no_run
    /// use cirata_symphony::ServiceConfig;
    /// # async fn demo(mut ext: cirata_symphony::Extension) -> cirata_symphony::Result<()> {
    /// ext.connect().await?;
    /// let config = ServiceConfig::new("catalog", "1.0.0").description("Catalog service");
    /// let svc = ext.add_endpoints(config).await?;
    /// let group = svc.add_group("cirata.extensions.catalog");
    /// # Ok(()) }
    /// ```
    pub async fn add_endpoints(&self, config: ServiceConfig) -> Result<Service> {
        self.declarations.check_valid()?;
        let session = self.session.as_ref().ok_or(Error::NotConnected {
            what: "add_endpoints()",
        })?;
        service::start(&self.registry, session.nats(), config).await
    }

    /// The session, or a panic that says to connect first.
    fn connected(&self, what: &'static str) -> &Session {
        match &self.session {
            Some(s) => s,
            None => panic!("{}", Error::NotConnected { what }),
        }
    }

    /// The NATS connection.
    ///
    /// # Panics
    /// Before [`connect`](Extension::connect) succeeds.
    ///
    /// ```no_run
    /// # async fn demo(ext: &cirata_symphony::Extension) {
    /// let sub = ext.nats().subscribe("cirata.symphony.enforcement").await;
    /// # }
    /// ```
    pub fn nats(&self) -> &async_nats::Client {
        self.connected("nats()").nats()
    }

    /// A JetStream context on the connection.
    ///
    /// # Panics
    /// Before [`connect`](Extension::connect) succeeds.
    ///
    /// ```no_run
    /// # async fn demo(ext: &cirata_symphony::Extension) {
    /// let js = ext.jetstream();
    /// # }
    /// ```
    pub fn jetstream(&self) -> jetstream::Context {
        jetstream::new(self.connected("jetstream()").nats().clone())
    }

    /// Request/reply and publish helpers (0.5 s default timeout).
    ///
    /// # Panics
    /// Before [`connect`](Extension::connect) succeeds.
    ///
    /// ```no_run
    /// # async fn demo(ext: &cirata_symphony::Extension) -> cirata_symphony::Result<()> {
    /// ext.client().publish("extensions.catalog.changed", "{}").await?;
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> Client {
        Client::new(self.connected("client()").nats().clone())
    }

    /// Opens a declared key-value bucket.
    ///
    /// ```no_run
    /// # async fn demo(ext: &cirata_symphony::Extension) -> cirata_symphony::Result<()> {
    /// let kv = ext.kv("catalog_items").await?;
    /// kv.put("item:1", "{}".into()).await.ok();
    /// # Ok(()) }
    /// ```
    pub async fn kv(&self, bucket: &str) -> Result<jetstream::kv::Store> {
        let session = self.session.as_ref();
        session
            .ok_or(Error::NotConnected { what: "kv()" })?
            .kv(bucket)
            .await
    }

    /// This instance's id (docs/protocol.md §12.1): minted by the key exchange, so every process started
    /// from one token is an instance of its own; renewals keep it. `None` before
    /// [`connect`](Extension::connect). Tag operational records in shared storage with it.
    ///
    /// ```
    /// assert_eq!(cirata_symphony::Extension::new("Catalog", "catalog").instance_id(), None);
    /// ```
    pub fn instance_id(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.instance_id().as_str())
    }

    /// Serves `handler` for requests to this instance only: `cirata.extensions.<prefix>.instance.<id>.<name>`
    /// (docs/protocol.md §12.2), which callers reach through the gateway with `?instance=<id>` on
    /// `/api/v1/extension/<prefix>/<name>`. The handler gets the same [`Request`] as an endpoint handler
    /// and fails the same way; a request for a name no handler serves is answered `not_found` (404).
    /// `name` is 1-64 of `[A-Za-z0-9_-]` (`invalid_endpoint` otherwise); a second handler of the same
    /// name replaces the first. Declared in the manifest (`instance_handlers`); served from
    /// [`run`](Extension::run) on.
    ///
    /// ```
    /// use cirata_symphony::{Extension, HandlerError, Request};
    /// # fn main() -> cirata_symphony::Result<()> {
    /// let mut ext = Extension::new("Replicator", "replicator");
    /// let partitioner = ext.work_partitioner();
    /// ext.add_instance_handler("local-status", move |req: Request| {
    ///     let partitioner = partitioner.clone();
    ///     async move {
    ///         let status = serde_json::json!({
    ///             "subject": req.subject,
    ///             "work_items": partitioner.my_item_count(),
    ///         });
    ///         Ok::<_, HandlerError>(status.to_string())
    ///     }
    /// })?;
    /// assert_eq!(ext.manifest().instance_handlers, ["local-status"]);
    /// assert!(ext.add_instance_handler("local.status", |_req| async { Ok::<_, HandlerError>("") }).is_err());
    /// # Ok(()) }
    /// ```
    pub fn add_instance_handler<F, Fut, R, E>(
        &mut self,
        name: &str,
        handler: F,
    ) -> Result<&mut Self>
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Into<Bytes>,
        E: Into<HandlerError>,
    {
        self.declarations.check_valid()?;
        self.registry
            .listeners
            .add_instance_handler(name, handler::erase(handler))?;
        Ok(self)
    }

    /// Serves command `name`, which exactly one instance handles each time it is run (docs/protocol.md
    /// §12.3): every instance queue-subscribes to `cirata.extensions.<prefix>.commands.<name>` in the group
    /// `commands`. The platform runs it with `POST /api/v1/extensions/<prefix>/commands/<name>`; the
    /// Extensions page lists it with `description`. Name rule and request as for
    /// [`add_instance_handler`](Extension::add_instance_handler); declared in the manifest (`commands`);
    /// served from [`run`](Extension::run) on.
    ///
    /// ```
    /// use cirata_symphony::{Extension, HandlerError};
    /// # fn main() -> cirata_symphony::Result<()> {
    /// let mut ext = Extension::new("Search", "search");
    /// ext.add_command_handler("reindex", "Rebuild the search index", |_req| async {
    ///     Ok::<_, HandlerError>(r#"{"started": true}"#)
    /// })?;
    /// assert_eq!(ext.manifest().commands[0].name, "reindex");
    /// # Ok(()) }
    /// ```
    pub fn add_command_handler<F, Fut, R, E>(
        &mut self,
        name: &str,
        description: &str,
        handler: F,
    ) -> Result<&mut Self>
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Into<Bytes>,
        E: Into<HandlerError>,
    {
        self.declarations.check_valid()?;
        self.registry
            .listeners
            .add_command(name, description, handler::erase(handler))?;
        Ok(self)
    }

    /// Makes this instance a member of its extension's work partitioning (docs/protocol.md §12.4) from
    /// [`run`](Extension::run) on: work items (any string keys) are spread over the live members by
    /// rendezvous hashing, and no two live instances ever own the same key. Ask through
    /// [`work_partitioner`](Extension::work_partitioner). `on_rebalance(total_instances,
    /// my_item_count)` is called whenever either number changes after a claim; it runs on the claim loop,
    /// so keep it short (spawn longer work).
    ///
    /// ```no_run
    /// # async fn demo() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Replicator", "replicator");
    /// ext.enable_work_partitioning(|total, mine| {
    ///     tracing::info!("Rebalanced: {total} instances active, I own {mine} items");
    /// });
    /// ext.run().await
    /// # }
    /// ```
    pub fn enable_work_partitioning<F>(&mut self, on_rebalance: F) -> &mut Self
    where
        F: Fn(usize, usize) + Send + Sync + 'static,
    {
        self.partitioner.enable(Arc::new(on_rebalance));
        self
    }

    /// A cloneable handle on this instance's share of the work: [`WorkPartitioner::is_my_work`],
    /// [`my_item_count`](WorkPartitioner::my_item_count), [`fence`](WorkPartitioner::fence),
    /// [`fenced_put`](WorkPartitioner::fenced_put). It owns nothing unless
    /// [`enable_work_partitioning`](Extension::enable_work_partitioning) was called and the extension runs.
    ///
    /// ```
    /// let ext = cirata_symphony::Extension::new("Replicator", "replicator");
    /// let partitioner = ext.work_partitioner();
    /// assert!(!partitioner.is_my_work("orders"));
    /// ```
    pub fn work_partitioner(&self) -> WorkPartitioner {
        self.partitioner.clone()
    }

    /// Runs until SIGINT or SIGTERM: connects if needed, registers with the endpoints added so far,
    /// publishes the instance status every `heartbeat_secs` (re-registering after a reconnect), and on the
    /// signal publishes `disconnected`, stops the services and drains the connection.
    ///
    /// The status carries the health ([`set_health`](Extension::set_health)); `run()` holds the extension,
    /// so tasks and handlers change it through a [`HealthHandle`] taken before.
    ///
    /// ```no_run
    /// # async fn demo() -> cirata_symphony::Result<()> {
    /// let mut ext = cirata_symphony::Extension::new("Hello World", "hello");
    /// ext.run().await
    /// # }
    /// ```
    pub async fn run(&mut self) -> Result<()> {
        self.connect().await?;
        let signal = lifecycle::shutdown_signal()?;
        self.run_until(signal).await
    }

    /// Like [`run`](Extension::run), but stops when `shutdown` completes instead of on a signal.
    ///
    /// ```no_run
    /// # async fn demo(mut ext: cirata_symphony::Extension) -> cirata_symphony::Result<()> {
    /// ext.run_until(tokio::time::sleep(std::time::Duration::from_secs(60))).await
    /// # }
    /// ```
    pub async fn run_until<F: Future<Output = ()>>(&mut self, shutdown: F) -> Result<()> {
        self.connect().await?;
        let run = Run {
            declarations: &self.declarations,
            registry: &self.registry,
            health: &self.health,
            partitioner: &self.partitioner,
            session: &mut self.session,
        };
        run.until(shutdown).await
    }

    /// Sets this instance's health (the `state` and `message` of its status, docs/protocol.md §5.3): stored,
    /// and published at once while the extension runs; see [`HealthHandle::set`]. Never fails. While
    /// `run()` holds the extension, use a [`HealthHandle`] (from [`health_handle`](Extension::health_handle)).
    ///
    /// ```no_run
    /// use cirata_symphony::{Extension, Health};
    /// # async fn demo() -> cirata_symphony::Result<()> {
    /// let mut ext = Extension::new("Catalog", "catalog");
    /// ext.set_health(Health::Warning, Some("disk 91% full")).await;
    /// ext.run().await
    /// # }
    /// ```
    pub async fn set_health(&self, health: Health, message: Option<&str>) {
        self.health.set(health, message).await;
    }

    /// The health set last and its message ([`Health::Ok`] and `None` until one is set).
    ///
    /// ```
    /// use cirata_symphony::{Extension, Health};
    /// assert_eq!(Extension::new("Catalog", "catalog").health(), (Health::Ok, None));
    /// ```
    pub fn health(&self) -> (Health, Option<String>) {
        self.health.get()
    }

    /// A cloneable handle that sets this extension's health from tasks and endpoint handlers while
    /// [`run`](Extension::run) holds the extension. See [`HealthHandle`].
    ///
    /// ```
    /// use cirata_symphony::{Extension, Health};
    /// let ext = Extension::new("Catalog", "catalog");
    /// let handle = ext.health_handle();
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// handle.set(Health::Error, Some("database unreachable")).await;
    /// # });
    /// assert_eq!(ext.health(), (Health::Error, Some("database unreachable".to_owned())));
    /// ```
    pub fn health_handle(&self) -> HealthHandle {
        self.health.clone()
    }
}

#[cfg(test)]
mod tests;

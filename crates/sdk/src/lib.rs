//! The Rust SDK for Symphony extensions: declare capabilities, UI, buckets and endpoints; the SDK finds a
//! token, provisions a permanent key from a registration token, connects to NATS with the key's JWT,
//! registers the manifest, heartbeats, and shuts down gracefully.
//!
//! It mirrors the Python SDK (`cirata.symphony`); the wire contract is `docs/protocol.md`, whose types live
//! in [`protocol`]. Unix only (signals, file modes).
//!
//! ```no_run
//! use cirata_symphony::{BucketConfig, Extension, HandlerError, Request, ServiceConfig};
//!
//! #[tokio::main]
//! async fn main() -> cirata_symphony::Result<()> {
//!     let mut ext = Extension::new("Catalog", "catalog").with_description("Manages a catalog of items");
//!     ext.add_capability("sub", "extensions.catalog.list", "List items")?;
//!     ext.add_bucket(BucketConfig::new("catalog_items").description("Catalog item storage"))?;
//!     ext.connect().await?;
//!     let svc = ext
//!         .add_endpoints(ServiceConfig::new("catalog", "1.0.0").description("Catalog service"))
//!         .await?;
//!     let group = svc.add_group("cirata.extensions.catalog");
//!     group
//!         .add_endpoint("list", |_req: Request| async move { Ok::<_, HandlerError>("[]") })
//!         .await?;
//!     ext.run().await
//! }
//! ```
//!
//! **Health.** An instance reports `ok`, `warning` or `error` with an optional message (docs/protocol.md
//! §5.3): [`Extension::set_health`] stores it and, while the extension runs, publishes the status at once;
//! every later heartbeat carries it. [`run`](Extension::run) takes the extension mutably, so tasks and
//! endpoint handlers change the health through a cloneable [`HealthHandle`] taken with
//! [`Extension::health_handle`] before `run()`:
//!
//! ```no_run
//! use cirata_symphony::{Extension, Health};
//!
//! # async fn demo() -> cirata_symphony::Result<()> {
//! let mut ext = Extension::new("Catalog", "catalog");
//! let health = ext.health_handle();
//! tokio::spawn(async move {
//!     health.set(Health::Warning, Some("disk 91% full")).await;
//! });
//! ext.run().await
//! # }
//! ```
//!
//! **Several instances.** Every process started from one token is an instance of its own
//! ([`Extension::instance_id`], docs/protocol.md §12). Endpoints are load-balanced over all instances;
//! [`Extension::add_instance_handler`] serves requests addressed to one instance (the gateway's
//! `?instance=<id>`), [`Extension::add_command_handler`] commands that exactly one instance handles, and
//! [`Extension::enable_work_partitioning`] spreads work items over the instances so that no two own the
//! same one ([`WorkPartitioner`]):
//!
//! ```no_run
//! use cirata_symphony::{Extension, HandlerError, Request};
//!
//! # async fn demo() -> cirata_symphony::Result<()> {
//! let mut ext = Extension::new("Replicator", "replicator");
//! ext.enable_work_partitioning(|total, mine| {
//!     tracing::info!("Rebalanced: {total} instances active, I own {mine} items");
//! });
//! let partitioner = ext.work_partitioner();
//! let work = partitioner.clone();
//! ext.add_instance_handler("local-status", move |_req: Request| {
//!     let items = work.my_item_count();
//!     async move { Ok::<_, HandlerError>(format!(r#"{{"work_items": {items}}}"#)) }
//! })?;
//! tokio::spawn(async move {
//!     for key in ["orders", "invoices"] {
//!         if partitioner.is_my_work(key) {
//!             // process it
//!         }
//!     }
//! });
//! ext.run().await
//! # }
//! ```
//!
//! Environment: `SYMPHONY_TOKEN`, `REGISTRATION_TOKEN`, `SYMPHONY_ADDRESS` (overrides the address in the
//! token), `CIRATA_CONFIG_DIR` (token files, default `~/.config/cirata`), `SYMPHONY_CREDENTIAL_STORE=file`
//! (skip the OS credential store).

mod bootstrap;
mod client;
mod credentials;
mod declare;
mod error;
mod extension;
mod handler;
mod health;
mod lifecycle;
mod listener;
mod partition;
mod service;
mod session;

pub use client::{Client, DEFAULT_REQUEST_TIMEOUT};
pub use declare::{BucketConfig, Route, SDK_NAME};
pub use error::{Error, Result, TokenSource};
pub use extension::Extension;
pub use handler::{HandlerError, Request};
pub use health::{Health, HealthHandle};
pub use partition::WorkPartitioner;
pub use service::{Group, Service, ServiceConfig};

/// The NATS client this SDK is built on, for types such as `async_nats::Message` and `jetstream::kv::Store`.
pub use async_nats;
/// The wire contract: subjects, payloads, error codes.
pub use symphony_protocol as protocol;

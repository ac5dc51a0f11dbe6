//! The Symphony wire contract: subjects, payloads, the token codec, NATS JWTs and the capability rules.
//!
//! Everything here is pure (no I/O) and shared by the server, the Rust SDK and the client kit.
//! `docs/protocol.md` is the prose version of this crate; the two change together.

pub mod address;
pub mod caller;
pub mod capability;
pub mod error;
#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz;
pub mod jwt;
pub mod license;
pub mod manifest;
pub mod messages;
pub mod names;
pub mod partition;
pub mod private_file;
pub mod rbac;
pub mod rest;
pub mod routes;
pub mod subjects;
pub mod time;
pub mod token;

#[cfg(test)]
mod typescript;

pub use address::{Address, AddressError};
pub use capability::{Capability, CapabilityKind, Permissions};
pub use error::{ErrorBody, ErrorCode, ErrorReply, SourceLocation};
pub use manifest::Manifest;
pub use token::{KeyId, Token, TokenError};

/// Version of the wire contract (manifest and NATS payloads).
pub const PROTOCOL_VERSION: u32 = 1;

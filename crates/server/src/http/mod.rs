//! The HTTP vocabulary every feature router speaks: the JSON error type, the extractors that say who
//! is calling, ETag validators, and the middleware. Feature routers (`api`, `gateway`, `ui`,
//! `libraries`) are built on it; `app` assembles them with the shared state.

pub mod error;
pub mod etag;
pub mod extract;
pub mod middleware;
pub mod typed;

pub use error::ApiError;
pub use extract::{AnyKey, Authenticated, GatewayCaller, SESSION_COOKIE, SandboxListener};

use symphony_protocol::{ErrorBody, ErrorCode};

/// The JSON 404 of every path nobody answers.
pub async fn not_found() -> ApiError {
    ErrorBody::new(ErrorCode::NotFound, "no such path").into()
}

//! The one mapping of an unexpected failure to the wire: log the cause, answer `internal`.

use symphony_protocol::{ErrorBody, ErrorCode};

/// Logs `e` and returns the `internal` error body (the cause stays in the server log).
pub fn internal(e: impl std::fmt::Display) -> ErrorBody {
    tracing::error!(error = %e, "internal error");
    ErrorBody::new(ErrorCode::Internal, "internal error; see the server log")
}

//! Stable error codes and the JSON error body used over HTTP and NATS (docs/protocol.md §2, §5).

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($variant:ident => $wire:literal,)*) => {
        /// Every error the platform reports has one of these stable codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $(#[serde(rename = $wire)] $variant,)*
        }

        impl ErrorCode {
            /// The snake_case wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                }
            }
        }
    };
}

error_codes! {
    MissingToken => "missing_token",
    InvalidToken => "invalid_token",
    TokenExpired => "token_expired",
    TokenRevoked => "token_revoked",
    TokenUsed => "token_used",
    WrongTokenKind => "wrong_token_kind",
    ScopedToken => "scoped_token",
    InvalidPrefix => "invalid_prefix",
    PrefixOwned => "prefix_owned",
    PrefixMismatch => "prefix_mismatch",
    InvalidCapability => "invalid_capability",
    CapabilityForbidden => "capability_forbidden",
    InvalidBucket => "invalid_bucket",
    UnsupportedManifestVersion => "unsupported_manifest_version",
    InvalidManifest => "invalid_manifest",
    ManifestTooLarge => "manifest_too_large",
    InvalidRequest => "invalid_request",
    InvalidAddress => "invalid_address",
    ExtensionNotFound => "extension_not_found",
    NotFound => "not_found",
    NotReady => "not_ready",
    NatsUnavailable => "nats_unavailable",
    HandlerFailed => "handler_failed",
    InvalidOpenapi => "invalid_openapi",
    InvalidEndpoint => "invalid_endpoint",
    RouteNotFound => "route_not_found",
    MethodNotAllowed => "method_not_allowed",
    BodyTooLarge => "body_too_large",
    InvalidPath => "invalid_path",
    Forbidden => "forbidden",
    NoResponders => "no_responders",
    GatewayTimeout => "gateway_timeout",
    BadExtensionResponse => "bad_extension_response",
    InvalidCredentials => "invalid_credentials",
    TooManyAttempts => "too_many_attempts",
    SessionExpired => "session_expired",
    UserNotFound => "user_not_found",
    RoleNotFound => "role_not_found",
    KeyNotFound => "key_not_found",
    AlreadyExists => "already_exists",
    ResourceNotFound => "resource_not_found",
    NotAModule => "not_a_module",
    JsxSyntaxError => "jsx_syntax_error",
    InvalidCallerSignature => "invalid_caller_signature",
    ModuleTooComplex => "module_too_complex",
    InstanceNotFound => "instance_not_found",
    CommandNotFound => "command_not_found",
    FencedOut => "fenced_out",
    NotMyWork => "not_my_work",
    InvalidLicense => "invalid_license",
    UnknownVendorKey => "unknown_vendor_key",
    BadLicenseSignature => "bad_license_signature",
    LicenseOtherDeployment => "license_other_deployment",
    LicenseNotFound => "license_not_found",
    Internal => "internal",
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            MissingToken
            | InvalidToken
            | TokenExpired
            | TokenRevoked
            | TokenUsed
            | InvalidCredentials
            | SessionExpired
            | InvalidCallerSignature => 401,
            TooManyAttempts => 429,
            UserNotFound | RoleNotFound | KeyNotFound | LicenseNotFound => 404,
            AlreadyExists => 409,
            WrongTokenKind | ScopedToken | CapabilityForbidden | PrefixMismatch | Forbidden => 403,
            ExtensionNotFound | NotFound | RouteNotFound | ResourceNotFound | InstanceNotFound
            | CommandNotFound => 404,
            FencedOut | NotMyWork => 409,
            NotAModule => 415,
            JsxSyntaxError | ModuleTooComplex => 422,
            MethodNotAllowed => 405,
            BodyTooLarge => 413,
            PrefixOwned => 409,
            ManifestTooLarge => 413,
            InvalidPrefix
            | InvalidCapability
            | InvalidBucket
            | UnsupportedManifestVersion
            | InvalidManifest
            | InvalidRequest
            | InvalidAddress
            | InvalidOpenapi
            | InvalidEndpoint
            | InvalidPath
            | InvalidLicense
            | UnknownVendorKey
            | BadLicenseSignature
            | LicenseOtherDeployment => 400,
            NotReady | NatsUnavailable | NoResponders => 503,
            GatewayTimeout => 504,
            HandlerFailed | BadExtensionResponse => 502,
            Internal => 500,
        }
    }
}

/// `{"code", "message", "hint"}`: the HTTP error body and the `error` member of a failed NATS reply.
/// Errors about a place in a source text (`jsx_syntax_error`) add `location`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
}

/// Where in a source text an error is: `file` is the resource URI (`ui://<prefix>/<name>`); `line` and
/// `column` are 1-based, the column counted in characters (docs/protocol.md "UI resources").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
            hint: None,
            location: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_location(mut self, location: SourceLocation) -> Self {
        self.location = Some(location);
        self
    }
}

/// A failed NATS reply: `{"error": ErrorBody}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub error: ErrorBody,
}

/// Decodes a NATS reply that is either `T` or `{"error": …}`.
pub fn decode_reply<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, ErrorBody> {
    if let Ok(ErrorReply { error }) = serde_json::from_slice::<ErrorReply>(payload) {
        return Err(error);
    }
    serde_json::from_slice(payload).map_err(|e| {
        ErrorBody::new(
            ErrorCode::InvalidRequest,
            format!("unexpected reply from Symphony: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_on_the_wire() {
        let body = ErrorBody::new(ErrorCode::UnsupportedManifestVersion, "v9").with_hint("use 1");
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(
            json,
            r#"{"code":"unsupported_manifest_version","message":"v9","hint":"use 1"}"#
        );
        assert_eq!(ErrorCode::TokenUsed.as_str(), "token_used");
    }

    #[test]
    fn a_location_is_written_only_when_there_is_one() {
        let body = ErrorBody::new(ErrorCode::JsxSyntaxError, "Unexpected token").with_location(
            SourceLocation {
                file: "ui://catalog/home".into(),
                line: 3,
                column: 7,
            },
        );
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "jsx_syntax_error", "message": "Unexpected token",
                "location": {"file": "ui://catalog/home", "line": 3, "column": 7}})
        );
        let back: ErrorBody = serde_json::from_value(json).unwrap();
        assert_eq!(back, body);
        assert_eq!(ErrorCode::JsxSyntaxError.http_status(), 422);
        assert_eq!(ErrorCode::NotAModule.http_status(), 415);
        assert_eq!(ErrorCode::ResourceNotFound.http_status(), 404);
        let plain = serde_json::to_string(&ErrorBody::new(ErrorCode::NotFound, "x")).unwrap();
        assert!(!plain.contains("location"), "{plain}");
    }

    #[test]
    fn decode_reply_tells_errors_from_values() {
        let err = decode_reply::<serde_json::Value>(
            br#"{"error":{"code":"invalid_prefix","message":"x"}}"#,
        );
        assert_eq!(err.unwrap_err().code, ErrorCode::InvalidPrefix);
        let ok = decode_reply::<serde_json::Value>(br#"{"replicas":3}"#).unwrap();
        assert_eq!(ok["replicas"], 3);
        assert_eq!(
            decode_reply::<u32>(b"nope").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }
}

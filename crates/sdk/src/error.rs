//! The SDK's one error type: every message says what went wrong and what to do about it.

use std::fmt;
use std::time::Duration;

use symphony_protocol::{AddressError, ErrorBody, TokenError};

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a token came from, so errors can name it without printing it.
///
/// ```
/// use cirata_symphony::TokenSource;
/// assert_eq!(TokenSource::EnvSymphony.to_string(), "SYMPHONY_TOKEN");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenSource {
    /// Given to [`Extension::with_token`](crate::Extension::with_token).
    Explicit,
    /// Read from the OS credential store or the token file of an earlier provisioning run.
    Stored,
    /// The `SYMPHONY_TOKEN` environment variable.
    EnvSymphony,
    /// The `REGISTRATION_TOKEN` environment variable.
    EnvRegistration,
    /// The permanent token Symphony issued when this process provisioned its key.
    Provisioned,
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenSource::Explicit => "the token given to with_token()",
            TokenSource::Stored => "the stored credential",
            TokenSource::EnvSymphony => "SYMPHONY_TOKEN",
            TokenSource::EnvRegistration => "REGISTRATION_TOKEN",
            TokenSource::Provisioned => "the newly provisioned token",
        })
    }
}

/// Renders `code: message (hint)` for an [`ErrorBody`].
pub(crate) fn describe(body: &ErrorBody) -> String {
    match &body.hint {
        Some(hint) => format!("{}: {} (hint: {hint})", body.code.as_str(), body.message),
        None => format!("{}: {}", body.code.as_str(), body.message),
    }
}

/// An error and its sources, `: `-separated (reqwest's own message omits the cause, e.g. "connection refused").
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

/// Everything that can go wrong in the SDK.
///
/// ```
/// use cirata_symphony::{Error, Extension};
/// let mut ext = Extension::new("Bad", "Not-A-Prefix");
/// let err = ext.add_capability("sub", "extensions.x", "x").unwrap_err();
/// assert!(matches!(err, Error::Invalid(_)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A declaration (name, prefix, capability, resource, route, bucket, …) breaks a rule of the contract.
    #[error("invalid extension definition: {}", describe(.0))]
    Invalid(ErrorBody),

    /// No token anywhere.
    #[error(
        "no Symphony token found: set SYMPHONY_TOKEN to an API key token, or set REGISTRATION_TOKEN to a \
         registration token created with `symphony token create --registration` (the extension then provisions \
         its own key and stores it for later runs)"
    )]
    NoToken,

    /// A token does not have the `<origin>.<key-id>.<secret>` shape.
    #[error(
        "{from} is not a valid Symphony token ({reason}); copy the whole token again or create a new one with \
         `symphony token create`"
    )]
    MalformedToken {
        /// Where the token came from.
        from: TokenSource,
        /// What is wrong with it.
        reason: TokenError,
    },

    /// `SYMPHONY_ADDRESS` (or a token's origin) is not a usable address.
    #[error("{0}; fix or unset SYMPHONY_ADDRESS")]
    InvalidAddress(#[from] AddressError),

    /// The HTTP leg could not be reached.
    #[error(
        "could not reach Symphony at {url}: {}; check that the server is running and reachable from here, \
         or set SYMPHONY_ADDRESS to the address it can be reached at",
        chain(source)
    )]
    Unreachable {
        /// The URL that was tried.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },

    /// Symphony refused a token (HTTP 4xx/5xx with a JSON error body).
    #[error("Symphony rejected {from} (HTTP {status}): {}", describe(body))]
    Rejected {
        /// Where the token came from.
        from: TokenSource,
        /// The HTTP status.
        status: u16,
        /// The server's error.
        body: ErrorBody,
    },

    /// A reply did not have the expected shape: SDK and server versions probably differ.
    #[error(
        "unexpected reply from {what}: {detail}; the Symphony server and this SDK may be of different versions"
    )]
    UnexpectedReply {
        /// Which exchange.
        what: String,
        /// What was wrong.
        detail: String,
    },

    /// The NATS connection could not be established.
    #[error(
        "could not connect to NATS at {urls}: {source}; check that Symphony's NATS port is reachable from here \
         (SYMPHONY_ADDRESS replaces the host of the NATS URLs)"
    )]
    Connect {
        /// The URLs that were tried.
        urls: String,
        /// The client error.
        source: async_nats::ConnectError,
    },

    /// The server refused to provision a permanent key from a registration token.
    #[error("provisioning a permanent key failed: {}", describe(.0))]
    Provision(ErrorBody),

    /// The server refused the manifest.
    #[error("registration was refused: {}", describe(.0))]
    Registration(ErrorBody),

    /// Nobody listens on the subject (or this key may not publish there).
    #[error(
        "no one answers on {subject}: the service is not running, or this key's capabilities do not allow the call"
    )]
    NoResponders {
        /// The request subject.
        subject: String,
    },

    /// No reply arrived in time.
    #[error(
        "no reply on {subject} within {timeout:?}: the service is slow or not allowed for this key; pass a longer \
         timeout with request_with_timeout()"
    )]
    Timeout {
        /// The request subject.
        subject: String,
        /// How long the SDK waited.
        timeout: Duration,
    },

    /// Any other request failure.
    #[error("request to {subject} failed: {source}")]
    Request {
        /// The request subject.
        subject: String,
        /// The client error.
        source: async_nats::RequestError,
    },

    /// A publish failed.
    #[error("publish to {subject} failed: {detail}")]
    Publish {
        /// The subject.
        subject: String,
        /// What went wrong.
        detail: String,
    },

    /// An operation needs the connection that [`Extension::connect`](crate::Extension::connect) makes.
    #[error("not connected: call `ext.connect().await?` (or `ext.run()`) before {what}")]
    NotConnected {
        /// The operation that needed a connection.
        what: &'static str,
    },

    /// Starting a micro service or endpoint failed.
    #[error("could not start service endpoint {name}: {detail}")]
    Service {
        /// Service or endpoint name.
        name: String,
        /// What went wrong.
        detail: String,
    },

    /// A key-value bucket could not be opened.
    #[error(
        "key-value bucket {bucket}: {detail}; declare it with add_bucket() so Symphony creates it and grants access"
    )]
    KeyValue {
        /// The bucket.
        bucket: String,
        /// What went wrong.
        detail: String,
    },

    /// A health state that is not `ok`, `warning` or `error` (from
    /// [`Health::from_str`](crate::Health)).
    #[error(
        "invalid health state {state:?}: an instance reports ok, warning or error (the SDK itself publishes \
         disconnected on shutdown)"
    )]
    InvalidHealth {
        /// The text that was refused.
        state: String,
    },

    /// The process signal handlers could not be installed.
    #[error("could not install the SIGINT/SIGTERM handlers: {0}")]
    Signal(#[source] std::io::Error),

    /// This instance does not own the work item now (code `not_my_work`, docs/protocol.md §12.4).
    #[error(
        "{key:?} is not this instance's work now: ask is_my_work() again on the next pass (ownership moves \
         when instances join or leave)"
    )]
    NotMyWork {
        /// The work item.
        key: String,
    },

    /// A fenced write found a newer owner's write (code `fenced_out`, docs/protocol.md §12.4).
    #[error(
        "the write of {key:?} in bucket {bucket} was fenced out: it carries fence {token}, the entry already \
         has {stored} from a later owner; drop this work item, another instance owns it now"
    )]
    FencedOut {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// This instance's fencing token.
        token: u64,
        /// The fence the entry carries.
        stored: u64,
    },

    /// Work partitioning could not start (its buckets could not be created or opened).
    #[error(
        "work partitioning could not start: {detail}; check the extension account's JetStream limits"
    )]
    Partition {
        /// What went wrong.
        detail: String,
    },
}

impl Error {
    /// The typed server error, when the failure came from Symphony.
    ///
    /// ```
    /// use cirata_symphony::Error;
    /// assert!(Error::NoToken.server_error().is_none());
    /// ```
    pub fn server_error(&self) -> Option<&ErrorBody> {
        match self {
            Error::Invalid(b) | Error::Provision(b) | Error::Registration(b) => Some(b),
            Error::Rejected { body, .. } => Some(body),
            _ => None,
        }
    }

    /// The stable code of the error, when it has one: the server's code for a failure that came from
    /// Symphony or a rule of the contract, `not_my_work` and `fenced_out` for work partitioning.
    ///
    /// ```
    /// use cirata_symphony::{Error, protocol::ErrorCode};
    /// let e = Error::NotMyWork { key: "orders".into() };
    /// assert_eq!(e.code(), Some(ErrorCode::NotMyWork));
    /// assert_eq!(e.code().unwrap().as_str(), "not_my_work");
    /// assert_eq!(Error::NoToken.code(), None);
    /// ```
    pub fn code(&self) -> Option<symphony_protocol::ErrorCode> {
        use symphony_protocol::ErrorCode;
        match self {
            Error::NotMyWork { .. } => Some(ErrorCode::NotMyWork),
            Error::FencedOut { .. } => Some(ErrorCode::FencedOut),
            other => other.server_error().map(|b| b.code),
        }
    }

    /// Maps an `async_nats` request error, keeping no-responders and timeouts apart.
    pub(crate) fn from_request(
        subject: &str,
        timeout: Duration,
        err: async_nats::RequestError,
    ) -> Error {
        use async_nats::RequestErrorKind;
        match err.kind() {
            RequestErrorKind::NoResponders => Error::NoResponders {
                subject: subject.to_owned(),
            },
            RequestErrorKind::TimedOut => Error::Timeout {
                subject: subject.to_owned(),
                timeout,
            },
            _ => Error::Request {
                subject: subject.to_owned(),
                source: err,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphony_protocol::ErrorCode;

    #[test]
    fn messages_carry_code_message_and_hint() {
        let e = Error::Registration(
            ErrorBody::new(ErrorCode::PrefixOwned, "prefix taken").with_hint("pick another"),
        );
        assert_eq!(
            e.to_string(),
            "registration was refused: prefix_owned: prefix taken (hint: pick another)"
        );
        assert!(Error::NoToken.to_string().contains("REGISTRATION_TOKEN"));
        assert!(
            Error::NoToken
                .to_string()
                .contains("symphony token create --registration")
        );
    }

    #[test]
    fn chains_name_every_cause_once() {
        let inner = std::io::Error::other("connection refused");
        let outer = std::io::Error::other(inner);
        assert_eq!(chain(&outer), "connection refused");
        #[derive(Debug, thiserror::Error)]
        #[error("sending failed")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("connection refused"));
        assert_eq!(chain(&e), "sending failed: connection refused");
    }

    #[test]
    fn request_errors_keep_no_responders_and_timeouts_apart() {
        use async_nats::{RequestError, RequestErrorKind};
        let t = Duration::from_millis(500);
        let e = Error::from_request("a.b", t, RequestError::new(RequestErrorKind::NoResponders));
        assert!(matches!(e, Error::NoResponders { ref subject } if subject == "a.b"));
        let e = Error::from_request("a.b", t, RequestError::new(RequestErrorKind::TimedOut));
        assert!(matches!(e, Error::Timeout { timeout, .. } if timeout == t));
        let e = Error::from_request("a.b", t, RequestError::new(RequestErrorKind::Other));
        assert!(matches!(e, Error::Request { .. }));
    }
}

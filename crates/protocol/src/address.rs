//! `SYMPHONY_ADDRESS` and token origins: where the HTTP leg goes and which host the NATS leg uses
//! (docs/protocol.md §1.1).

use url::Url;

/// A bad `SYMPHONY_ADDRESS` or token origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid address {value:?}: {reason} (expected a host, host:port, or http(s)://host[:port])"
)]
pub struct AddressError {
    pub value: String,
    pub reason: &'static str,
}

/// Where an SDK talks to Symphony.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Base URL of the HTTP leg, without a trailing slash (`https://host:8443`).
    pub http_base: String,
    /// When set, the host that replaces the host of every NATS URL in the API key.
    pub nats_host: Option<String>,
}

impl Address {
    /// True when the HTTP leg is plain `http` (the token travels unencrypted: SDKs warn).
    pub fn is_plaintext(&self) -> bool {
        self.http_base.starts_with("http://")
    }

    /// Resolves the address from the token's origin and an optional `SYMPHONY_ADDRESS` override.
    pub fn resolve(origin: &str, override_value: Option<&str>) -> Result<Address, AddressError> {
        match override_value.map(str::trim).filter(|v| !v.is_empty()) {
            None => {
                let url = parse_url(origin)?;
                Ok(Address {
                    http_base: base_of(&url),
                    nats_host: None,
                })
            }
            Some(value) => parse_override(value),
        }
    }

    /// Applies `nats_host` to a NATS URL from the API key, keeping its scheme and port.
    pub fn nats_url(&self, url_from_key: &str) -> String {
        let Some(host) = &self.nats_host else {
            return url_from_key.to_owned();
        };
        let Ok(mut url) = Url::parse(url_from_key) else {
            return url_from_key.to_owned();
        };
        if url.set_host(Some(host)).is_err() {
            return url_from_key.to_owned();
        }
        url.as_str().trim_end_matches('/').to_owned()
    }
}

fn err(value: &str, reason: &'static str) -> AddressError {
    AddressError {
        value: value.to_owned(),
        reason,
    }
}

fn parse_url(value: &str) -> Result<Url, AddressError> {
    let url = Url::parse(value).map_err(|_| err(value, "not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(err(value, "only http and https are allowed"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err(value, "the host is empty"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err(value, "user info is not allowed"));
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(err(value, "a path is not allowed"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(err(value, "a query or fragment is not allowed"));
    }
    Ok(url)
}

fn base_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{}://{}:{}", url.scheme(), host, p),
        None => format!("{}://{}", url.scheme(), host),
    }
}

fn parse_override(value: &str) -> Result<Address, AddressError> {
    if value.contains("://") {
        let url = parse_url(value)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        return Ok(Address {
            http_base: base_of(&url),
            nats_host: Some(host),
        });
    }
    // Bare host or host:port: HTTPS. Parse through the URL parser so IPv6 and IDNs are checked.
    let url = parse_url(&format!("https://{value}")).map_err(|e| err(value, e.reason))?;
    let host = url.host_str().unwrap_or_default().to_owned();
    if value.ends_with(':') {
        return Err(err(value, "the port is empty"));
    }
    Ok(Address {
        http_base: base_of(&url),
        nats_host: Some(host),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_alone_is_used_as_is() {
        let a = Address::resolve("http://localhost:8080", None).unwrap();
        assert_eq!(a.http_base, "http://localhost:8080");
        assert_eq!(a.nats_host, None);
        assert!(a.is_plaintext());
        assert_eq!(a.nats_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    }

    #[test]
    fn bare_host_means_https_443_and_replaces_the_nats_host() {
        let a = Address::resolve("http://internal:8080", Some("symphony.example.com")).unwrap();
        assert_eq!(a.http_base, "https://symphony.example.com");
        assert!(!a.is_plaintext());
        assert_eq!(
            a.nats_url("nats://internal:4222"),
            "nats://symphony.example.com:4222"
        );
    }

    #[test]
    fn host_port_sets_the_https_port_only() {
        let a = Address::resolve("http://internal:8080", Some("lb.example.com:8443")).unwrap();
        assert_eq!(a.http_base, "https://lb.example.com:8443");
        assert_eq!(
            a.nats_url("nats://internal:4222"),
            "nats://lb.example.com:4222"
        );
    }

    #[test]
    fn full_url_keeps_scheme_and_port_for_http_only() {
        let a = Address::resolve("https://internal", Some("http://127.0.0.1:9090")).unwrap();
        assert_eq!(a.http_base, "http://127.0.0.1:9090");
        assert!(a.is_plaintext());
        assert_eq!(a.nats_url("nats://internal:4222"), "nats://127.0.0.1:4222");
    }

    #[test]
    fn ipv6_in_brackets_works() {
        let a = Address::resolve("http://x", Some("[::1]:8080")).unwrap();
        assert_eq!(a.http_base, "https://[::1]:8080");
        assert_eq!(a.nats_url("nats://x:4222"), "nats://[::1]:4222");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        for bad in [
            "ftp://x",
            "http://",
            "http://x/path",
            "http://x?q=1",
            "host:notaport",
            "host:",
            "a b",
            "http://u:p@h",
        ] {
            let e = Address::resolve("http://ok:1", Some(bad)).unwrap_err();
            assert!(e.to_string().contains("invalid address"), "{bad}: {e}");
        }
    }

    #[test]
    fn blank_override_is_ignored() {
        let a = Address::resolve("http://ok:1", Some("  ")).unwrap();
        assert_eq!(a.http_base, "http://ok:1");
    }
}

//! The nats-server config file: [`NatsConfig`], [`render_config`] and the quoting they need.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::identity::Identity;
use crate::tls::TlsFiles;

/// Settings of the embedded nats-server, turned into a config file by [`render_config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// `server_name`; must be unique within a cluster.
    pub server_name: String,
    /// Interface for the client and websocket listeners (e.g. `127.0.0.1`).
    pub host: String,
    /// Port for NATS clients.
    pub client_port: u16,
    /// Port for the websocket listener (browsers), plain `ws://` (no TLS).
    pub ws_port: u16,
    /// The operator JWT, inlined into the config.
    pub operator_jwt: String,
    /// Public key (`A...`) of the system account; the same as the operator JWT's `system_account`.
    pub system_account: String,
    /// JetStream store directory (nats-server appends `jetstream/` itself).
    pub store_dir: PathBuf,
    /// Directory of the `full` account resolver (`<pubkey>.jwt` files).
    pub resolver_dir: PathBuf,
    /// Largest message payload in bytes.
    pub max_payload: u32,
    /// Cluster settings when this node is part of a cluster.
    pub cluster: Option<ClusterConfig>,
    /// TLS on the client and websocket listeners and, in a cluster, on the routes (mutual TLS).
    pub tls: Option<TlsFiles>,
}

/// The `cluster` block of a node in a multi-node deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Cluster name; the same on every node.
    pub name: String,
    /// Interface for the route listener.
    pub host: String,
    /// Port for the route listener.
    pub port: u16,
    /// Seed routes, as `nats-route://host:port` URLs (without credentials: the rendered config adds
    /// [`ClusterConfig::credentials`] to each).
    pub routes: Vec<String>,
    /// What every route must present, derived from the instance identity by
    /// [`RouteCredentials::derived`] (`serve::nats_config` sets it).
    pub credentials: RouteCredentials,
}

/// The user and password every route connection of the cluster presents and requires: nodes made
/// from the same identity agree without configuration, a node without it is refused.
///
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RouteCredentials {
    pub user: String,
    pub password: String,
}

impl RouteCredentials {
    /// Purposes of [`Identity::derive`]; they contain ':' so they never equal a key id.
    const USER_PURPOSE: &str = "route:user";
    const PASSWORD_PURPOSE: &str = "route:password";

    /// The credentials of `identity`'s cluster: `route-<16 hex>` and 64 hex characters (256 bits),
    /// both safe in a URL's userinfo without escaping.
    pub fn derived(identity: &Identity) -> RouteCredentials {
        let user = identity.derive(Self::USER_PURPOSE);
        RouteCredentials {
            user: format!("route-{}", data_encoding::HEXLOWER.encode(&user[..8])),
            password: data_encoding::HEXLOWER.encode(&identity.derive(Self::PASSWORD_PURPOSE)),
        }
    }

    /// `route` (`nats-route://host:port`) with these credentials as its userinfo. A route that
    /// already carries credentials is refused: every route of the cluster uses these.
    pub fn route_url(&self, route: &str) -> anyhow::Result<String> {
        let mut url = url::Url::parse(route)
            .with_context(|| format!("route {route:?} is not a URL like nats-route://host:6222"))?;
        let Some(host) = url.host_str().map(str::to_owned) else {
            anyhow::bail!("route {route:?} has no host (expected nats-route://host:6222)");
        };
        anyhow::ensure!(
            url.username().is_empty() && url.password().is_none(),
            "route to {host} carries credentials; give routes without them (symphony adds the \
             cluster's own, derived from the identity)"
        );
        url.set_username(&self.user)
            .and_then(|()| url.set_password(Some(&self.password)))
            .map_err(|()| anyhow::anyhow!("route to {host} cannot carry credentials"))?;
        Ok(url.into())
    }
}

impl std::fmt::Debug for RouteCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Renders the nats-server config for `cfg`: operator mode with the `full` resolver, JetStream,
/// websocket, `max_payload`, and a `cluster` block when `cfg.cluster` is set.
///
/// The cluster block requires [`ClusterConfig::credentials`] of every route (`authorization`) and
/// puts them into every seed route; nats-server presents them to the routes it discovers too. With
/// `cfg.tls` the routes also run TLS with the same certificate, which nats-server makes mutual:
/// each node verifies the other's certificate against `ca_file` (else the system roots) and the
/// route's host name, so the certificate must allow client authentication too.
///
/// Every string is double-quoted and escaped, so paths with spaces, quotes or `$` are safe
/// (nats-server does not expand variables inside quoted strings). Fails on a route that is not a
/// URL with a host or that carries credentials of its own.
pub fn render_config(cfg: &NatsConfig) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line("# Generated by symphony on every start; edits are overwritten.".into());
    line(format!("server_name: {}", quote(&cfg.server_name)));
    line(format!(
        "listen: {}",
        quote(&host_port(&cfg.host, cfg.client_port))
    ));
    line(format!("max_payload: {}", cfg.max_payload));
    if let Some(tls) = &cfg.tls {
        line(format!(
            "tls {{ cert_file: {}, key_file: {} }}",
            quote_path(&tls.cert),
            quote_path(&tls.key)
        ));
    }
    line(String::new());
    line(
        "# Decentralized (operator-mode) JWT auth; Symphony pushes account JWTs at run time."
            .into(),
    );
    line(format!("operator: {}", quote(&cfg.operator_jwt)));
    line(format!("system_account: {}", quote(&cfg.system_account)));
    line("resolver: {".into());
    line("  type: full".into());
    line(format!("  dir: {}", quote_path(&cfg.resolver_dir)));
    line("  allow_delete: false".into());
    line("  interval: \"2m\"".into());
    line("}".into());
    line(String::new());
    line("jetstream {".into());
    line(format!("  store_dir: {}", quote_path(&cfg.store_dir)));
    line("}".into());
    line(String::new());
    line("websocket {".into());
    line(format!("  host: {}", quote(&cfg.host)));
    line(format!("  port: {}", cfg.ws_port));
    match &cfg.tls {
        Some(tls) => line(format!(
            "  tls {{ cert_file: {}, key_file: {} }}",
            quote_path(&tls.cert),
            quote_path(&tls.key)
        )),
        None => line("  no_tls: true".into()),
    }
    line("}".into());
    if let Some(cluster) = &cfg.cluster {
        line(String::new());
        line("cluster {".into());
        line(format!("  name: {}", quote(&cluster.name)));
        line(format!(
            "  listen: {}",
            quote(&host_port(&cluster.host, cluster.port))
        ));
        let credentials = &cluster.credentials;
        anyhow::ensure!(
            !credentials.user.is_empty() && !credentials.password.is_empty(),
            "the cluster's route credentials are not set"
        );
        line("  authorization {".into());
        line(format!("    user: {}", quote(&credentials.user)));
        line(format!("    password: {}", quote(&credentials.password)));
        line("  }".into());
        if let Some(tls) = &cfg.tls {
            // nats-server always verifies route certificates, both ways.
            line("  tls {".into());
            line(format!("    cert_file: {}", quote_path(&tls.cert)));
            line(format!("    key_file: {}", quote_path(&tls.key)));
            if let Some(ca) = &tls.ca {
                line(format!("    ca_file: {}", quote_path(ca)));
            }
            line("  }".into());
        }
        if cluster.routes.is_empty() {
            line("  routes: []".into());
        } else {
            line("  routes: [".into());
            for route in &cluster.routes {
                line(format!("    {}", quote(&credentials.route_url(route)?)));
            }
            line("  ]".into());
        }
        line("}".into());
    }
    Ok(out)
}

/// `host:port`, with brackets around an IPv6 literal.
pub(super) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A double-quoted nats-server config string. The config lexer accepts the escapes `\"`, `\\`,
/// `\t`, `\n`, `\r` and `\xXX`; everything else (including non-ASCII UTF-8) is taken literally.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(super) fn quote_path(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_config() -> NatsConfig {
        NatsConfig {
            server_name: "symphony-1".into(),
            host: "127.0.0.1".into(),
            client_port: 4222,
            ws_port: 9222,
            operator_jwt: "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJPQUJDIn0.c2ln".into(),
            system_account: "ASYSTEM".into(),
            store_dir: PathBuf::from("/data dir/js"),
            resolver_dir: PathBuf::from("/data dir/jwt"),
            max_payload: 8 * 1024 * 1024,
            cluster: None,
            tls: None,
        }
    }

    fn credentials() -> RouteCredentials {
        RouteCredentials {
            user: "route-0123456789abcdef".into(),
            password: "s3cret".into(),
        }
    }

    fn cluster() -> ClusterConfig {
        ClusterConfig {
            name: "symphony".into(),
            host: "10.0.0.1".into(),
            port: 6222,
            routes: vec![
                "nats-route://10.0.0.2:6222".into(),
                "nats-route://[fd00::3]:6222".into(),
            ],
            credentials: credentials(),
        }
    }

    fn tls() -> TlsFiles {
        TlsFiles {
            cert: PathBuf::from("/tls/server.pem"),
            key: PathBuf::from("/tls/server-key.pem"),
            ca: Some(PathBuf::from("/tls/ca.pem")),
        }
    }

    #[test]
    fn render_config_has_operator_resolver_jetstream_and_websocket() {
        let text = render_config(&sample_config()).unwrap();
        for expected in [
            "server_name: \"symphony-1\"\n",
            "listen: \"127.0.0.1:4222\"\n",
            "max_payload: 8388608\n",
            "operator: \"eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJPQUJDIn0.c2ln\"\n",
            "system_account: \"ASYSTEM\"\n",
            "resolver: {\n  type: full\n  dir: \"/data dir/jwt\"\n  allow_delete: false\n  interval: \"2m\"\n}\n",
            "jetstream {\n  store_dir: \"/data dir/js\"\n}\n",
            "websocket {\n  host: \"127.0.0.1\"\n  port: 9222\n  no_tls: true\n}\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(
            !text.contains("cluster"),
            "no cluster block expected:\n{text}"
        );
        assert!(!text.contains("tls {"), "no TLS expected:\n{text}");
    }

    #[test]
    fn the_cluster_block_requires_the_route_credentials_and_every_seed_route_carries_them() {
        let mut cfg = sample_config();
        cfg.cluster = Some(cluster());
        let text = render_config(&cfg).unwrap();
        assert!(
            text.contains(
                "cluster {\n  name: \"symphony\"\n  listen: \"10.0.0.1:6222\"\n  \
                 authorization {\n    user: \"route-0123456789abcdef\"\n    password: \"s3cret\"\n  }\n  \
                 routes: [\n    \"nats-route://route-0123456789abcdef:s3cret@10.0.0.2:6222\"\n    \
                 \"nats-route://route-0123456789abcdef:s3cret@[fd00::3]:6222\"\n  ]\n}\n"
            ),
            "{text}"
        );
        assert!(!text.contains("tls {"), "no TLS expected:\n{text}");

        // A seed node has no routes, but still requires the credentials of the nodes that join.
        cfg.cluster.as_mut().unwrap().routes.clear();
        let text = render_config(&cfg).unwrap();
        assert!(text.contains("  authorization {\n"), "{text}");
        assert!(text.contains("  routes: []\n"), "{text}");
    }

    #[test]
    fn a_cluster_without_credentials_or_with_bad_routes_is_not_rendered() {
        let mut cfg = sample_config();
        cfg.cluster = Some(ClusterConfig {
            credentials: RouteCredentials::default(),
            ..cluster()
        });
        let err = render_config(&cfg).unwrap_err().to_string();
        assert!(err.contains("credentials are not set"), "{err}");

        for (route, expected) in [
            ("10.0.0.2:6222", "is not a URL"),
            ("nats-route:6222", "has no host"),
            (
                "nats-route://someone:pw@10.0.0.2:6222",
                "carries credentials",
            ),
            ("nats-route://someone@10.0.0.2:6222", "carries credentials"),
        ] {
            cfg.cluster = Some(ClusterConfig {
                routes: vec![route.into()],
                ..cluster()
            });
            let err = format!("{:#}", render_config(&cfg).unwrap_err());
            assert!(err.contains(expected), "{route}: {err}");
            assert!(
                !err.contains("pw"),
                "{route}: the error repeats a password: {err}"
            );
        }
    }

    #[test]
    fn with_tls_the_routes_run_tls_with_the_same_certificate_and_ca() {
        let mut cfg = sample_config();
        cfg.tls = Some(tls());
        cfg.cluster = Some(cluster());
        let text = render_config(&cfg).unwrap();
        assert!(
            text.contains(
                "tls { cert_file: \"/tls/server.pem\", key_file: \"/tls/server-key.pem\" }\n"
            ),
            "client listener TLS: {text}"
        );
        assert!(
            text.contains(
                "  }\n  tls {\n    cert_file: \"/tls/server.pem\"\n    \
                 key_file: \"/tls/server-key.pem\"\n    ca_file: \"/tls/ca.pem\"\n  }\n  routes: [\n"
            ),
            "route TLS inside the cluster block: {text}"
        );

        // A publicly trusted certificate: no ca_file, nats-server verifies with the system roots.
        cfg.tls.as_mut().unwrap().ca = None;
        let text = render_config(&cfg).unwrap();
        assert!(
            text.contains(
                "  tls {\n    cert_file: \"/tls/server.pem\"\n    \
                 key_file: \"/tls/server-key.pem\"\n  }\n  routes: [\n"
            ),
            "{text}"
        );
        assert!(!text.contains("ca_file"), "{text}");
    }

    #[test]
    fn route_credentials_are_derived_from_the_identity_and_never_debug_printed() {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::load_or_create(dir.path()).unwrap();
        let creds = RouteCredentials::derived(&identity);
        // The same identity file (a copied data dir) derives the same credentials.
        let again = Identity::load(dir.path()).unwrap();
        assert_eq!(RouteCredentials::derived(&again), creds);
        assert!(
            creds.user.starts_with("route-") && creds.user.len() == 22,
            "{creds:?}"
        );
        assert_eq!(creds.password.len(), 64);
        assert!(creds.password.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(creds.password, creds.user);

        let other = tempfile::tempdir().unwrap();
        let other = RouteCredentials::derived(&Identity::load_or_create(other.path()).unwrap());
        assert_ne!(other.user, creds.user);
        assert_ne!(other.password, creds.password);

        let debug = format!("{creds:?}");
        assert!(!debug.contains(&creds.password), "{debug}");
        assert!(debug.contains(&creds.user), "{debug}");
    }

    #[test]
    fn quoting_escapes_what_the_config_lexer_needs() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(quote(r"C:\dir"), r#""C:\\dir""#);
        assert_eq!(quote("$HOME"), "\"$HOME\"");
        assert_eq!(quote("a\nb\tc\rd\u{1}"), "\"a\\nb\\tc\\rd\\x01\"");
        assert_eq!(quote("é"), "\"é\"");
    }

    #[test]
    fn host_port_brackets_ipv6() {
        assert_eq!(host_port("127.0.0.1", 1), "127.0.0.1:1");
        assert_eq!(host_port("::1", 2), "[::1]:2");
        assert_eq!(host_port("[::1]", 3), "[::1]:3");
        assert_eq!(host_port("localhost", 4), "localhost:4");
    }
}

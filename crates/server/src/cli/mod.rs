//! Command-line interface of the `symphony` binary.

pub mod admin;
pub mod credentials;
pub mod ext;
pub mod http_client;
pub mod license;
pub mod limits;
pub mod login;
pub mod remote;
pub mod terminal;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "symphony",
    version,
    about = "Symphony: an open extension platform on NATS"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the platform server (with an embedded nats-server unless --nats-url is given).
    Serve(Box<ServeArgs>),
    /// Create the instance identity in the data dir (done automatically by `serve`).
    Init(DataDirArg),
    /// Print a nats-server config that trusts this instance's identity (for external clusters).
    #[command(
        after_help = "The output is a secret: with --cluster-name it holds the cluster's \
        route password (derived from the identity). Write it to a file only nats-server's user \
        can read, e.g. `(umask 077; symphony nats-config … > nats.conf)` (mode 0600)."
    )]
    NatsConfig(NatsConfigArgs),
    /// Registration tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Registered extensions.
    #[command(subcommand)]
    Extension(ExtensionCommand),
    /// Licenses: sign them (vendors), upload, list and revoke them (administrators).
    #[command(subcommand)]
    License(license::LicenseCommand),
    /// Sign in to an instance and keep the session token (OS credential store, or a 0600 file).
    Login(LoginArgs),
    /// Stored sign-ins (never shows tokens).
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// The signed-in instance and user.
    Info(InfoArgs),
    /// Print the version (and the server's with --remote).
    Version(VersionArgs),
    /// Call an extension's REST API: its OpenAPI operations as commands
    /// (`symphony ext <prefix> <operation> --help`).
    Ext(ext::ExtArgs),
    /// Internal: the server runs its UI module transpiles in this child process (source on stdin,
    /// JSON outcome on stdout), so a module that exhausts the stack cannot take the server down.
    #[command(name = "transpile-module", hide = true)]
    TranspileModule,
}

/// Which stored sign-in a client command uses, and how it trusts the server.
#[derive(Args, Debug, Clone, Default)]
pub struct RemoteArgs {
    /// Stored sign-in to use (see `symphony credential list`). Default: the most recent login.
    #[arg(long, env = "SYMPHONY_CREDENTIAL")]
    pub credential: Option<String>,
    /// A PEM CA certificate to trust in addition to the system roots (for a private CA).
    #[arg(long, env = "SYMPHONY_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The instance: a host (https), host:port (https), or a full http(s)://host[:port] URL.
    #[arg(long, env = "SYMPHONY_ADDRESS")]
    pub address: String,
    /// User name (asked for when missing and stdin is a terminal).
    #[arg(long)]
    pub username: Option<String>,
    /// Read the password from stdin (for scripts) instead of asking for it.
    #[arg(long)]
    pub password_stdin: bool,
    /// Name to store the sign-in under. Default: the address host (with its port when given).
    #[arg(long)]
    pub name: Option<String>,
    /// Keep the token in the config file (mode 0600) instead of the OS credential store.
    #[arg(long)]
    pub insecure_storage: bool,
    /// A PEM CA certificate to trust in addition to the system roots; remembered with the sign-in.
    #[arg(long, env = "SYMPHONY_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum CredentialCommand {
    /// List stored sign-ins: name, address, user, storage.
    List(CredentialListArgs),
    /// Sign out and forget one stored sign-in.
    Remove(CredentialRemoveArgs),
    /// Sign out and forget every stored sign-in.
    Clear,
}

#[derive(Args, Debug)]
pub struct CredentialListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CredentialRemoveArgs {
    /// The name shown by `symphony credential list`.
    pub name: String,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Also ask the signed-in instance for its version.
    #[arg(long)]
    pub remote: bool,
    #[command(flatten)]
    pub remote_args: RemoteArgs,
}

#[derive(Args, Debug, Clone)]
pub struct DataDirArg {
    /// Data directory (identity, nats-server store, ports.json). Default: $XDG_DATA_HOME/symphony.
    #[arg(long, env = "SYMPHONY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DataDirArg {
    pub fn resolve(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            dirs::data_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("symphony")
        })
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 30s, 10m, 24h)"))
}

fn parse_session_idle(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    let (min, max) = crate::auth::sessions::IDLE_RANGE;
    if d < min || d > max {
        return Err("the session idle timeout must be between 5m and 8h".into());
    }
    Ok(d)
}

fn parse_session_lifetime(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    let (min, max) = crate::auth::sessions::LIFETIME_RANGE;
    if d < min || d > max {
        return Err("the session lifetime must be between 10m and 30d".into());
    }
    Ok(d)
}

fn parse_key_jwt_lifetime(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    let (min, max) = crate::auth::KEY_JWT_LIFETIME_RANGE;
    if d < min || d > max {
        return Err("the key JWT lifetime must be between 5m and 24h".into());
    }
    Ok(d)
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
    /// Interface for HTTP and the embedded nats-server's listeners. Use 0.0.0.0 to accept remote extensions.
    #[arg(long, default_value = "127.0.0.1", env = "SYMPHONY_HOST")]
    pub host: String,
    /// HTTP port (0 picks a free one).
    #[arg(long, default_value_t = 8080, env = "SYMPHONY_HTTP_PORT")]
    pub http: u16,
    /// Embedded nats-server client port (0 picks a free one).
    #[arg(long, default_value_t = 4222)]
    pub nats_port: u16,
    /// Embedded nats-server WebSocket port for browsers (0 picks a free one).
    #[arg(long, default_value_t = 9222)]
    pub ws_port: u16,
    /// Public base URL of this instance (goes into tokens). Default: http://<host>:<http port>.
    #[arg(long, env = "SYMPHONY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Port of the UI sandbox listener, the origin extension UI frames load from (0 picks a free
    /// one). Default: the HTTP port + 1 when it is free, else a free port.
    #[arg(long, env = "SYMPHONY_UI_SANDBOX_PORT")]
    pub ui_sandbox_port: Option<u16>,
    /// The UI sandbox origin as browsers reach it, when a proxy or another host name is in front of
    /// the sandbox listener (e.g. https://ui-sandbox.example.com). It must not be the shell's origin.
    /// Default: the scheme and host of the public URL with the sandbox port.
    #[arg(long, env = "SYMPHONY_UI_SANDBOX_ORIGIN")]
    pub ui_sandbox_origin: Option<String>,
    /// Use an existing NATS deployment (comma-separated URLs) instead of starting nats-server.
    /// It must trust this instance's operator (see `symphony nats-config`).
    #[arg(long, env = "SYMPHONY_NATS_URL")]
    pub nats_url: Option<String>,
    /// NATS URLs handed to extensions, when they differ from the ones the server uses.
    #[arg(long, env = "SYMPHONY_NATS_ADVERTISE")]
    pub nats_advertise: Option<String>,
    /// Path of the nats-server binary for the embedded mode.
    #[arg(long)]
    pub nats_server: Option<PathBuf>,
    /// How often extensions publish their status.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub heartbeat: Duration,
    /// How long a status entry lives without a heartbeat.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub status_ttl: Duration,
    /// Largest request body the REST gateway accepts, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub gateway_body_limit: usize,
    /// How long the REST gateway waits for an endpoint (routes may override with x-symphony-timeout).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub gateway_timeout: Duration,
    /// Upstream simple index for packages other than the SDK (its dependencies) at /pypi/simple/.
    #[arg(
        long,
        default_value = "https://pypi.org/simple",
        env = "SYMPHONY_PYPI_UPSTREAM"
    )]
    pub pypi_upstream: String,
    /// Sign-in sessions end after this long without use (5m to 8h).
    #[arg(long, default_value = "30m", value_parser = parse_session_idle)]
    pub session_idle: Duration,
    /// Test-only: an idle timeout below the 5m minimum (e.g. 2s), so tests need not wait.
    #[arg(long, hide = true, value_parser = parse_duration)]
    pub session_idle_for_tests: Option<Duration>,
    /// Sign-in sessions end this long after sign-in however much they are used (10m to 30d).
    #[arg(long, default_value = "12h", value_parser = parse_session_lifetime)]
    pub session_lifetime: Duration,
    /// Test-only: a session lifetime below the 10m minimum (e.g. 3s), so tests need not wait.
    #[arg(long, hide = true, value_parser = parse_duration)]
    pub session_lifetime_for_tests: Option<Duration>,
    /// How long the NATS JWT of an API key is valid (5m to 24h); the SDKs exchange the token again
    /// before it expires, and a revoked key's JWTs end by then at the latest.
    #[arg(long, default_value = "1h", value_parser = parse_key_jwt_lifetime)]
    pub key_jwt_lifetime: Duration,
    /// Test-only: a key JWT lifetime below the 5m minimum (e.g. 4s), so tests see renewals.
    #[arg(long, hide = true, value_parser = parse_duration)]
    pub key_jwt_lifetime_for_tests: Option<Duration>,
    /// Fixed replica count for buckets (default: 1 standalone, 3 on 3-4 nodes, 5 on 5+).
    #[arg(long)]
    pub replicas: Option<usize>,
    /// A license vendor's public key (O…) whose signed licenses this server accepts; repeat for
    /// several vendors. With none, every uploaded license is refused (`unknown_vendor_key`).
    #[arg(
        long = "license-vendor-key",
        env = "SYMPHONY_LICENSE_VENDOR_KEYS",
        value_delimiter = ','
    )]
    pub license_vendor_keys: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct NatsConfigArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    #[arg(long, default_value = "symphony")]
    pub server_name: String,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 4222)]
    pub port: u16,
    #[arg(long, default_value_t = 9222)]
    pub ws_port: u16,
    #[arg(long)]
    pub store_dir: PathBuf,
    #[arg(long)]
    pub resolver_dir: PathBuf,
    /// Cluster name (enables the cluster block, whose routes need credentials derived from the
    /// identity: nodes made from the same data dir agree, any other node is refused).
    #[arg(long)]
    pub cluster_name: Option<String>,
    #[arg(long, default_value_t = 6222)]
    pub cluster_port: u16,
    /// Seed routes, comma-separated `nats-route://host:port`, without credentials (they are added).
    #[arg(long, value_delimiter = ',')]
    pub routes: Vec<String>,
    /// The node's certificate (PEM): clients, WebSocket and routes then use TLS. Routes verify both
    /// ends, so in a cluster it must name every route host and allow client authentication too.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The CA the routes verify the other nodes' certificates with (default: the system roots).
    #[arg(long, requires = "tls_cert")]
    pub tls_ca: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a registration token as the signed-in user, or with --data-dir as that data dir's
    /// administrator (prints only the token).
    Create(TokenCreateArgs),
}

/// `token create` and `key create` act as the administrator of a local data dir when `--data-dir`
/// (or `SYMPHONY_DATA_DIR`) is given, and as the signed-in user otherwise.
#[derive(Args, Debug)]
pub struct TokenCreateArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// A single-use token an extension exchanges for its permanent key.
    #[arg(long, required = true)]
    pub registration: bool,
    #[arg(long, default_value = "registration")]
    pub name: String,
    /// Bind the token to an extension prefix: it then provisions only that prefix, and may add an
    /// instance to it even when someone else owns it (your roles must cover the prefix).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Lifetime, e.g. 24h.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub expires: Duration,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create an API key as the signed-in user, or with --data-dir as that data dir's administrator
    /// (prints only the token).
    Create(KeyCreateArgs),
    /// List the keys you may manage.
    List(KeyListArgs),
    /// Revoke a key: its token stops working and its connections are closed.
    Revoke(KeyRevokeArgs),
}

#[derive(Args, Debug)]
pub struct KeyCreateArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// `pub:<subject>` or `sub:<subject>`, e.g. sub:extensions.my_ext.> (repeatable).
    #[arg(long = "capability")]
    pub capabilities: Vec<String>,
    /// Bind the key to an extension prefix (needed for wildcards and buckets).
    #[arg(long)]
    pub prefix: Option<String>,
    /// A bucket of the prefix the key may use (repeatable).
    #[arg(long = "bucket")]
    pub buckets: Vec<String>,
    #[arg(long, default_value = "api-key")]
    pub name: String,
    /// Lifetime, e.g. 30d; default: does not expire.
    #[arg(long, value_parser = parse_duration)]
    pub expires: Option<Duration>,
    /// Free text kept with the key (what it is for, who runs it).
    #[arg(long, default_value = "")]
    pub notes: String,
}

#[derive(Args, Debug)]
pub struct KeyListArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct KeyRevokeArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The key id (the ID column of `symphony key list`).
    pub id: String,
}

#[derive(Subcommand, Debug)]
pub enum ExtensionCommand {
    /// List registered extensions and their state.
    List(ExtensionListArgs),
    /// An extension prefix's NATS account: owner, account key, when it was created, and its
    /// JetStream limits.
    Account(ExtensionAccountArgs),
    /// Change an extension's JetStream limits (administrators); values not given stay as they are.
    #[command(
        after_help = "Sizes take binary units (KiB, MiB, GiB, TiB; 1 KiB = 1024 bytes) or \
        plain bytes; every value also takes \"unlimited\" (or -1). The new limits apply at once. \
        An extension over a limit gets JetStream errors: \"resource limits exceeded for account\" \
        on writes, \"insufficient storage resources available\" or \"maximum number of streams \
        reached\" when it creates a bucket."
    )]
    Limits(ExtensionLimitsArgs),
}

#[derive(Args, Debug)]
pub struct ExtensionAccountArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The extension prefix (the PREFIX column of `symphony extension list`).
    pub prefix: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExtensionLimitsArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The extension prefix.
    pub prefix: String,
    /// File storage, e.g. 2GiB, 500MiB, 1073741824 or unlimited.
    #[arg(long, value_name = "SIZE", value_parser = limits::parse_size, allow_hyphen_values = true)]
    pub disk: Option<i64>,
    /// Memory storage, e.g. 128MiB or unlimited.
    #[arg(long, value_name = "SIZE", value_parser = limits::parse_size, allow_hyphen_values = true)]
    pub memory: Option<i64>,
    /// Number of streams (each KV bucket is one), or unlimited.
    #[arg(long, value_name = "N", value_parser = limits::parse_count, allow_hyphen_values = true)]
    pub streams: Option<i64>,
    /// Number of consumers, or unlimited.
    #[arg(long, value_name = "N", value_parser = limits::parse_count, allow_hyphen_values = true)]
    pub consumers: Option<i64>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExtensionListArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transpiler_subcommand_is_the_one_the_server_spawns() {
        let cli = Cli::try_parse_from(["symphony", crate::ui::isolated::SUBCOMMAND]).unwrap();
        assert!(matches!(cli.command, Command::TranspileModule));
    }
}

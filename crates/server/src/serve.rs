//! `symphony serve`: wires identity, the (embedded or external) NATS, the registry and HTTP together.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use symphony_protocol::messages::{PortsFile, SymphonyInfo};

use crate::app::{self, AppState};
use crate::auth::Auth;
use crate::bus::connect::{cluster_size, connect_server, connect_system, replicas_for};
use crate::bus::embedded::{
    NatsConfig, PortTaken, RouteCredentials, Supervisor, find_nats_server, free_port, render_config,
};
use crate::cli::ServeArgs;
use crate::cli::admin::PORTS_FILE;
use crate::gateway::{Connections, Gateway, GatewaySettings};
use crate::identity::{Identity, ensure_private_dir, write_private_file};
use crate::libraries::PypiUpstream;
use crate::licensing::{Licensing, parse_vendor_keys};
use crate::registry::{Registry, RegistrySettings};
use crate::tls::TlsFiles;
use crate::ui::sandbox::FramePolicy;

/// Largest NATS payload: above the 1 MiB manifest limit so the server can answer with a typed error.
const MAX_PAYLOAD: u32 = 8 * 1024 * 1024;

/// The NATS side of a running server.
struct Nats {
    urls: Vec<String>,
    ws_port: u16,
    supervisor: Option<Supervisor>,
    /// TLS on the NATS side: the CA our own connections trust, if not the system roots.
    tls: Option<TlsFiles>,
}

fn port_or_free(host: &str, port: u16) -> anyhow::Result<u16> {
    if port != 0 {
        return Ok(port);
    }
    free_port(host).with_context(|| format!("cannot find a free port on {host}"))
}

/// Writes the nats-server config of `identity` (also used by `symphony nats-config`): its operator,
/// system account and, in a cluster, its route credentials.
pub fn nats_config(identity: &Identity, mut cfg: NatsConfig) -> anyhow::Result<String> {
    cfg.operator_jwt = identity.operator_jwt()?;
    cfg.system_account = identity.system_account.public_key();
    if let Some(cluster) = &mut cfg.cluster {
        cluster.credentials = RouteCredentials::derived(identity);
    }
    // Seed the resolver so the system and platform accounts exist before the first push. Never
    // overwrite: the server pushes the complete accounts when it starts.
    ensure_private_dir(&cfg.resolver_dir)?;
    for (account, jwt) in [
        (
            identity.system_account.public_key(),
            identity.system_account_jwt()?,
        ),
        (
            identity.platform.public_key(),
            crate::auth::accounts::bootstrap_platform_jwt(identity)?,
        ),
    ] {
        let path = cfg.resolver_dir.join(format!("{account}.jwt"));
        if !path.exists() {
            write_private_file(&path, jwt.as_bytes())?;
        }
    }
    render_config(&cfg)
}

/// How often fresh ports are tried when ports chosen here were taken before nats-server bound them.
const PORT_ATTEMPTS: usize = 3;

async fn start_embedded(
    args: &ServeArgs,
    identity: &Identity,
    data_dir: &Path,
    tls: Option<TlsFiles>,
) -> anyhow::Result<Nats> {
    let binary = find_nats_server(args.nats_server.as_deref())?;
    let nats_dir = data_dir.join("nats");
    ensure_private_dir(&nats_dir)?;
    // A port found free here can be taken (by any process) before nats-server binds it. Ports
    // chosen here are then chosen again; ports the operator gave are not.
    let chosen_here = args.nats_port == 0 || args.ws_port == 0;
    let mut attempt = 1;
    let (supervisor, client_port, ws_port) = loop {
        let client_port = port_or_free(&args.host, args.nats_port)?;
        let ws_port = port_or_free(&args.host, args.ws_port)?;
        let supervisor = spawn_nats(
            args,
            identity,
            &binary,
            &nats_dir,
            client_port,
            ws_port,
            &tls,
        )
        .await?;
        match supervisor
            .wait_ready(&args.host, client_port, Duration::from_secs(30))
            .await
        {
            Ok(()) => break (supervisor, client_port, ws_port),
            Err(e) if chosen_here && attempt < PORT_ATTEMPTS && e.is::<PortTaken>() => {
                tracing::warn!(error = %e, attempt, "a chosen port was taken; choosing again");
                supervisor.stop().await;
                attempt += 1;
            }
            Err(e) => {
                supervisor.stop().await;
                return Err(e);
            }
        }
    };
    tracing::info!(
        binary = %binary.display(),
        pid = supervisor.pid().unwrap_or_default(),
        log = %supervisor.log_path().display(),
        port = client_port,
        websocket = ws_port,
        "embedded nats-server ready"
    );
    let host = url_host(&args.host);
    let scheme = if tls.is_some() { "tls" } else { "nats" };
    Ok(Nats {
        urls: vec![format!("{scheme}://{host}:{client_port}")],
        ws_port,
        supervisor: Some(supervisor),
        tls,
    })
}

/// Writes the config for these ports and starts nats-server under a supervisor.
async fn spawn_nats(
    args: &ServeArgs,
    identity: &Identity,
    binary: &Path,
    nats_dir: &Path,
    client_port: u16,
    ws_port: u16,
    tls: &Option<TlsFiles>,
) -> anyhow::Result<Supervisor> {
    let config = nats_config(
        identity,
        NatsConfig {
            server_name: "symphony".into(),
            host: args.host.clone(),
            client_port,
            ws_port,
            operator_jwt: String::new(),
            system_account: String::new(),
            store_dir: nats_dir.join("jetstream"),
            resolver_dir: nats_dir.join("jwt"),
            max_payload: MAX_PAYLOAD,
            cluster: None,
            tls: tls.clone(),
        },
    )?;
    let config_path = nats_dir.join("nats-server.conf");
    write_private_file(&config_path, config.as_bytes())?;
    Supervisor::start(
        binary.to_path_buf(),
        config_path,
        nats_dir.join("nats-server.log"),
        nats_dir.join("nats-server.pid"),
    )
    .await
}

fn url_host(host: &str) -> String {
    match host {
        "0.0.0.0" | "" => "127.0.0.1".into(),
        "::" => "[::1]".into(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.into(),
    }
}

fn split_urls(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Retries `f` until it succeeds or `deadline` passes (NATS may still be starting).
async fn with_retry<T, F, Fut>(what: &str, deadline: Duration, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    let mut delay = Duration::from_millis(100);
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() + delay < until => {
                tracing::debug!(error = %format!("{e:#}"), "{what}: retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e.context(format!("{what} failed"))),
        }
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    crate::tls::install_crypto_provider();
    // Refuse a bad vendor key before anything starts.
    parse_vendor_keys(&args.license_vendor_keys)?;
    let data_dir: PathBuf = args.data.resolve();
    let identity = Arc::new(Identity::load_or_create(&data_dir)?);
    let public_host = args
        .public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_owned));
    let hosts: Vec<String> = std::iter::once(args.host.clone())
        .chain(public_host)
        .collect();
    let tls = args.tls.resolve(&data_dir, &hosts)?;
    let _ = std::fs::remove_file(data_dir.join(PORTS_FILE));

    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.http))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.http))?;
    let http_addr: SocketAddr = listener.local_addr()?;
    let origin = args
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| {
            let scheme = if tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{}:{}", url_host(&args.host), http_addr.port())
        });

    let sandbox = bind_ui_sandbox(&args, http_addr.port()).await?;
    let sandbox_origin = ui_sandbox_origin(&args, &origin, tls.is_some(), sandbox.local_addr()?)?;

    let nats = match &args.nats_url {
        Some(urls) => Nats {
            urls: split_urls(urls),
            ws_port: 0,
            supervisor: None,
            tls: tls.clone(),
        },
        None => start_embedded(&args, &identity, &data_dir, tls.clone()).await?,
    };
    let listeners = Listeners {
        http: listener,
        origin,
        sandbox,
        sandbox_origin,
    };
    let result = serve_with_nats(&args, identity, &data_dir, listeners, &nats, tls).await;
    if let Some(supervisor) = nats.supervisor {
        supervisor.stop().await;
    }
    let _ = std::fs::remove_file(data_dir.join(PORTS_FILE));
    result
}

/// The HTTP listeners: the shell and platform API, and the UI sandbox origin (docs/ui.md "Trust").
struct Listeners {
    http: tokio::net::TcpListener,
    origin: String,
    sandbox: tokio::net::TcpListener,
    sandbox_origin: String,
}

/// Binds the UI sandbox listener on `--ui-sandbox-port`, else on the HTTP port + 1 when free, else
/// on a free port.
async fn bind_ui_sandbox(
    args: &ServeArgs,
    http_port: u16,
) -> anyhow::Result<tokio::net::TcpListener> {
    let host = args.host.as_str();
    if let Some(port) = args.ui_sandbox_port {
        return tokio::net::TcpListener::bind((host, port))
            .await
            .with_context(|| format!("cannot listen on {host}:{port} (--ui-sandbox-port)"));
    }
    if let Some(next) = http_port.checked_add(1)
        && let Ok(listener) = tokio::net::TcpListener::bind((host, next)).await
    {
        return Ok(listener);
    }
    tokio::net::TcpListener::bind((host, 0))
        .await
        .with_context(|| format!("cannot listen on a free port of {host} for the UI sandbox"))
}

/// `--ui-sandbox-origin` (checked: an http(s) origin that is not the shell's), else the scheme of
/// this server, the host of the public URL (or of `--host`) and the sandbox port.
fn ui_sandbox_origin(
    args: &ServeArgs,
    shell_origin: &str,
    tls: bool,
    sandbox: SocketAddr,
) -> anyhow::Result<String> {
    let origin = match &args.ui_sandbox_origin {
        Some(given) => {
            let url = url::Url::parse(given)
                .with_context(|| format!("--ui-sandbox-origin {given:?} is not a URL"))?;
            anyhow::ensure!(
                matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some()
                    && matches!(url.path(), "" | "/")
                    && url.query().is_none(),
                "--ui-sandbox-origin {given:?} must be an http(s) origin such as \
                 https://ui-sandbox.example.com, without a path"
            );
            url.origin().ascii_serialization()
        }
        None => {
            let scheme = if tls { "https" } else { "http" };
            let host = args
                .public_url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| url_host(&args.host));
            format!("{scheme}://{host}:{}", sandbox.port())
        }
    };
    let shell = url::Url::parse(shell_origin).map(|u| u.origin().ascii_serialization());
    anyhow::ensure!(
        shell.as_deref().ok() != Some(origin.as_str()),
        "the UI sandbox origin {origin} is the shell's own origin: extension frames must load from \
         another origin (--ui-sandbox-origin)"
    );
    Ok(origin)
}

/// Who may embed extension frames (CSP `frame-ancestors`): the public URL's origin when one is
/// given, else the shell's port on any host name (`localhost` and `127.0.0.1` alike).
fn frame_ancestors(args: &ServeArgs, shell_origin: &str, tls: bool, http_port: u16) -> String {
    if args.public_url.is_some()
        && let Ok(url) = url::Url::parse(shell_origin)
    {
        return url.origin().ascii_serialization();
    }
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://*:{http_port}")
}

async fn serve_with_nats(
    args: &ServeArgs,
    identity: Arc<Identity>,
    data_dir: &Path,
    listeners: Listeners,
    nats: &Nats,
    tls: Option<TlsFiles>,
) -> anyhow::Result<()> {
    let Listeners {
        http: listener,
        origin,
        sandbox,
        sandbox_origin,
    } = listeners;
    let urls = &nats.urls;
    let ca = nats.tls.as_ref().and_then(|t| t.ca.as_deref());
    let (sys, client) = connect_nats(&identity, nats).await?;
    let settings = RegistrySettings {
        heartbeat: args.heartbeat,
        status_ttl: args.status_ttl.max(args.heartbeat * 2),
        replicas: args.replicas,
        origin: origin.clone(),
        nats_urls: urls.clone(),
        nats_ca: ca.map(Path::to_path_buf),
    };
    let auth = Arc::new(init_auth(args, identity, &client, &sys).await?);
    let registry = with_retry(
        "creating the platform buckets",
        Duration::from_secs(60),
        || Registry::init(auth.clone(), client.clone(), sys.clone(), settings.clone()),
    )
    .await?;
    // After the platform buckets exist: JetStream answers by then, also in a new cluster.
    refuse_legacy_buckets(&client).await?;

    let deployment =
        symphony_protocol::license::deployment_id(&auth.identity.operator.public_key());
    let licensing = Licensing::init(
        client.clone(),
        registry.replicas().await,
        parse_vendor_keys(&args.license_vendor_keys)?,
        deployment.clone(),
    )
    .await?;
    let info = symphony_info(args, nats, &origin, &sandbox_origin, deployment);
    let frame_policy = FramePolicy::new(
        &sandbox_origin,
        &frame_ancestors(args, &origin, tls.is_some(), listener.local_addr()?.port()),
        info.websocket_url.as_deref(),
    )?;
    let gateway = Gateway::new(
        GatewaySettings {
            body_limit: args.gateway_body_limit,
            default_timeout: args.gateway_timeout,
            sweep_interval: args.heartbeat.min(Duration::from_secs(5)),
        },
        Connections::new(
            auth.identity.clone(),
            urls.clone(),
            ca.map(Path::to_path_buf),
        ),
    )?;
    gateway.spawn_sync(registry.clone());
    let services = tokio::spawn(registry.clone().serve());
    let presence = tokio::spawn(registry.clone().follow_disconnects());
    let partition_views = tokio::spawn(registry.clone().follow_partition_views());
    let enforcement_service = tokio::spawn(licensing.clone().serve());
    let enforcement_broadcast = tokio::spawn(licensing.clone().broadcast());
    let state = AppState {
        registry: Arc::new(registry),
        gateway,
        info: Arc::new(info),
        pypi_upstream: PypiUpstream(args.pypi_upstream.as_str().into()),
        modules: Arc::default(),
        frame_policy: Arc::new(frame_policy),
        licensing,
    };
    let app = app::router(state.clone());
    let sandbox_app = app::sandbox_router(state);

    let ui_sandbox = (sandbox.local_addr()?.port(), sandbox_origin.as_str());
    write_ports_file(data_dir, &listener, ui_sandbox, nats, &origin, &settings)?;
    tracing::info!(http = %origin, ui_sandbox = %sandbox_origin, nats = %urls.join(","), websocket = nats.ws_port, "symphony is ready");
    eprintln!(
        "symphony ready: http {origin}  ui sandbox {sandbox_origin}  nats {}  websocket port {}",
        urls.join(","),
        nats.ws_port
    );

    tokio::try_join!(
        serve_http(listener, app, tls.clone()),
        serve_http(sandbox, sandbox_app, tls),
    )?;
    services.abort();
    presence.abort();
    partition_views.abort();
    enforcement_service.abort();
    enforcement_broadcast.abort();
    tracing::info!("symphony stopped");
    Ok(())
}

/// Connects to NATS as the system account, pushes the account JWTs, then connects as the server;
/// returns `(system, server)` connections.
async fn connect_nats(
    identity: &Identity,
    nats: &Nats,
) -> anyhow::Result<(async_nats::Client, async_nats::Client)> {
    let urls = &nats.urls;
    let ca = nats.tls.as_ref().and_then(|t| t.ca.as_deref());
    let sys = with_retry(
        "connecting to NATS (system account)",
        Duration::from_secs(30),
        || connect_system(identity, urls, ca),
    )
    .await?;
    with_retry("pushing account JWTs", Duration::from_secs(30), || {
        crate::auth::accounts::push_bootstrap(identity, &sys)
    })
    .await?;
    let client = with_retry("connecting to NATS", Duration::from_secs(30), || {
        connect_server(identity, urls, ca)
    })
    .await?;
    Ok((sys, client))
}

/// Refuses a data dir made before accounts per extension (docs/protocol.md §3.1): its extension
/// buckets live in the platform account, where no extension reaches them any more. Nothing is
/// changed or deleted; the message says what to do.
async fn refuse_legacy_buckets(client: &async_nats::Client) -> anyhow::Result<()> {
    use futures::TryStreamExt as _;
    let js = async_nats::jetstream::new(client.clone());
    let names: Vec<String> = js.stream_names().try_collect().await?;
    let legacy: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix("KV_"))
        .filter(|b| !b.starts_with(symphony_protocol::names::RESERVED_BUCKET_PREFIX))
        .collect();
    if legacy.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "this data dir was made by a Symphony before each extension got its own NATS account: the \
         extension buckets {} live in the platform account, where no extension can reach them now. \
         Nothing was changed. To keep their data, read it out with the Symphony version that made \
         the data dir; then start with a new --data-dir (or delete those buckets) and register the \
         extensions again",
        legacy.join(", ")
    )
}

/// Creates the identity buckets, publishes and follows the revocations, and creates the
/// administrator on the first start.
async fn init_auth(
    args: &ServeArgs,
    identity: Arc<Identity>,
    client: &async_nats::Client,
    sys: &async_nats::Client,
) -> anyhow::Result<Auth> {
    let replicas = match args.replicas {
        Some(r) => r,
        None => replicas_for(cluster_size(sys).await?),
    };
    let mut auth = with_retry(
        "creating the identity buckets",
        Duration::from_secs(60),
        || {
            Auth::init(
                identity.clone(),
                client,
                sys.clone(),
                replicas,
                args.session_idle_for_tests.unwrap_or(args.session_idle),
                args.session_lifetime_for_tests
                    .unwrap_or(args.session_lifetime),
            )
        },
    )
    .await?;
    auth.key_jwt_lifetime = args
        .key_jwt_lifetime_for_tests
        .unwrap_or(args.key_jwt_lifetime);
    auth.sync_accounts().await?;
    auth.spawn_follow_accounts(&auth.account_changes);
    auth.spawn_sync_service(client);
    let admin_password = std::env::var("SYMPHONY_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    if let Some(generated) = auth.users.ensure_admin(admin_password).await? {
        // Printed once, on the first start; never logged.
        eprintln!(
            "\nCreated the administrator: user `admin`, password `{generated}` (shown only now)\n"
        );
    }
    Ok(auth)
}

/// What `/api/v1/symphonyinfo` tells clients: the NATS URLs to advertise, the WebSocket URL and
/// the origin.
fn symphony_info(
    args: &ServeArgs,
    nats: &Nats,
    origin: &str,
    ui_sandbox: &str,
    deployment: String,
) -> SymphonyInfo {
    let advertised = args
        .nats_advertise
        .as_deref()
        .map(split_urls)
        .unwrap_or_else(|| nats.urls.clone());
    SymphonyInfo {
        name: "Symphony".into(),
        short_name: "symphony".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        nats_address: advertised.join(","),
        nats_urls: advertised,
        websocket_url: (nats.ws_port != 0).then(|| {
            let scheme = if nats.tls.is_some() { "wss" } else { "ws" };
            format!("{scheme}://{}:{}", url_host(&args.host), nats.ws_port)
        }),
        origin: origin.to_owned(),
        ui_sandbox_origin: Some(ui_sandbox.to_owned()),
        deployment_id: Some(deployment),
    }
}

/// Writes `<data-dir>/ports.json`, which the CLI and tests read to find the running server.
fn write_ports_file(
    data_dir: &Path,
    listener: &tokio::net::TcpListener,
    (ui_sandbox, ui_sandbox_url): (u16, &str),
    nats: &Nats,
    origin: &str,
    settings: &RegistrySettings,
) -> anyhow::Result<()> {
    let urls = &nats.urls;
    let http_port = listener.local_addr()?.port();
    let nats_port = urls
        .first()
        .and_then(|u| u.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let ca = nats.tls.as_ref().and_then(|t| t.ca.as_deref());
    let ports = PortsFile {
        http: http_port,
        nats: nats_port,
        websocket: nats.ws_port,
        http_url: origin.to_owned(),
        nats_url: urls.join(","),
        pid: std::process::id(),
        tls_ca: ca.map(|p| p.display().to_string()),
        heartbeat_secs: Some(settings.heartbeat.as_secs().max(1)),
        ui_sandbox,
        ui_sandbox_url: Some(ui_sandbox_url.to_owned()),
    };
    write_private_file(
        &data_dir.join(PORTS_FILE),
        &serde_json::to_vec_pretty(&ports)?,
    )?;
    Ok(())
}

/// Serves `app` on `listener`, over plain HTTP or TLS, until SIGTERM or SIGINT.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<TlsFiles>,
) -> anyhow::Result<()> {
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await?
        }
        Some(files) => {
            let config =
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
                    .await
                    .with_context(|| {
                        format!("cannot load TLS certificate {}", files.cert.display())
                    })?;
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                stopper.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            axum_server::from_tcp_rustls(listener.into_std()?, config)?
                .handle(handle)
                .serve(app)
                .await?;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    tracing::info!("shutting down");
}

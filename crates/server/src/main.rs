//! `symphony`: parses the command line and hands off to the module that owns the command.

use clap::Parser;
use symphony_server::cli::{
    self, Cli, Command, CredentialCommand, ExtensionCommand, KeyCommand, TokenCommand,
};
use symphony_server::{bus, identity, serve, tls, ui};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    // `serve` narrates; one-shot commands keep stderr quiet unless something is wrong.
    let default_filter = if matches!(cli.command, Command::Serve(_)) {
        "info,async_nats=warn"
    } else {
        cli::terminal::die_quietly_on_closed_stdout();
        // The CLI explains certificate failures itself (cause and fix); the verifier's log is noise.
        "warn,rustls_platform_verifier=off"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Init(data) => init(&data.resolve()),
        Command::NatsConfig(args) => nats_config(args),
        Command::Token(TokenCommand::Create(args)) => cli::remote::token_create(args).await,
        Command::Key(KeyCommand::Create(args)) => cli::remote::key_create(args).await,
        Command::Key(KeyCommand::List(args)) => cli::remote::key_list(args).await,
        Command::Key(KeyCommand::Revoke(args)) => cli::remote::key_revoke(args).await,
        Command::Extension(ExtensionCommand::List(args)) => cli::admin::extension_list(args).await,
        Command::Extension(ExtensionCommand::Account(args)) => {
            cli::remote::extension_account(args).await
        }
        Command::Extension(ExtensionCommand::Limits(args)) => {
            cli::remote::extension_limits(args).await
        }
        Command::License(command) => cli::license::run(command).await,
        Command::Login(args) => cli::login::login(args).await,
        Command::Credential(CredentialCommand::List(args)) => cli::login::credential_list(args),
        Command::Credential(CredentialCommand::Remove(args)) => {
            cli::login::credential_remove(args).await
        }
        Command::Credential(CredentialCommand::Clear) => cli::login::credential_clear().await,
        Command::Info(args) => cli::remote::info(args).await,
        Command::Version(args) => cli::remote::version(args).await,
        Command::Ext(args) => cli::ext::run(args).await,
        Command::TranspileModule => ui::isolated::child_main(),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn init(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let identity = identity::Identity::load_or_create(data_dir)?;
    eprintln!(
        "identity ready in {} (operator {})",
        data_dir.display(),
        identity.operator.public_key()
    );
    Ok(())
}

fn nats_config(args: cli::NatsConfigArgs) -> anyhow::Result<()> {
    let identity = identity::Identity::load_or_create(&args.data.resolve())?;
    let config = serve::nats_config(
        &identity,
        bus::embedded::NatsConfig {
            server_name: args.server_name,
            host: args.host.clone(),
            client_port: args.port,
            ws_port: args.ws_port,
            operator_jwt: String::new(),
            system_account: String::new(),
            store_dir: args.store_dir,
            resolver_dir: args.resolver_dir,
            max_payload: 8 * 1024 * 1024,
            cluster: args.cluster_name.map(|name| bus::embedded::ClusterConfig {
                name,
                host: args.host,
                port: args.cluster_port,
                routes: args.routes,
                // Derived from the identity by `serve::nats_config`.
                credentials: Default::default(),
            }),
            tls: args
                .tls_cert
                .zip(args.tls_key)
                .map(|(cert, key)| tls::TlsFiles {
                    cert,
                    key,
                    ca: args.tls_ca,
                }),
        },
    )?;
    // The config holds the route password: it goes to stdout (the operator's file), never to a log.
    print!("{config}");
    Ok(())
}

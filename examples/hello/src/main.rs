//! The smallest Symphony extension: registers as "Hello World" and stays until SIGINT or SIGTERM.
//!
//! Run with `SYMPHONY_TOKEN` (an API key token) or `REGISTRATION_TOKEN` (a registration token; the
//! permanent key it provisions is stored for later runs).

use std::process::ExitCode;

use cirata_symphony::Extension;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr (stdout stays the program's own), coloured only on a terminal.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let mut ext = Extension::new("Hello World", "hello").with_description("My first extension");
    match ext.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

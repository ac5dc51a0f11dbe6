//! The benchmark's echo extension: "Echo" (prefix `echo`) serves `cirata.extensions.echo.echo`, which answers
//! every request with its body unchanged (a raw reply), and publishes `POST /echo` over the REST gateway.
//!
//! Tokens come from the environment like any extension's (`REGISTRATION_TOKEN`, `SYMPHONY_TOKEN`,
//! `SYMPHONY_CREDENTIAL_STORE=file`, `CIRATA_CONFIG_DIR`).

use std::process::ExitCode;

use cirata_symphony::{Extension, HandlerError, Request, ServiceConfig};
use serde_json::json;
use tracing_subscriber::EnvFilter;

/// The OpenAPI 3.1 document that maps `POST /echo` to the `echo` endpoint (by `operationId`).
fn openapi() -> String {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Echo", "version": "1.0.0", "description": "Returns the request body unchanged."},
        "paths": {
            "/echo": {
                "post": {
                    "operationId": "echo",
                    "summary": "Echo the request body",
                    "requestBody": {"content": {"application/json": {"schema": {}}}},
                    "responses": {"200": {"description": "The request body, byte for byte"}}
                }
            }
        }
    })
    .to_string()
}

async fn serve() -> cirata_symphony::Result<()> {
    let mut ext = Extension::new("Echo", "echo")
        .with_description("Echoes request bodies (gateway benchmark)");
    ext.add_capability("sub", "extensions.echo.>", "Every endpoint of Echo")?;
    ext.connect().await?;
    let config = ServiceConfig::new("echo", "1.0.0")
        .description("Echo service")
        .metadata("openapi", openapi());
    let service = ext.add_endpoints(config).await?;
    service
        .add_group("cirata.extensions.echo")
        .add_endpoint("echo", |req: Request| async move {
            Ok::<_, HandlerError>(req.data)
        })
        .await?;
    ext.run().await
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

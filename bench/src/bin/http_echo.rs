//! The upstream nginx proxies to in the benchmark: `POST /echo` answers with the request body and its
//! content type, nothing else. What a user would put behind nginx instead of an extension.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::post;
use bytes::Bytes;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "http-echo",
    about = "Minimal HTTP echo upstream: POST /echo returns the body"
)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one; the bound address is printed).
    #[arg(long, default_value_t = 8081)]
    port: u16,
}

async fn echo(headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| header::HeaderValue::from_static("application/octet-stream"));
    ([(header::CONTENT_TYPE, content_type)], body)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    println!("http-echo listening on http://{}", listener.local_addr()?);
    let app = Router::new().route("/echo", post(echo));
    axum::serve(listener, app).await?;
    Ok(())
}

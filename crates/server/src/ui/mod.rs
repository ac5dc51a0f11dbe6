//! The web UI shell at `/`: the React + TypeScript app in `web/`, built by Vite into `web/dist`
//! (`scripts/build-web.sh`) and embedded in the binary with rust-embed. `/` and `/assets/*` serve it;
//! a browser navigation (`GET`/`HEAD` with `Accept: text/html`) to any other path the server does not
//! answer itself gets `index.html` too, so shell routes such as `/catalog` or
//! `/help/extensions/Catalog` survive a reload. Everything else unknown, and all of `/api/*`, keeps the
//! JSON 404.
//!
//! `/vendor/*` serves the third-party files the build copies to `web/dist/vendor` (React, htmx, Font
//! Awesome, …) for extension UIs, revalidated by ETag. Extension modules are transpiled in `jsx.rs`
//! and served by `module.rs` (docs/protocol.md "UI resources"). Extension UI frames load from the
//! UI sandbox origin, another listener (`sandbox.rs`, docs/ui.md "Trust").

pub mod complexity;
pub mod isolated;
pub mod jsx;
pub mod module;
pub mod sandbox;

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Path, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use symphony_protocol::rest::is_server_path;

use crate::auth::Auth;
use crate::http::etag::{not_modified, strong_etag, validators};
use crate::registry::Registry;

/// `web/dist` as built by `scripts/build-web.sh`. Missing (a checkout where the UI was never built)
/// still compiles: `/` then explains how to build it.
#[derive(rust_embed::Embed)]
#[folder = "../../web/dist/"]
#[allow_missing = true]
struct Dist;

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Symphony</title></head><body style=\"font-family:system-ui,sans-serif;margin:2rem\">\
<h1>The web UI is not built</h1><p>This server was compiled without <code>web/dist</code>. Run \
<code>scripts/build-web.sh</code> (it runs <code>npm run build</code> in <code>web/</code>) and rebuild \
the server. The REST API under <code>/api/v1</code> works regardless.</p></body></html>";

/// `/`, `/assets/*`, `/vendor/*` and the extension UI modules; the app's fallback is [`fallback`].
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Registry>: FromRef<S>,
    Arc<Auth>: FromRef<S>,
    Arc<jsx::TranspileCache>: FromRef<S>,
{
    Router::new()
        .route("/", get(index))
        .route("/assets/{*file}", get(asset))
        .route("/vendor/{*file}", get(vendor))
        .route("/api/v1/ui/module/{prefix}/{*name}", get(module::module))
}

/// The server-wide fallback: the shell for a browser navigation, the JSON 404 otherwise.
pub async fn fallback(request: Request) -> Response {
    if is_page_navigation(request.method(), request.uri().path(), request.headers()) {
        return index().await;
    }
    crate::http::not_found().await.into_response()
}

/// A `GET`/`HEAD` that asks for HTML, for a path outside the server's own prefixes.
fn is_page_navigation(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    // Paths owned by other parts of the server are never answered with the shell.
    let owned_by_server = is_server_path(path);
    // `/assets/…` that does not exist is a missing file, not a page.
    if owned_by_server || path.starts_with("/assets/") {
        return false;
    }
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

async fn index() -> Response {
    match Dist::get("index.html") {
        Some(file) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                // The file names the hashed assets of this build: always revalidate it.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            file.data.into_owned(),
        )
            .into_response(),
        None => Html(NOT_BUILT).into_response(),
    }
}

async fn asset(Path(file): Path<String>) -> Response {
    match Dist::get(&format!("assets/{file}")) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, content_type(&file)),
                // Vite puts a content hash in every asset's name.
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            asset.data.into_owned(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

async fn vendor(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let found = Dist::get(&format!("vendor/{file}")).map(|f| (f.data, f.metadata.sha256_hash()));
    vendor_response(&file, found, &headers)
}

/// A vendored file: its names carry no content hash, so the browser revalidates every use by ETag.
fn vendor_response(
    file: &str,
    found: Option<(Cow<'static, [u8]>, [u8; 32])>,
    headers: &HeaderMap,
) -> Response {
    let Some((data, sha256)) = found else {
        return (StatusCode::NOT_FOUND, "no such vendored file").into_response();
    };
    let etag = strong_etag(&sha256);
    let cache = validators(&etag, "no-cache");
    let nosniff = [(header::X_CONTENT_TYPE_OPTIONS, "nosniff")];
    if not_modified(headers, &etag) {
        return (StatusCode::NOT_MODIFIED, cache, nosniff).into_response();
    }
    (
        cache,
        nosniff,
        [(header::CONTENT_TYPE, content_type(file))],
        data.into_owned(),
    )
        .into_response()
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next().unwrap_or_default() {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "eot" => "application/vnd.ms-fontobject",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::HeaderValue;

    fn html() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"),
        );
        h
    }

    #[test]
    fn browser_navigations_to_shell_routes_get_the_shell() {
        for path in ["/catalog", "/help", "/help/extensions/Catalog", "/a/b/c"] {
            assert!(is_page_navigation(&Method::GET, path, &html()), "{path}");
            assert!(is_page_navigation(&Method::HEAD, path, &html()), "{path}");
        }
        // Prefix matching is per segment: `/apix` is a shell route, `/api/x` is not.
        assert!(is_page_navigation(&Method::GET, "/apix", &html()));
    }

    #[test]
    fn server_paths_api_clients_and_writes_keep_the_json_404() {
        for path in [
            "/api",
            "/api/v1/nope",
            "/help/access/nope",
            "/pypi/x",
            "/downloads/x",
            "/assets/missing.js",
            "/vendor",
            "/vendor/missing.js",
            "/vendor/fontawesome/css/all.min.css",
        ] {
            assert!(!is_page_navigation(&Method::GET, path, &html()), "{path}");
        }
        assert!(!is_page_navigation(
            &Method::GET,
            "/catalog",
            &HeaderMap::new()
        ));
        assert!(!is_page_navigation(&Method::POST, "/catalog", &html()));
    }

    #[tokio::test]
    async fn fallback_answers_html_for_pages_and_json_for_the_rest() {
        let page = Request::builder()
            .uri("/help/extensions/Catalog")
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap();
        let response = fallback(page).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );

        let api = Request::builder()
            .uri("/api/v1/nope")
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap();
        let response = fallback(api).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn assets_get_their_content_types() {
        assert_eq!(
            content_type("index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index-abc.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("fa-solid-900-x.woff2"), "font/woff2");
        assert_eq!(
            content_type("fontawesome/webfonts/fa-brands-400.ttf"),
            "font/ttf"
        );
        assert_eq!(
            content_type("htmx.min.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    fn vendored(data: &'static [u8]) -> Option<(Cow<'static, [u8]>, [u8; 32])> {
        use sha2::Digest;
        Some((Cow::Borrowed(data), sha2::Sha256::digest(data).into()))
    }

    async fn body(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn vendored_files_have_type_etag_and_revalidate() {
        let response = vendor_response(
            "react.js",
            vendored(b"export default 1;"),
            &HeaderMap::new(),
        );
        assert_eq!(response.status(), StatusCode::OK);
        let h = response.headers().clone();
        assert_eq!(h[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let etag = h[header::ETAG].to_str().unwrap().to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
            "{etag}"
        );
        assert_eq!(body(response).await, b"export default 1;");

        // The same ETag back (alone, in a list, or weak) is a 304 without a body.
        for sent in [
            etag.clone(),
            format!("\"x\", {etag}"),
            format!("W/{etag}"),
            "*".into(),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&sent).unwrap());
            let response = vendor_response("react.js", vendored(b"export default 1;"), &headers);
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{sent}");
            assert_eq!(response.headers()[header::ETAG], etag.as_str());
            assert!(body(response).await.is_empty());
        }

        // Another version of the file does not match.
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&etag).unwrap());
        let response = vendor_response("react.js", vendored(b"export default 2;"), &headers);
        assert_eq!(response.status(), StatusCode::OK);
        assert_ne!(response.headers()[header::ETAG], etag.as_str());

        let css = vendor_response(
            "fontawesome/css/all.min.css",
            vendored(b"a{}"),
            &HeaderMap::new(),
        );
        assert_eq!(
            css.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
    }

    #[tokio::test]
    async fn a_missing_vendored_file_is_404() {
        let response = vendor_response("nope.js", None, &HeaderMap::new());
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let response = vendor(Path("no/such/file.js".into()), HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        // Never the shell: `/vendor/…` is the server's own.
        let page = Request::builder()
            .uri("/vendor/no/such/file.js")
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap();
        assert_eq!(fallback(page).await.status(), StatusCode::NOT_FOUND);
    }
}

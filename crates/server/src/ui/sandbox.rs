//! The UI sandbox origin (docs/ui.md "Trust"): a second listener, on another origin than the shell,
//! that extension UI frames load from. It serves the frame host document (`/frame`), the vendored
//! files and shell assets frames use (`/vendor/*`, `/assets/*`), extension modules for sandboxed JSX
//! pages (`/ui/module/{token}/…`, `module.rs`) and — assembled in `app` — the gateway routes for
//! scoped bearers. No shell, no platform API, and no cookie is ever set or read here
//! (`http::middleware::ui_sandbox`).
//!
//! `/frame` is the same small document for every frame: it asks the shell (its parent, whose origin
//! it is given in `?parent=`) for the page and writes it into itself. Its `Content-Security-Policy`
//! sandboxes it without `allow-same-origin`, so every frame has an opaque origin of its own: no
//! cookies, no storage, no access to the shell or to another extension's frame. The policy also
//! limits where a frame may connect (this origin's gateway and the NATS WebSocket) and who may
//! embed it (the shell).

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::jsx::TranspileCache;
use super::{asset, module, vendor};
use crate::auth::Auth;
use crate::http::etag::{not_modified, strong_etag, validators};
use crate::registry::Registry;

/// The sandbox flags of every frame document (and of the `sandbox` attribute the shell puts on the
/// iframe): scripts, forms and popups, never `allow-same-origin`.
pub const FRAME_SANDBOX: &str = "allow-scripts allow-forms allow-popups";

/// What the frame document's policy names: computed once when the server starts.
#[derive(Debug, Clone)]
pub struct FramePolicy {
    /// `Content-Security-Policy` of `/frame`.
    pub csp: HeaderValue,
    /// The frame host document and its ETag.
    document: &'static str,
    etag: String,
}

impl FramePolicy {
    /// The policy for frames served from `sandbox_origin`, embedded by the shell at
    /// `frame_ancestors` (CSP source expressions), connecting to this origin and to `websocket`
    /// (the NATS WebSocket URL, when there is one).
    pub fn new(
        sandbox_origin: &str,
        frame_ancestors: &str,
        websocket: Option<&str>,
    ) -> anyhow::Result<Self> {
        let connect = match websocket {
            Some(ws) => format!("'self' {sandbox_origin} {ws}"),
            None => format!("'self' {sandbox_origin}"),
        };
        let csp = format!(
            "sandbox {FRAME_SANDBOX}; default-src 'self'; \
             script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' data: blob:; \
             connect-src {connect}; worker-src 'self' blob:; object-src 'none'; \
             base-uri 'self'; form-action 'self'; frame-ancestors {frame_ancestors}"
        );
        use sha2::Digest as _;
        let digest: [u8; 32] = sha2::Sha256::digest(format!("{FRAME_HOST}\n{csp}")).into();
        let etag = strong_etag(&digest);
        Ok(FramePolicy {
            csp: HeaderValue::from_str(&csp)?,
            document: FRAME_HOST,
            etag,
        })
    }
}

/// The frame host: it tells the shell it is ready, takes the page (`{symphony_host: 1, type:
/// "render", html}`) from its parent only — the window above it, at the origin it was given — and
/// writes it into this document, which keeps its URL, policy and opaque origin. It checks the
/// origin given against the real ancestor where the browser tells it.
const FRAME_HOST: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>Symphony extension frame</title></head><body><script>
(function () {
  "use strict";
  var parentOrigin = new URLSearchParams(location.search).get("parent");
  var ancestors = location.ancestorOrigins;
  if (ancestors && ancestors.length > 0 && ancestors[0] !== parentOrigin) parentOrigin = null;
  if (!parentOrigin || window.parent === window) {
    document.body.textContent = "This page shows an extension's UI inside the Symphony shell.";
    return;
  }
  window.addEventListener("message", function render(event) {
    if (event.source !== window.parent || event.origin !== parentOrigin) return;
    var m = event.data;
    if (!m || m.symphony_host !== 1 || m.type !== "render" || typeof m.html !== "string") return;
    window.removeEventListener("message", render);
    document.open();
    document.write(m.html);
    document.close();
  });
  window.parent.postMessage({ symphony_host: 1, type: "ready" }, parentOrigin);
})();
</script></body></html>
"#;

/// The sandbox listener's own routes (the gateway's are added in `app`).
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<FramePolicy>: FromRef<S>,
    Arc<Registry>: FromRef<S>,
    Arc<Auth>: FromRef<S>,
    Arc<TranspileCache>: FromRef<S>,
{
    Router::new()
        .route("/frame", get(frame))
        .route("/vendor/{*file}", get(vendor))
        .route("/assets/{*file}", get(asset))
        .route(
            "/ui/module/{token}/{prefix}/{*name}",
            get(module::sandboxed),
        )
}

async fn frame(
    axum::extract::State(policy): axum::extract::State<Arc<FramePolicy>>,
    headers: HeaderMap,
) -> Response {
    let cache = validators(&policy.etag, "no-cache");
    let csp = [(header::CONTENT_SECURITY_POLICY, policy.csp.clone())];
    if not_modified(&headers, &policy.etag) {
        return (StatusCode::NOT_MODIFIED, cache, csp).into_response();
    }
    (
        cache,
        csp,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        policy.document,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_policy_sandboxes_without_same_origin() {
        let p = FramePolicy::new(
            "http://127.0.0.1:8081",
            "http://*:8080",
            Some("ws://127.0.0.1:9222"),
        )
        .unwrap();
        let csp = p.csp.to_str().unwrap();
        assert!(
            csp.starts_with("sandbox allow-scripts allow-forms allow-popups;"),
            "{csp}"
        );
        assert!(!csp.contains("allow-same-origin"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:8081 ws://127.0.0.1:9222;"),
            "{csp}"
        );
        assert!(csp.ends_with("frame-ancestors http://*:8080"), "{csp}");
        let other =
            FramePolicy::new("http://127.0.0.1:8081", "https://shell.example", None).unwrap();
        assert_ne!(p.etag, other.etag, "the ETag covers the policy");
    }
}

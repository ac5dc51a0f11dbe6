//! `GET /api/v1/ui/module/{prefix}/{*name}`: an extension's `text/symphony-jsx` / `text/symphony-module`
//! resource `ui://{prefix}/{name}` from the registry, transpiled to a JavaScript module (`jsx.rs`),
//! with an ETag from the source so the browser revalidates cheaply (docs/protocol.md "UI resources").
//! The UI sandbox listener serves the same as `GET /ui/module/{token}/{prefix}/{*name}` to sandboxed
//! JSX frames, whose module imports cannot send headers: the frame's scoped token is in the path.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use symphony_protocol::manifest::is_module_mime;
use symphony_protocol::names::validate_prefix;
use symphony_protocol::{ErrorBody, ErrorCode, SourceLocation};

use super::jsx::TranspileCache;
use super::jsx::{Outcome, source_hash};
use crate::auth::Auth;
use crate::auth::policy::Caller;
use crate::http::etag::{not_modified, strong_etag, validators};
use crate::http::extract::scoped_caller;
use crate::http::typed::Path;
use crate::http::{ApiError, Authenticated};
use crate::registry::Registry;

/// Modules change whenever their extension registers again: always revalidate (cheap, by ETag).
const MODULE_CACHE_CONTROL: &str = "private, no-cache";

fn not_found(uri: &str) -> ApiError {
    ErrorBody::new(
        ErrorCode::ResourceNotFound,
        format!("no resource {uri:?} is registered"),
    )
    .into()
}

/// `"<first 32 hex digits of sha256(source)>"`.
pub fn module_etag(source: &str) -> String {
    strong_etag(&source_hash(source))
}

pub async fn module(
    State(registry): State<Arc<Registry>>,
    State(modules): State<Arc<TranspileCache>>,
    Authenticated(caller): Authenticated,
    Path((prefix, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(&registry, &modules, &caller, &prefix, &name, &headers).await
}

/// `GET /ui/module/{token}/{prefix}/{*name}` on the UI sandbox listener: the same module for a
/// sandboxed JSX frame, with its scoped token in the path (module imports send no headers). A page
/// may import the modules of any extension its user sees.
pub async fn sandboxed(
    State(auth): State<Arc<Auth>>,
    State(registry): State<Arc<Registry>>,
    State(modules): State<Arc<TranspileCache>>,
    Path((token, prefix, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (caller, _scope) = scoped_caller(&auth, &token).await?;
    serve(&registry, &modules, &caller, &prefix, &name, &headers).await
}

async fn serve(
    registry: &Registry,
    modules: &TranspileCache,
    caller: &Caller,
    prefix: &str,
    name: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let uri = format!("ui://{prefix}/{name}");
    if validate_prefix(prefix).is_err() || !caller.sees(prefix) {
        return Err(not_found(&uri));
    }
    let record = registry
        .current_record(prefix)
        .await?
        .ok_or_else(|| not_found(&uri))?;
    let resource = record
        .manifest
        .resources
        .iter()
        .find(|r| r.uri == uri)
        .cloned()
        .ok_or_else(|| not_found(&uri))?;
    if !is_module_mime(&resource.mime_type) {
        return Err(ErrorBody::new(
            ErrorCode::NotAModule,
            format!("resource {uri:?} is {:?}, not a module", resource.mime_type),
        )
        .with_hint("only text/symphony-jsx and text/symphony-module resources are modules")
        .into());
    }
    let etag = module_etag(&resource.content);
    let cache_headers = validators(&etag, MODULE_CACHE_CONTROL);
    if not_modified(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, cache_headers).into_response());
    }
    let source: Arc<str> = resource.content.into();
    let outcome = modules.get(&uri, &source).await;
    Ok(match into_body(&uri, &outcome) {
        Ok(body) => (
            cache_headers,
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response(),
        Err(e) => e.into_response(),
    })
}

/// The module text with its `sourceURL`, or the `jsx_syntax_error` / `module_too_complex` naming
/// the URI.
fn into_body(uri: &str, outcome: &Outcome) -> Result<String, ApiError> {
    match outcome {
        Ok(js) => Ok(format!("{js}\n//# sourceURL={uri}\n")),
        Err(e) => {
            let code = if e.too_complex {
                ErrorCode::ModuleTooComplex
            } else {
                ErrorCode::JsxSyntaxError
            };
            let mut body = ErrorBody::new(code, e.message.clone()).with_location(SourceLocation {
                file: uri.to_owned(),
                line: e.line,
                column: e.column,
            });
            body.hint = e.hint.clone();
            Err(body.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::jsx::{SyntaxError, transpile};

    #[test]
    fn the_etag_is_the_quoted_start_of_the_source_hash() {
        let etag = module_etag("export {}");
        assert_eq!(etag.len(), 34);
        assert!(etag.starts_with('"') && etag.ends_with('"'));
        assert_ne!(etag, module_etag("export {};"));
        assert_eq!(etag, module_etag("export {}"));
    }

    #[test]
    fn the_body_ends_with_the_source_url() {
        let body = into_body("ui://catalog/home", &transpile("export const a = <b/>;")).unwrap();
        assert!(
            body.ends_with("\n//# sourceURL=ui://catalog/home\n"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_syntax_error_renders_as_422_with_its_location() {
        let outcome: Outcome = Err(SyntaxError {
            message: "Unexpected token".into(),
            hint: None,
            line: 4,
            column: 19,
            too_complex: false,
        });
        let response = into_body("ui://p/n", &outcome).unwrap_err().into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "jsx_syntax_error", "message": "Unexpected token",
                "location": {"file": "ui://p/n", "line": 4, "column": 19}})
        );
    }
}

//! "Languages and Libraries": the SDK packages built by `scripts/package-sdks.sh` (the Python wheel and
//! the Rust SDK source tarball), embedded in the binary and served from the instance: a JSON list at
//! `/api/v1/libraries`, the files at `/downloads/{file}`, and a PEP 503 simple index at `/pypi/simple/`.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sha2::{Digest, Sha256};

use symphony_protocol::messages::SymphonyInfo;

/// Where `/pypi/simple/<other project>/` redirects (the SDK's dependencies).
#[derive(Clone)]
pub struct PypiUpstream(pub Arc<str>);

/// `/api/v1/libraries`, `/downloads/{file}` and the PEP 503 index under `/pypi/simple/`.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<SymphonyInfo>: FromRef<S>,
    PypiUpstream: FromRef<S>,
{
    Router::new()
        .route("/api/v1/libraries", get(list))
        .route("/downloads/{file}", get(download))
        .route("/pypi/simple/", get(simple_root))
        .route("/pypi/simple/{*project}", get(simple_project))
}

/// The PEP 503 name of the Python SDK.
const PYTHON_PROJECT: &str = "cirata-symphony";

#[derive(rust_embed::Embed)]
#[folder = "../../dist/"]
#[include = "*.whl"]
#[include = "*.tar.gz"]
#[allow_missing = true]
struct Dist;

/// One downloadable SDK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Library {
    pub language: &'static str,
    pub name: &'static str,
    pub version: String,
    pub file: String,
    pub url: String,
    pub sha256: String,
    pub size: usize,
    pub install: String,
}

/// `cirata_symphony-0.1.0-py3-none-any.whl` → `0.1.0`; `cirata-symphony-rust-0.1.0.tar.gz` → `0.1.0`.
fn version_of(file: &str) -> Option<String> {
    if let Some(rest) = file.strip_prefix("cirata_symphony-") {
        return rest.split('-').next().map(str::to_owned);
    }
    file.strip_prefix("cirata-symphony-rust-")?
        .strip_suffix(".tar.gz")
        .map(str::to_owned)
}

fn libraries(origin: &str) -> Vec<Library> {
    let mut out: Vec<Library> = Dist::iter()
        .filter_map(|file| {
            let data = Dist::get(&file)?.data;
            let version = version_of(&file)?;
            let (language, name, install) = if file.ends_with(".whl") {
                ("python", PYTHON_PROJECT, format!("pip install --index-url {origin}/pypi/simple {PYTHON_PROJECT}"))
            } else {
                (
                    "rust",
                    "cirata-symphony",
                    format!(
                        "curl -fsSLO {origin}/downloads/{file} && tar xzf {file}   # then depend on cirata-symphony by path"
                    ),
                )
            };
            Some(Library {
                language,
                name,
                version,
                url: format!("{origin}/downloads/{file}"),
                sha256: hex(&Sha256::digest(&data)),
                size: data.len(),
                install,
                file: file.into_owned(),
            })
        })
        .collect();
    out.sort_by(|a, b| (a.language, &a.file).cmp(&(b.language, &b.file)));
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// PEP 503 name normalization.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().map(|c| c.to_ascii_lowercase()) {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c);
        }
    }
    out
}

async fn list(State(info): State<Arc<SymphonyInfo>>) -> Json<Vec<Library>> {
    Json(libraries(&info.origin))
}

async fn download(Path(file): Path<String>) -> Response {
    match Dist::get(&file) {
        Some(f) => {
            let mime = if file.ends_with(".whl") {
                "application/zip"
            } else {
                "application/gzip"
            };
            let disposition = format!("attachment; filename=\"{file}\"");
            (
                [
                    (header::CONTENT_TYPE, mime.to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                f.data.into_owned(),
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

async fn simple_root() -> Html<String> {
    Html(format!(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Simple index</title></head>\
         <body><a href=\"{PYTHON_PROJECT}/\">{PYTHON_PROJECT}</a></body></html>\n"
    ))
}

/// The project page for the SDK; any other project is redirected to the upstream index so that the
/// SDK's own dependencies resolve with `--index-url` alone.
async fn simple_project(
    State(info): State<Arc<SymphonyInfo>>,
    State(PypiUpstream(pypi_upstream)): State<PypiUpstream>,
    Path(project): Path<String>,
) -> Response {
    let name = normalize(project.trim_end_matches('/'));
    if name != PYTHON_PROJECT {
        return Redirect::temporary(&format!("{}/{name}/", pypi_upstream.trim_end_matches('/')))
            .into_response();
    }
    if project.trim_end_matches('/') != name {
        return Redirect::permanent(&format!("/pypi/simple/{name}/")).into_response();
    }
    let links: String = libraries(&info.origin)
        .into_iter()
        .filter(|l| l.language == "python")
        .map(|l| format!("<a href=\"/downloads/{0}#sha256={1}\" data-requires-python=\"&gt;=3.10\">{0}</a><br>\n", l.file, l.sha256))
        .collect();
    Html(format!(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Links for {PYTHON_PROJECT}</title></head>\
         <body><h1>Links for {PYTHON_PROJECT}</h1>\n{links}</body></html>\n"
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_names() {
        assert_eq!(
            version_of("cirata_symphony-0.1.0-py3-none-any.whl").as_deref(),
            Some("0.1.0")
        );
        assert_eq!(
            version_of("cirata-symphony-rust-0.1.0.tar.gz").as_deref(),
            Some("0.1.0")
        );
        assert_eq!(version_of("other.whl"), None);
        assert_eq!(normalize("Cirata_Symphony"), "cirata-symphony");
        assert_eq!(normalize("a.-_b"), "a-b");
    }
}

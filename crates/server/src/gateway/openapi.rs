//! `GET /api/v1/openapi.json` (the platform's own API plus every live extension's, grouped per
//! extension) and Swagger UI at `/help/access/swagger`, served from the vendored `swagger-ui-dist`.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Gateway;
use super::platform_openapi::platform_document;
use super::proxy::BASE;
use crate::http::Authenticated;

/// `swagger-ui-dist` from npm, vendored by `scripts/bootstrap.sh` into `web/node_modules`.
#[derive(rust_embed::Embed)]
#[folder = "../../web/node_modules/swagger-ui-dist/"]
#[include = "swagger-ui-bundle.js"]
#[include = "swagger-ui.css"]
#[include = "favicon-32x32.png"]
#[allow_missing = true]
struct SwaggerAssets;

/// Rewrites `#/components/<kind>/<Name>` references to the namespaced `<prefix>.<Name>`.
fn namespace_refs(value: &mut Value, prefix: &str) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "$ref"
                    && let Value::String(s) = v
                    && let Some(rest) = s.strip_prefix("#/components/")
                    && let Some((kind, name)) = rest.split_once('/')
                {
                    *s = format!("#/components/{kind}/{prefix}.{name}");
                } else {
                    namespace_refs(v, prefix);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| namespace_refs(v, prefix)),
        _ => {}
    }
}

/// Merges one extension document into the aggregate: paths under the extension base, operations
/// tagged with the extension, components namespaced by prefix.
fn merge_extension(out: &mut Value, prefix: &str, name: &str, mut doc: Value) {
    namespace_refs(&mut doc, prefix);
    let tag = format!("{name} ({prefix})");
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            let mut item = item.clone();
            if let Some(ops) = item.as_object_mut() {
                for op in ops.values_mut().filter(|v| v.is_object()) {
                    if op.get("operationId").is_some()
                        || op.get("responses").is_some()
                        || op.get("summary").is_some()
                    {
                        op["tags"] = json!([tag]);
                        op.as_object_mut()
                            .map(|o| o.entry("security").or_insert(json!([{"bearer": []}])));
                    }
                }
            }
            let full = format!("{}{prefix}{path}", BASE);
            out["paths"][&full] = item;
        }
    }
    if let Some(components) = doc.get("components").and_then(Value::as_object) {
        for (kind, entries) in components {
            let Some(entries) = entries.as_object() else {
                continue;
            };
            for (entry, v) in entries {
                if !out["components"][kind].is_object() {
                    out["components"][kind] = Value::Object(Map::new());
                }
                out["components"][kind][format!("{prefix}.{entry}")] = v.clone();
            }
        }
    }
    let description = doc
        .pointer("/info/description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(tags) = out["tags"].as_array_mut() {
        tags.push(json!({"name": tag, "description": description}));
    }
}

/// Behind sign-in (it lists every extension's API): a user sees the extensions their roles show, an
/// API key every one (as `GET /api/v1/extensions/all`).
pub async fn openapi_json(
    State(gateway): State<Gateway>,
    Authenticated(caller): Authenticated,
) -> Response {
    let mut out = platform_document();
    for routes in gateway
        .all_routes()
        .into_iter()
        .filter(|r| caller.sees(&r.prefix))
    {
        for doc in &routes.documents {
            merge_extension(&mut out, &routes.prefix, &routes.name, doc.clone());
        }
    }
    axum::Json(out).into_response()
}

const SWAGGER_PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Symphony API</title>
<link rel="stylesheet" href="/help/access/swagger/assets/swagger-ui.css">
<link rel="icon" href="/help/access/swagger/assets/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="/help/access/swagger/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#swagger-ui", deepLinking: true});</script>
</body></html>"##;

pub async fn swagger_page() -> Response {
    if SwaggerAssets::get("swagger-ui-bundle.js").is_none() {
        let msg =
            "Swagger UI was not vendored into this build; run scripts/bootstrap.sh and rebuild";
        return (StatusCode::SERVICE_UNAVAILABLE, msg).into_response();
    }
    Html(SWAGGER_PAGE).into_response()
}

pub async fn swagger_asset(Path(file): Path<String>) -> Response {
    match SwaggerAssets::get(&file) {
        Some(asset) => {
            let mime = match file.rsplit('.').next() {
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                Some("png") => "image/png",
                _ => "application/octet-stream",
            };
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, "public, max-age=86400"),
                ],
                asset.data.into_owned(),
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_documents_are_grouped_and_namespaced() {
        let mut out = platform_document();
        let doc = json!({"info": {"description": "Items"},
            "paths": {"/items": {"get": {"operationId": "list",
                "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}}}}}},
            "components": {"schemas": {"Item": {"type": "object"}}}});
        merge_extension(&mut out, "catalog", "Catalog", doc);
        let op = &out["paths"]["/api/v1/extension/catalog/items"]["get"];
        assert_eq!(op["tags"][0], "Catalog (catalog)");
        assert_eq!(
            op.pointer("/responses/200/content/application~1json/schema/$ref")
                .unwrap(),
            "#/components/schemas/catalog.Item"
        );
        assert!(out["components"]["schemas"]["catalog.Item"].is_object());
        assert!(out["components"]["schemas"]["Error"].is_object());
        assert!(out["paths"]["/api/v1/ping"].is_object());
    }
}

//! The OpenAPI description of the platform's own REST API (`api/mod.rs` and the gateway's own
//! routes): the first part of `GET /api/v1/openapi.json`, what Swagger UI shows and what the
//! schemathesis fuzz test (`python/tests/test_fuzz_rest.py`) generates requests from. A test checks
//! that every route `api/mod.rs` registers is described here, so the two cannot drift.

use serde_json::{Value, json};

const TAG: &str = "Symphony";

fn error_ref() -> Value {
    json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}})
}

/// One operation: `auth` adds the bearer requirement and its 401; `body` a JSON request body.
fn op(summary: &str, auth: bool, params: &[&str], body: Option<Value>) -> Value {
    let mut o = json!({"summary": summary, "tags": [TAG],
        "responses": {"200": {"description": "OK"}, "default": {"description": "a typed error",
            "content": error_ref()}}});
    if auth {
        o["security"] = json!([{"bearer": []}]);
        o["responses"]["401"] = json!({"description": "missing, invalid, expired or revoked token", "content": error_ref()});
    }
    if !params.is_empty() {
        o["parameters"] = params
            .iter()
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
    }
    if let Some(schema) = body {
        o["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    o
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

/// A capability: `"pub:extensions.x.>"` or the full object.
fn capabilities() -> Value {
    json!({"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "object"}]}})
}

/// The platform's own REST API as an OpenAPI 3.1 document (no extension routes).
pub fn platform_document() -> Value {
    let login = json!({"type": "object", "required": ["username", "password"],
        "properties": {"username": {"type": "string"}, "password": {"type": "string"}}});
    let create_key = json!({"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "notes": {"type": "string"}, "registration": {"type": "boolean"},
        "capabilities": capabilities(), "prefix": {"type": "string"}, "buckets": strings(),
        "expires_in": {"type": "string"}}});
    let update_key = json!({"type": "object", "properties": {"notes": {"type": "string"},
        "expires_in": {"type": "string"}, "capabilities": capabilities()}});
    let create_user = json!({"type": "object", "required": ["username", "password"], "properties": {
        "username": {"type": "string"}, "password": {"type": "string"},
        "display_name": {"type": "string"}, "roles": strings()}});
    let update_user = json!({"type": "object", "properties": {"password": {"type": "string"},
        "display_name": {"type": "string"}, "roles": strings(), "disabled": {"type": "boolean"}}});
    let role = json!({"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "description": {"type": "string"}, "pub": strings(),
        "sub": strings(), "extensions": strings()}});
    let limits = json!({"type": "object", "properties": {
        "disk_storage": {"type": "integer"}, "mem_storage": {"type": "integer"},
        "streams": {"type": "integer"}, "consumer": {"type": "integer"}}});
    let mut apikey = op(
        "Exchange a token for its API key (NATS JWT, seed, URLs) for a new instance, or ?instance=<id> to renew one",
        true,
        &[],
        None,
    );
    apikey["parameters"] = json!([{"name": "instance", "in": "query", "required": false,
        "schema": {"type": "string"}}]);
    let mut command = op(
        "Run a command the extension declares: exactly one instance handles it",
        true,
        &["prefix", "name"],
        None,
    );
    command["requestBody"] =
        json!({"required": false, "content": {"application/json": {"schema": {}}}});
    let signed_license = json!({"type": "object", "required": ["payload", "signature", "vendor_key"],
        "properties": {"payload": {"type": "string"}, "signature": {"type": "string"},
            "vendor_key": {"type": "string"}}});
    let mut audit = op("The audit log, newest first", true, &[], None);
    audit["parameters"] = json!([{"name": "limit", "in": "query", "required": false,
        "schema": {"type": "integer", "minimum": 0}}]);
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Symphony", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The Symphony platform API and the REST APIs of its extensions."},
        "tags": [{"name": TAG, "description": "The platform's own API"}],
        "paths": {
            "/api/v1/ping": {"get": op("Liveness: {\"message\":\"pong\"}", false, &[], None)},
            "/api/v1/health": {"get": op("200 when NATS is reachable, 503 otherwise", false, &[], None)},
            "/api/v1/ready": {"get": op("200 once the server serves requests", false, &[], None)},
            "/api/v1/symphonyinfo": {"get": op("Instance name, version and NATS addresses", false, &[], None)},
            "/api/v1/apikey": {"get": apikey},
            "/api/v1/extensions/all": {"get": op("Every registered extension and its state", true, &[], None)},
            "/api/v1/extensions/{prefix}": {"get": op("One extension", true, &["prefix"], None)},
            "/api/v1/extensions/{prefix}/account": {"get": op("An extension's NATS account and limits (admin)", true, &["prefix"], None)},
            "/api/v1/extensions/{prefix}/commands/{name}": {"post": command},
            "/api/v1/extensions/{prefix}/limits": {"put": op("Set an extension's JetStream limits (admin)", true, &["prefix"], Some(limits))},
            "/api/v1/login": {"post": op("Sign in: a session token and cookie", false, &[], Some(login))},
            "/api/v1/logout": {"post": op("End the session", true, &[], None)},
            "/api/v1/userinfo": {"get": op("The signed-in user", true, &[], None)},
            "/api/v1/usertoken": {"get": op("The browser's bearer for the session", true, &[], None)},
            "/api/v1/usertoken/scoped": {"post": op(
                "Credentials for one extension's UI frames: a bearer only its gateway routes accept, NATS limited to its subjects",
                true, &[], Some(json!({"type": "object", "required": ["prefix"],
                    "properties": {"prefix": {"type": "string"}}})))},
            "/api/v1/keys": {
                "get": op("API keys the caller may see", true, &[], None),
                "post": op("Create an API key or registration token", true, &[], Some(create_key))},
            "/api/v1/key/{id}": {
                "put": op("Update a key's notes, expiry or capabilities", true, &["id"], Some(update_key)),
                "delete": op("Revoke a key", true, &["id"], None)},
            "/api/v1/users": {
                "get": op("Users (admin)", true, &[], None),
                "post": op("Create a user (admin)", true, &[], Some(create_user))},
            "/api/v1/users/{name}": {
                "put": op("Update a user (admin)", true, &["name"], Some(update_user)),
                "delete": op("Delete a user (admin)", true, &["name"], None)},
            "/api/v1/roles": {"get": op("Roles (admin)", true, &[], None)},
            "/api/v1/roles/{name}": {
                "put": op("Create or replace a role (admin)", true, &["name"], Some(role)),
                "delete": op("Delete a role (admin)", true, &["name"], None)},
            "/api/v1/audit": {"get": audit},
            "/api/v1/licenses": {
                "get": op("Licenses with their state and consumption (admin)", true, &[], None),
                "post": op("Upload a signed license (admin): 201 with its view", true, &[], Some(signed_license))},
            "/api/v1/licenses/{id}": {"delete": op("Revoke a license (admin)", true, &["id"], None)},
            "/api/v1/usage/enforcement": {"get": op("The enforcement state", true, &[], None)},
            "/api/v1/ui/module/{prefix}/{name}": {"get": op(
                "An extension's UI module, transpiled to JavaScript", true, &["prefix", "name"], None)},
            "/api/v1/openapi.json": {"get": op("This document, with the extensions the caller sees", true, &[], None)},
            "/metrics": {"get": op("The server's counters in the Prometheus text format", false, &[], None)}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}, "hint": {"type": "string"}}}}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(path, method)` of every `.route(…)` in `api/mod.rs` and the licensing routes, read from
    /// their sources.
    fn api_routes() -> Vec<(String, String)> {
        let sources = [
            include_str!("../api/mod.rs"),
            include_str!("../licensing/routes.rs"),
        ];
        let mut out = Vec::new();
        for chunk in sources.iter().flat_map(|s| s.split(".route(").skip(1)) {
            let path = chunk.split('"').nth(1).expect("a quoted path");
            // The handlers end at the route call's closing `)` on its own or before `.route`.
            let call = chunk.split("\n        .").next().unwrap_or(chunk);
            for method in ["get", "post", "put", "delete", "patch"] {
                if call.contains(&format!("{method}(")) {
                    out.push((path.replace("{*", "{"), method.to_owned()));
                }
            }
        }
        out
    }

    #[test]
    fn every_platform_route_is_in_the_document() {
        let doc = platform_document();
        let routes = api_routes();
        assert!(routes.len() >= 20, "read the routes: {routes:?}");
        for (path, method) in routes {
            assert!(
                doc["paths"][&path][&method].is_object(),
                "{method} {path} is registered in api/mod.rs but not described"
            );
        }
    }

    #[test]
    fn every_path_parameter_is_declared() {
        let doc = platform_document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let declared: Vec<&str> = op["parameters"]
                    .as_array()
                    .map(|p| p.iter().filter_map(|p| p["name"].as_str()).collect())
                    .unwrap_or_default();
                for segment in path.split('/') {
                    if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
                    {
                        assert!(declared.contains(&name), "{method} {path}: {name}");
                    }
                }
            }
        }
    }
}

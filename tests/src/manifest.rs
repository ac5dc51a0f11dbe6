//! Hand-written manifests and provisioning requests for tests that talk to the registry directly.

use serde_json::{Value, json};

/// A minimal valid manifest (§5.2) for `prefix`.
pub fn minimal(name: &str, prefix: &str) -> Value {
    json!({
        "manifest_version": 1,
        "name": name,
        "prefix": prefix,
        "description": format!("{name} (symphony-tests)"),
        "sdk": {"name": "symphony-tests", "version": "0.0.0"},
        "capabilities": [{"kind": "sub", "subject": format!("extensions.{prefix}.>"), "description": "all"}],
        "resources": [],
        "routes": [],
        "menus": [],
        "widgets": [],
        "buckets": [],
        "endpoints": []
    })
}

/// A minimal manifest that declares `buckets`.
pub fn with_buckets(name: &str, prefix: &str, buckets: &[&str]) -> Value {
    let mut m = minimal(name, prefix);
    m["buckets"] = buckets
        .iter()
        .map(|b| json!({"name": b, "description": "test data", "ttl": 0, "max_history_per_key": 0, "max_bucket_size": 0}))
        .collect();
    m
}

/// A `ProvisionRequest` (§5.1).
pub fn provision_request(name: &str, prefix: &str) -> Value {
    json!({
        "v": 1,
        "name": name,
        "prefix": prefix,
        "capabilities": [{"kind": "sub", "subject": format!("extensions.{prefix}.>"), "description": "all"}],
        "buckets": []
    })
}

//! A complete extension: capabilities, a JSX page with route and menu, a help page, a key-value bucket,
//! and a micro service with `list` and `add` endpoints (the Python SDK's "Complete Example" in Rust).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::process::ExitCode;

use cirata_symphony::async_nats::jetstream::kv::Store;
use cirata_symphony::{BucketConfig, Extension, HandlerError, Request, ServiceConfig};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

const BUCKET: &str = "catalog_items";
const HOME_PAGE: &str = include_str!("../pages/home.tsx");
const HELP_PAGE: &str = include_str!("../pages/help.md");

/// KV keys go through the bucket's subjects directly: async-nats only accepts ADR-8 keys
/// (`[-/_=.a-zA-Z0-9]`), but the catalog keeps the Python SDK's `item:<id>` keys (nats-server accepts `:`),
/// so a Python and a Rust catalog can share the bucket.
mod items {
    use cirata_symphony::HandlerError;
    use cirata_symphony::async_nats::jetstream::{self, kv::Store};
    use cirata_symphony::protocol::names::is_literal_token;
    use futures::TryStreamExt;
    use serde_json::Value;

    /// Whether `id` can be part of a key: dot-separated tokens without spaces or wildcards.
    pub fn valid_id(id: &str) -> bool {
        id.split('.').all(is_literal_token)
    }

    /// Every item, in key order.
    pub async fn all(kv: &Store) -> Result<Vec<Value>, HandlerError> {
        let mut keys: Vec<String> = kv.keys().await?.try_collect().await?;
        keys.sort();
        let mut items = Vec::with_capacity(keys.len());
        for key in keys {
            let subject = format!("{}{key}", kv.prefix);
            let message = kv.stream.get_last_raw_message_by_subject(&subject).await?;
            if !message.payload.is_empty() {
                items.push(serde_json::from_slice(&message.payload)?);
            }
        }
        Ok(items)
    }

    /// Stores `value` under `key` and waits for the JetStream ack.
    pub async fn put(
        nc: &cirata_symphony::async_nats::Client,
        kv: &Store,
        key: &str,
        value: &Value,
    ) -> Result<(), HandlerError> {
        let prefix = kv.put_prefix.as_deref().unwrap_or(&kv.prefix);
        jetstream::new(nc.clone())
            .publish(format!("{prefix}{key}"), serde_json::to_vec(value)?.into())
            .await?
            .await?;
        Ok(())
    }
}

/// `list`: every item in the bucket, as a JSON array.
async fn list_items(kv: Store) -> Result<Vec<u8>, HandlerError> {
    Ok(serde_json::to_vec(&items::all(&kv).await?)?)
}

/// The item's `id`, or a hash of its JSON when it has none.
fn item_id(item: &Value) -> String {
    match item.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            let mut hasher = DefaultHasher::new();
            item.to_string().hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        }
    }
}

fn reply(value: Value) -> Result<Vec<u8>, HandlerError> {
    Ok(serde_json::to_vec(&value)?)
}

/// `add`: stores a JSON object under `item:<id>`.
async fn add_item(kv: Store, req: Request) -> Result<Vec<u8>, HandlerError> {
    let Ok(item) = req.json::<Value>() else {
        return reply(json!({"error": "Invalid JSON"}));
    };
    if !item.is_object() {
        return reply(json!({"error": "expected a JSON object"}));
    }
    let id = item_id(&item);
    if !items::valid_id(&id) {
        return reply(json!({"error": format!("invalid id {id:?}: no spaces or wildcards")}));
    }
    items::put(req.nc(), &kv, &format!("item:{id}"), &item).await?;
    reply(json!({"status": "created", "id": id}))
}

async fn run() -> cirata_symphony::Result<()> {
    let mut ext =
        Extension::new("Catalog", "catalog").with_description("Manages a catalog of items");

    ext.add_capability("sub", "extensions.catalog", "Catalog Extension")?
        .add_capability("sub", "extensions.catalog.list", "List items")?
        .add_capability("sub", "extensions.catalog.add", "Add items")?;

    ext.add_resource("ui://catalog/home", "text/symphony-jsx", HOME_PAGE)?
        .add_route("/catalog", "ui://catalog/home")?
        .add_menu("main", "Catalog", "/catalog", "fa-book")?;

    ext.add_resource("ui://catalog/help", "text/markdown", HELP_PAGE)?
        .add_route("/help/extensions/Catalog", "ui://catalog/help")?;

    ext.add_bucket(BucketConfig::new(BUCKET).description("Catalog item storage"))?;

    ext.connect().await?;
    let kv = ext.kv(BUCKET).await?;
    let service = ext
        .add_endpoints(ServiceConfig::new("catalog", "1.0.0").description("Catalog service"))
        .await?;
    let group = service.add_group("cirata.extensions.catalog");
    let list_kv = kv.clone();
    group
        .add_endpoint("list", move |_req: Request| list_items(list_kv.clone()))
        .await?;
    group
        .add_endpoint("add", move |req: Request| add_item(kv.clone(), req))
        .await?;

    ext.run().await
}

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
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("unable to run the Catalog extension: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_item_or_its_content() {
        assert_eq!(item_id(&json!({"id": "a1", "name": "x"})), "a1");
        assert_eq!(item_id(&json!({"id": 7})), "7");
        let h = item_id(&json!({"name": "x"}));
        assert_eq!(h.len(), 16);
        assert_eq!(h, item_id(&json!({"name": "x"})));
        assert_ne!(h, item_id(&json!({"name": "y"})));
        assert!(items::valid_id("a1") && items::valid_id("a.b") && items::valid_id(&h));
        assert!(!items::valid_id("a b") && !items::valid_id("") && !items::valid_id("a.*"));
    }

    #[test]
    fn the_pages_are_valid_declarations() {
        let mut ext = Extension::new("Catalog", "catalog");
        ext.add_resource("ui://catalog/home", "text/symphony-jsx", HOME_PAGE)
            .unwrap();
        ext.add_resource("ui://catalog/help", "text/markdown", HELP_PAGE)
            .unwrap();
        assert!(HELP_PAGE.starts_with("---\ntitle:"));
    }
}

//! Unit tests of the declarations: each rule without a server.

use std::time::Duration;

use super::*;

fn code(e: Error) -> ErrorCode {
    e.server_error().expect("a typed error").code
}

fn catalog() -> Declarations {
    Declarations::new("Catalog".into(), "catalog".into())
}

fn bucket(name: &str, max_history_per_key: u32) -> BucketConfig {
    BucketConfig::new(name).max_history_per_key(max_history_per_key)
}

#[test]
fn a_bad_name_or_prefix_is_reported_by_every_call() {
    let mut d = Declarations::new("Bad".into(), "Bad-Prefix".into());
    assert_eq!(code(d.check_valid().unwrap_err()), ErrorCode::InvalidPrefix);
    assert_eq!(
        code(d.add_capability("sub", "extensions.x", "").unwrap_err()),
        ErrorCode::InvalidPrefix
    );
    assert_eq!(
        code(d.add_bucket(bucket("x", 0)).unwrap_err()),
        ErrorCode::InvalidPrefix
    );
    assert_eq!(
        code(d.add_route(Route::new("/x", "ui://x/y")).unwrap_err()),
        ErrorCode::InvalidPrefix
    );
    assert_eq!(
        code(
            d.put_resource("ui://x/y", "text/markdown", String::new())
                .unwrap_err()
        ),
        ErrorCode::InvalidPrefix
    );
    let nameless = Declarations::new(" ".into(), "ok".into());
    assert_eq!(
        code(nameless.check_valid().unwrap_err()),
        ErrorCode::InvalidManifest
    );
    assert!(catalog().check_valid().is_ok());
}

#[test]
fn capabilities_are_checked_against_the_own_prefix() {
    let mut d = catalog();
    d.add_capability("sub", "extensions.catalog.>", "all")
        .unwrap();
    d.add_capability("pub", "extensions.other.process", "one call")
        .unwrap();
    assert_eq!(
        code(
            d.add_capability("pub", "extensions.other.>", "")
                .unwrap_err()
        ),
        ErrorCode::CapabilityForbidden
    );
    assert_eq!(
        code(d.add_capability("sub", "nope.x", "").unwrap_err()),
        ErrorCode::InvalidCapability
    );
    assert_eq!(
        code(
            d.add_capability("both", "extensions.catalog", "")
                .unwrap_err()
        ),
        ErrorCode::InvalidCapability
    );
    // Repeats are idempotent.
    d.add_capability("sub", "extensions.catalog.>", "again")
        .unwrap();
    assert_eq!(d.manifest(Vec::new()).capabilities.len(), 2);
}

#[test]
fn a_bucket_is_named_within_limits_and_declared_once() {
    let mut d = catalog();
    assert_eq!(
        code(d.add_bucket(bucket("symphony_items", 0)).unwrap_err()),
        ErrorCode::InvalidBucket
    );
    assert_eq!(
        code(d.add_bucket(bucket("catalog_items", 65)).unwrap_err()),
        ErrorCode::InvalidBucket
    );
    d.add_bucket(bucket("catalog_items", 64)).unwrap();
    let twice = d.add_bucket(bucket("catalog_items", 0)).unwrap_err();
    assert!(twice.to_string().contains("declared twice"), "{twice}");
    assert_eq!(code(twice), ErrorCode::InvalidBucket);
    d.add_bucket("catalog".into()).unwrap();
    d.add_bucket("runtime_data".into()).unwrap();
    assert_eq!(d.manifest(Vec::new()).buckets.len(), 3);
}

#[test]
fn a_bucket_ttl_is_whole_seconds() {
    let mut d = catalog();
    let e = d
        .add_bucket(BucketConfig::new("catalog_cache").ttl(Duration::from_millis(1500)))
        .unwrap_err();
    assert!(e.to_string().contains("whole number of seconds"), "{e}");
    assert_eq!(code(e), ErrorCode::InvalidBucket);
    assert!(d.manifest(Vec::new()).buckets.is_empty(), "nothing kept");
}

#[test]
fn bucket_options_reach_the_manifest_as_the_wire_has_them() {
    let mut d = catalog();
    d.add_bucket(
        BucketConfig::new("catalog_cache")
            .description("cache")
            .ttl(Duration::from_secs(3600))
            .max_history_per_key(5)
            .max_bucket_size(1 << 20),
    )
    .unwrap();
    d.add_bucket("catalog_items".into()).unwrap();
    let buckets = d.manifest(Vec::new()).buckets;
    assert_eq!(
        buckets[0],
        BucketSpec {
            name: "catalog_cache".into(),
            description: "cache".into(),
            ttl: 3600,
            max_history_per_key: 5,
            max_bucket_size: 1 << 20,
        }
    );
    assert_eq!(
        serde_json::to_value(&buckets[1]).unwrap(),
        serde_json::json!({"name": "catalog_items", "description": "", "ttl": 0,
                           "max_history_per_key": 0, "max_bucket_size": 0}),
        "a bare name declares the defaults of docs/protocol.md §5.2"
    );
}

#[test]
fn resources_routes_menus_and_widgets_are_validated() {
    let mut d = catalog();
    let add = |d: &mut Declarations, uri: &str, mime: &str, content: &str| {
        d.add_resource(uri, mime, content.to_owned())
    };
    assert!(add(&mut d, "ui://catalog/home", "text/plain", "").is_err());
    assert!(add(&mut d, "ui://other/home", "text/markdown", "").is_err());
    assert!(add(&mut d, "ui://catalog/t", "text/html+htmx", "<p>").is_err());
    add(&mut d, "ui://catalog/home", "text/symphony-jsx", "x").unwrap();
    let twice = add(&mut d, "ui://catalog/home", "text/markdown", "").unwrap_err();
    assert!(twice.to_string().contains("update_resource"), "{twice}");
    d.add_htmx_resource("ui://catalog/table", "pages/table")
        .unwrap();
    assert_eq!(
        d.manifest(Vec::new()).resources[1].content,
        r#"{"entry":"pages/table"}"#
    );

    assert!(
        d.add_route(Route::new("no-slash", "ui://catalog/home"))
            .is_err()
    );
    assert!(
        d.add_route(Route::new("/a b", "ui://catalog/home"))
            .is_err()
    );
    let nested_bad = Route::new("/catalog", "ui://catalog/home").with_children(vec![
        Route::new("/s", "ui://catalog/s").with_children(vec![Route::new("bad", "ui://catalog/x")]),
    ]);
    assert!(d.add_route(nested_bad).is_err());
    assert!(d.add_menu("main", "", "/catalog", "fa-book").is_err());
    assert!(d.add_menu("main", "Catalog", "catalog", "fa-book").is_err());
    assert!(d.add_widget("ui://nope/w", "W", "").is_err());
    d.add_widget("ui://catalog/home", "Home", "").unwrap();
}

#[test]
fn put_resource_replaces_or_adds_with_the_same_checks() {
    let mut d = catalog();
    d.add_resource("ui://catalog/home", "text/symphony-jsx", "v1".into())
        .unwrap();
    d.put_resource("ui://catalog/home", "text/symphony-jsx", "v2".into())
        .unwrap();
    d.put_resource("ui://catalog/help", "text/markdown", "# Help".into())
        .unwrap();
    for (uri, mime, content) in [
        ("ui://other/home", "text/markdown", ""),
        ("ui://catalog/home", "text/plain", ""),
        ("ui://catalog/t", "text/html+htmx", "<p>"),
    ] {
        let e = d.put_resource(uri, mime, content.into()).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{uri} {mime}: {e}");
    }
    let resources = d.manifest(Vec::new()).resources;
    assert_eq!(resources.len(), 2);
    assert_eq!(resources[0].content, "v2");
    assert_eq!(resources[1].uri, "ui://catalog/help");
}

#[test]
fn the_manifest_and_provision_request_carry_every_declaration() {
    let mut d = catalog();
    d.set_description("Items".into());
    d.add_capability("sub", "extensions.catalog.list", "List")
        .unwrap();
    // A route may name resources declared later.
    d.add_route(
        Route::new("/catalog", "ui://catalog/home")
            .with_children(vec![Route::new("/settings", "ui://catalog/settings")]),
    )
    .unwrap();
    d.add_resource("ui://catalog/home", "text/symphony-jsx", "x".into())
        .unwrap();
    d.add_resource("ui://catalog/settings", "text/symphony-jsx", "y".into())
        .unwrap();
    d.add_menu("main", "Catalog", "/catalog", "fa-book")
        .unwrap();
    d.add_bucket(bucket("catalog_items", 0)).unwrap();
    let service = ServiceSpec {
        service: "catalog".into(),
        version: "1.0.0".into(),
        description: String::new(),
        metadata: Default::default(),
        endpoints: Vec::new(),
    };

    let m = d.manifest(vec![service]);
    assert_eq!(m.manifest_version, PROTOCOL_VERSION);
    assert_eq!((m.name.as_str(), m.prefix.as_str()), ("Catalog", "catalog"));
    assert_eq!(m.description, "Items");
    assert_eq!(m.sdk.name, SDK_NAME);
    assert_eq!(m.routes[0].routes[0].uri, "ui://catalog/settings");
    assert_eq!(m.menus[0].route, "/catalog");
    assert_eq!(m.endpoints[0].service, "catalog");
    // What the SDK sends passes the server's own validation.
    let bytes = serde_json::to_vec(&m).unwrap();
    Manifest::parse(&bytes).unwrap();

    let p = d.provision_request();
    assert_eq!(p.v, PROTOCOL_VERSION);
    assert_eq!(p.prefix, "catalog");
    assert_eq!(p.capabilities.len(), 1);
    assert_eq!(p.buckets, vec!["catalog_items".to_owned()]);
}

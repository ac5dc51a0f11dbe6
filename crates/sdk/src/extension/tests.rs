//! Unit tests of the extension's own rules: what needs a connection, and futures that can be spawned.

use super::*;
use symphony_protocol::ErrorCode;

#[test]
fn a_bad_name_or_prefix_is_reported_by_every_call() {
    let mut ext = Extension::new("Bad", "Bad-Prefix");
    let code = |e: Error| e.server_error().expect("a typed error").code;
    assert_eq!(
        code(ext.add_capability("sub", "extensions.x", "").unwrap_err()),
        ErrorCode::InvalidPrefix
    );
    assert_eq!(
        code(ext.add_route("/x", "ui://x/y").unwrap_err()),
        ErrorCode::InvalidPrefix
    );
    assert!(Extension::try_new("", "ok").is_err());
    assert!(Extension::try_new("Ok", "ok").is_ok());
}

#[tokio::test]
async fn endpoints_need_a_connection() {
    let ext = Extension::new("Catalog", "catalog");
    let e = ext
        .add_endpoints(ServiceConfig::new("catalog", "1.0.0"))
        .await
        .err()
        .unwrap();
    assert!(matches!(e, Error::NotConnected { .. }));
    let e = ext.kv("catalog_items").await.err().unwrap();
    assert!(matches!(e, Error::NotConnected { .. }));
}

#[test]
fn the_futures_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    let mut ext = Extension::new("Catalog", "catalog");
    assert_send(&ext.set_health(Health::Warning, None));
    assert_send(&ext.connect());
    assert_send(&ext.run());
    assert_send(&ext.run_until(std::future::pending()));
    assert_send(&ext.add_endpoints(ServiceConfig::new("s", "1.0.0")));
    assert_send(&ext.update_resource("ui://catalog/x", "text/markdown", ""));
    assert_send(&ext.work_partitioner().fenced_put("catalog_items", "k", "v"));
}

#[test]
#[should_panic(expected = "call `ext.connect().await?`")]
fn accessors_before_connect_say_what_to_do() {
    let ext = Extension::new("Catalog", "catalog");
    let _ = ext.nats();
}

//! "Extension services need only an OpenAPI spec to become REST endpoints" (seed): a YAML document
//! whose operations name no endpoint is mapped by the last literal path segment; an operation that
//! still names none is left out with a warning in the extension's view, and registration succeeds.

use cirata_symphony::{Extension, Request, ServiceConfig};
use symphony_tests::{DEFAULT_DEADLINE, Platform, PlatformOptions, eventually};

const PREFIX: &str = "oamap";

const OPENAPI: &str = "openapi: 3.1.0
info: {title: Mapping, version: 1.0.0}
paths:
  /things/list:
    get:
      summary: no operationId, no x-symphony-endpoint
  /things/{id}/details:
    get:
      operationId: getThingDetails
  /nowhere:
    post:
      operationId: notAnEndpoint
";

#[tokio::test]
async fn yaml_openapi_maps_by_path_and_unmapped_operations_are_warnings() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let key = platform.extension_key("Mapping", PREFIX, &[]).await;
    let mut ext = Extension::new("Mapping", PREFIX).with_token(key.clone());
    ext.add_capability("sub", &format!("extensions.{PREFIX}.>"), "Everything")
        .unwrap();
    ext.connect().await.expect("connects");
    let svc = ext
        .add_endpoints(ServiceConfig::new("mapping", "1.0.0").metadata("openapi", OPENAPI))
        .await
        .unwrap();
    let group = svc.add_group(&format!("cirata.extensions.{PREFIX}"));
    group
        .add_endpoint("list", |_req: Request| async {
            Ok::<_, std::io::Error>("[\"a\",\"b\"]")
        })
        .await
        .unwrap();
    group
        .add_endpoint("details", |req: Request| async move {
            let params = req
                .headers
                .as_ref()
                .and_then(|h| h.get("Symphony-Path-Params"))
                .map(|v| v.to_string())
                .unwrap_or_default();
            Ok::<_, std::io::Error>(params)
        })
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        ext.run_until(async {
            let _ = stopped.await;
        })
        .await
    });

    let listed = platform.wait_route(PREFIX, "/things/list", &key).await;
    assert_eq!(
        (listed.status, listed.text()),
        (200, "[\"a\",\"b\"]".to_owned()),
        "{listed}"
    );
    let details = platform.rest_get(PREFIX, "/things/t1/details", &key).await;
    assert_eq!(details.status, 200, "{details}");
    assert_eq!(details.json(), serde_json::json!({"id": "t1"}));

    let view = eventually("the warning in the view", DEFAULT_DEADLINE, || async {
        let view = platform.extension_http(PREFIX, &key).await;
        anyhow::ensure!(!view.warnings.is_empty(), "no warnings yet");
        Ok(view)
    })
    .await;
    assert_eq!(view.warnings.len(), 1, "{:?}", view.warnings);
    assert!(
        view.warnings[0].contains("POST /nowhere") && view.warnings[0].contains("notAnEndpoint"),
        "{:?}",
        view.warnings
    );
    let unmapped = platform
        .send(platform.rest(reqwest::Method::POST, PREFIX, "/nowhere", Some(&key)))
        .await;
    assert_eq!(unmapped.status, 404, "{unmapped}");

    let _ = stop.send(());
    running.await.unwrap().unwrap();
}

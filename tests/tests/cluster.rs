//! A 3-node nats-server cluster: buckets get 3 replicas, and two `symphony serve` replicas sharing
//! one identity serve the same registry (docs/protocol.md §5.2, §6).

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use serde_json::json;
use symphony_protocol::messages::{ClusterInfo, ExtensionState};
use symphony_protocol::subjects;
use symphony_tests::extension::Extension;
use symphony_tests::platform::init_data_dir;
use symphony_tests::{NatsCluster, Platform, PlatformOptions, bins, eventually};

#[tokio::test]
async fn a_three_node_cluster_replicates_buckets_and_replicas_share_the_registry() {
    let data_a = tempfile::tempdir().unwrap();
    init_data_dir(data_a.path()).await;
    let cluster = NatsCluster::start(data_a.path(), 3).await;
    let urls = cluster.urls();
    let a = Platform::start(PlatformOptions::fast().external(data_a.path(), urls.clone())).await;

    // Any key may ask for the cluster info.
    let client_token = a
        .key_create(
            &["pub:extensions.catalog.add", "pub:extensions.catalog.list"],
            None,
            &[],
        )
        .await;
    let client = a.connect_as(&client_token).await;
    assert!(
        client.key.nats_urls.len() >= 2,
        "the key lists the cluster's URLs: {:?}",
        client.key.nats_urls
    );
    let info: ClusterInfo = eventually(
        "cluster info reports 3 nodes",
        Duration::from_secs(30),
        || async {
            let info: ClusterInfo = client
                .request_json(subjects::CLUSTER_INFO, &json!({}))
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            anyhow::ensure!(info.cluster_size == 3, "{info:?}");
            Ok(info)
        },
    )
    .await;
    assert_eq!(info.replicas, 3);

    // catalog registers through server A; its bucket is replicated 3 times.
    let config = tempfile::tempdir().unwrap();
    let registration = a.token_create_registration().await;
    let _catalog = Extension::spawn_with_token(&bins::catalog(), config.path(), &registration);
    a.wait_extension("catalog", "catalog OK", |v| {
        anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
        Ok(())
    })
    .await;

    let bucket_token = a
        .key_create_with(&[
            "--capability",
            "sub:extensions.catalog.probe",
            "--prefix",
            "catalog",
            "--bucket",
            "catalog_items",
            "--name",
            "Catalog",
        ])
        .await;
    let mut bucket_conn = a.connect_as(&bucket_token).await;
    let js = async_nats::jetstream::new(bucket_conn.client.clone());
    let stream = js
        .get_stream("KV_catalog_items")
        .await
        .expect("stream info of KV_catalog_items");
    let stream_info = stream.cached_info();
    assert_eq!(
        stream_info.config.num_replicas, 3,
        "catalog_items must have 3 replicas on a 3-node cluster"
    );
    if let Some(c) = &stream_info.cluster {
        assert_eq!(c.replicas.len(), 2, "a leader and two followers: {c:?}");
    }
    bucket_conn
        .assert_no_violations("stream info of the key's own bucket")
        .await;

    // A second server replica with the same identity and the same cluster.
    let data_b = tempfile::tempdir().unwrap();
    let identity_b = data_b.path().join("identity.json");
    std::fs::copy(data_a.path().join("identity.json"), &identity_b).unwrap();
    std::fs::set_permissions(&identity_b, std::fs::Permissions::from_mode(0o600)).unwrap();
    let b = Platform::start(PlatformOptions::fast().external(data_b.path(), urls.clone())).await;

    // The key minted by A works on B: keys live in JetStream, not in a server.
    let view_a = a.extension_http("catalog", &client_token).await;
    let view_b = b.extension_http("catalog", &client_token).await;
    assert_eq!(view_a.manifest, view_b.manifest);
    assert_eq!(view_a.registered_at, view_b.registered_at);
    assert_eq!(view_b.state, ExtensionState::Ok);
    let ids_a: Vec<_> = view_a.instances.iter().map(|i| &i.instance_id).collect();
    let ids_b: Vec<_> = view_b.instances.iter().map(|i| &i.instance_id).collect();
    assert_eq!(ids_a, ids_b, "both replicas see the same instances");

    // A token minted by B is accepted by A.
    let token_b = b.token_create_registration().await;
    assert_eq!(a.apikey(&token_b).await.status(), 200);

    // hello provisions and registers through B (its token's origin); A serves it.
    let hello_config = tempfile::tempdir().unwrap();
    let _hello = Extension::spawn_with_token(&bins::hello(), hello_config.path(), &token_b);
    eventually(
        "A serves hello, registered through B",
        Duration::from_secs(30),
        || async {
            let resp = a.get("/extensions/hello", Some(&client_token)).await;
            anyhow::ensure!(resp.status() == 200, "HTTP {}", resp.status());
            let view: symphony_protocol::messages::ExtensionView = resp.json().await?;
            anyhow::ensure!(view.state == ExtensionState::Ok, "state {:?}", view.state);
            Ok(())
        },
    )
    .await;

    // Data written through the cluster is served back (catalog's own endpoints).
    let added: serde_json::Value = client
        .request_json(
            "cirata.extensions.catalog.add",
            &json!({"id": "c-1", "name": "Replicated"}),
        )
        .await
        .expect("catalog.add");
    assert_eq!(added["status"], "created");

    let items: Vec<serde_json::Value> = client
        .request_json("cirata.extensions.catalog.list", &json!({}))
        .await
        .expect("catalog.list");
    assert!(items.iter().any(|i| i["name"] == "Replicated"), "{items:?}");
}

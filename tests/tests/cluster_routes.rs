//! Cluster routes authenticate: `symphony nats-config` derives the route user and password from the
//! identity, so nodes made from the same data dir join each other and a nats-server without them is
//! refused (docs/operations.md "External NATS cluster", docs/security.md §2.12).

use serde_json::json;
use symphony_protocol::messages::ClusterInfo;
use symphony_protocol::subjects;
use symphony_tests::keyconn::KeyConn;
use symphony_tests::platform::init_data_dir;
use symphony_tests::{DEFAULT_DEADLINE, NatsCluster, Platform, PlatformOptions, eventually};

/// What nats-server logs when the node it dials refuses its route's credentials.
const ROUTE_REFUSED: &str = "Route Error 'Authorization Violation'";

async fn cluster_size(client: &KeyConn) -> anyhow::Result<usize> {
    let info: ClusterInfo = client
        .request_json(subjects::CLUSTER_INFO, &json!({}))
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(info.cluster_size)
}

/// The value of `key: "…"` in a config's text.
fn config_value(config: &str, key: &str) -> String {
    config
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in:\n{config}"))
        .trim_matches('"')
        .to_owned()
}

/// A config whose routes present no credentials and that asks none of its own routes.
fn without_route_credentials(config: String) -> String {
    let mut out = Vec::new();
    let mut in_authorization = false;
    for line in config.lines() {
        if line.trim() == "authorization {" {
            in_authorization = true;
        } else if in_authorization {
            in_authorization = line.trim() != "}";
        } else if let Some((scheme, rest)) = line.split_once("nats-route://") {
            let host = rest.split_once('@').map_or(rest, |(_, host)| host);
            out.push(format!("{scheme}nats-route://{host}"));
        } else {
            out.push(line.to_owned());
        }
    }
    let config = out.join("\n");
    assert!(
        !config.contains("authorization") && !config.contains('@'),
        "{config}"
    );
    config
}

/// A config with the right route user and a wrong password (in its routes and its own block).
fn with_a_wrong_route_password(config: String) -> String {
    let password = config_value(&config, "password");
    let wrong = "0".repeat(password.len());
    let edited = config.replace(&password, &wrong);
    assert!(edited.contains(&format!(":{wrong}@127.0.0.1:")), "{edited}");
    edited
}

#[tokio::test]
async fn a_node_without_the_route_credentials_is_refused_and_one_made_from_the_data_dir_joins() {
    let data = tempfile::tempdir().unwrap();
    init_data_dir(data.path()).await;
    let mut cluster = NatsCluster::start(data.path(), 3).await;

    // Every node requires the derived credentials and presents them on every seed route.
    let config = std::fs::read_to_string(&cluster.nodes[0].config_path).unwrap();
    let (user, password) = (
        config_value(&config, "user"),
        config_value(&config, "password"),
    );
    assert!(
        user.starts_with("route-") && password.len() == 64,
        "{config}"
    );
    for node in &cluster.nodes[1..] {
        let other = std::fs::read_to_string(&node.config_path).unwrap();
        assert_eq!(config_value(&other, "password"), password, "same data dir");
        let route = format!("nats-route://{user}:{password}@127.0.0.1:");
        assert_eq!(other.matches(&route).count(), 2, "{other}");
    }

    let platform =
        Platform::start(PlatformOptions::fast().external(data.path(), cluster.urls())).await;
    // Any key may ask for the cluster info.
    let token = platform
        .key_create(&["pub:extensions.catalog.list"], None, &[])
        .await;
    let client = platform.connect_as(&token).await;
    eventually(
        "the 3 nodes form a cluster with the derived route credentials",
        DEFAULT_DEADLINE,
        || async {
            let size = cluster_size(&client).await?;
            anyhow::ensure!(size == 3, "cluster size {size}");
            Ok(())
        },
    )
    .await;

    // Two nats-servers with the instance's operator and resolver config dial node 0: one without
    // route credentials, one with a wrong password. Node 0 refuses both.
    let intruders = [
        cluster
            .add_node(data.path(), without_route_credentials)
            .await,
        cluster
            .add_node(data.path(), with_a_wrong_route_password)
            .await,
    ];
    for &i in &intruders {
        let node = &cluster.nodes[i];
        eventually(
            &format!("node 0 refuses the route of intruder {}", node.name),
            DEFAULT_DEADLINE,
            || async {
                anyhow::ensure!(node.log().contains(ROUTE_REFUSED), "not refused yet");
                Ok(())
            },
        )
        .await;
    }
    assert!(
        cluster.nodes[0]
            .log()
            .contains("Router connection closed: Authentication Failure"),
        "node 0 logs the refused routes:\n{}",
        cluster.nodes[0].log()
    );
    assert_eq!(
        cluster_size(&client).await.unwrap(),
        3,
        "after node 0 refused both intruders the cluster still has 3 nodes"
    );
    for &i in &intruders {
        let log = cluster.nodes[i].log();
        assert!(!log.contains(&password), "{log}");
        cluster.stop_node(i).await;
    }

    // A node made from the same data dir joins through node 0 (and the routes it discovers carry
    // the credentials too): the size above would have shown an intruder that got in.
    let member = cluster.add_node(data.path(), |config| config).await;
    eventually(
        "a node made from the same data dir joins",
        DEFAULT_DEADLINE,
        || async {
            let size = cluster_size(&client).await?;
            anyhow::ensure!(size == 4, "cluster size {size}");
            Ok(())
        },
    )
    .await;
    let log = cluster.nodes[member].log();
    assert!(!log.contains(ROUTE_REFUSED), "{log}");
    assert!(
        !log.contains(&password),
        "nats-server never logs the route password:\n{log}"
    );
}

/// `symphony nats-config` with a certificate: clients, WebSocket and the routes use TLS, the routes
/// verify the other nodes with the given CA, and still carry the derived credentials.
#[tokio::test]
async fn nats_config_with_a_certificate_runs_the_routes_over_tls_too() {
    let data = tempfile::tempdir().unwrap();
    init_data_dir(data.path()).await;
    let dir = data.path().to_string_lossy().into_owned();
    let out = symphony_tests::platform::run_symphony_ok([
        "nats-config",
        "--data-dir",
        &dir,
        "--store-dir",
        &format!("{dir}/js"),
        "--resolver-dir",
        &format!("{dir}/jwt"),
        "--cluster-name",
        "c",
        "--routes",
        "nats-route://10.0.0.2:6222",
        "--tls-cert",
        "/etc/symphony/node.pem",
        "--tls-key",
        "/etc/symphony/node.key",
        "--tls-ca",
        "/etc/symphony/ca.pem",
    ])
    .await;
    let cluster = &out[out.find("cluster {").expect("a cluster block")..];
    assert!(
        cluster.contains("cert_file: \"/etc/symphony/node.pem\"")
            && cluster.contains("ca_file: \"/etc/symphony/ca.pem\""),
        "the routes run TLS: {cluster}"
    );
    assert!(cluster.contains("authorization {"), "{cluster}");
    assert!(
        cluster.contains("nats-route://route-") && cluster.contains("@10.0.0.2:6222"),
        "the seed route carries the credentials"
    );
    assert!(
        out.starts_with("tls {") || out.contains("\ntls {"),
        "clients use TLS too"
    );
}

//! External nats-server nodes for `symphony serve --nats-url`: one node, or a cluster on loopback,
//! configured by `symphony nats-config` from a data dir's identity.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::AsyncReadExt as _;

use crate::bins;
use crate::platform::run_symphony_ok;
use crate::process::ManagedChild;

/// How long a nats-server node may take to accept clients.
const NODE_START_DEADLINE: Duration = Duration::from_secs(30);

/// `n` distinct free loopback ports (all held open until every one is chosen).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// One nats-server node.
pub struct NatsNode {
    pub name: String,
    pub port: u16,
    pub ws_port: u16,
    pub cluster_port: Option<u16>,
    pub config_path: PathBuf,
    child: Option<ManagedChild>,
    starts: u32,
}

impl NatsNode {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(ManagedChild::is_running)
    }

    /// Everything the node logged so far (nats-server logs to stderr).
    pub fn log(&self) -> String {
        self.child
            .as_ref()
            .map(|c| format!("{}{}", c.stdout(), c.stderr()))
            .unwrap_or_default()
    }
}

/// External nats-server nodes. Dropping it stops every node.
pub struct NatsCluster {
    pub nodes: Vec<NatsNode>,
    dir: TempDir,
}

impl NatsCluster {
    /// Writes a config per node with `symphony nats-config --data-dir <data_dir> …` (a cluster block
    /// with routes to the other nodes when `size > 1`) and starts every node.
    pub async fn start(data_dir: &Path, size: usize) -> NatsCluster {
        assert!(size >= 1);
        let dir = tempfile::Builder::new()
            .prefix("symphony-e2e-nats-")
            .tempdir()
            .expect("temp dir");
        let ports = free_ports(size * 3);
        let client_ports = &ports[0..size];
        let ws_ports = &ports[size..2 * size];
        let cluster_ports = &ports[2 * size..3 * size];
        let mut nodes = Vec::new();
        for i in 0..size {
            let cluster = (size > 1).then(|| {
                let routes = (0..size)
                    .filter(|&j| j != i)
                    .map(|j| route_url(cluster_ports[j]))
                    .collect();
                (cluster_ports[i], routes)
            });
            nodes.push(
                configure_node(
                    data_dir,
                    dir.path(),
                    format!("n{i}"),
                    client_ports[i],
                    ws_ports[i],
                    cluster,
                    |config| config,
                )
                .await,
            );
        }
        if size > 1 {
            let names: Vec<String> = nodes
                .iter()
                .map(|n| server_name(&std::fs::read_to_string(&n.config_path).unwrap_or_default()))
                .collect();
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(
                unique.len(),
                names.len(),
                "`symphony nats-config` gave cluster nodes the same server_name ({names:?}); \
                 a JetStream cluster needs unique names"
            );
        }
        let mut cluster = NatsCluster { nodes, dir };
        for i in 0..size {
            cluster.start_node(i).await;
        }
        cluster
    }

    /// Adds a node whose config is `symphony nats-config --data-dir <data_dir>` with one seed route,
    /// to node 0 (it finds the others through it), passed through `edit` (a test makes an intruder
    /// by editing the config), starts it and waits until it accepts clients (not until it joined).
    /// Returns its index.
    pub async fn add_node(
        &mut self,
        data_dir: &Path,
        edit: impl FnOnce(String) -> String,
    ) -> usize {
        let i = self.nodes.len();
        let ports = free_ports(3);
        let seed = self.nodes[0]
            .cluster_port
            .expect("add_node needs a cluster (size > 1)");
        let routes = vec![route_url(seed)];
        let node = configure_node(
            data_dir,
            self.dir.path(),
            format!("n{i}"),
            ports[0],
            ports[1],
            Some((ports[2], routes)),
            edit,
        )
        .await;
        self.nodes.push(node);
        self.start_node(i).await;
        i
    }

    /// `nats://127.0.0.1:<port>` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsNode::url).collect()
    }

    /// Starts node `i` (again) with its config and waits until it accepts clients.
    pub async fn start_node(&mut self, i: usize) {
        let logs = self.dir.path().join("logs");
        let node = &mut self.nodes[i];
        assert!(!node.is_running(), "node {} is already running", node.name);
        node.starts += 1;
        let mut cmd = Command::new(bins::nats_server());
        cmd.arg("-c").arg(&node.config_path);
        let child = ManagedChild::spawn(&format!("nats-{}", node.name), cmd, &logs);
        node.child = Some(child);
        let port = node.port;
        let start = std::time::Instant::now();
        loop {
            let child = node.child.as_mut().expect("just started");
            if let Some(status) = child.try_status() {
                panic!(
                    "nats-server {} exited ({})\n{}",
                    node.name,
                    crate::process::describe(status),
                    child.tails(40)
                );
            }
            match probe_info(port).await {
                Ok(()) => return,
                Err(e) if start.elapsed() > NODE_START_DEADLINE => panic!(
                    "nats-server {} does not accept clients on {port} after {NODE_START_DEADLINE:?}: {e:#}\n{}",
                    node.name,
                    child.tails(40)
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// SIGTERM node `i` and wait for it to exit.
    pub async fn stop_node(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            c.terminate().await;
        }
    }

    /// Output of every node (last `n` lines).
    pub fn logs(&self, n: usize) -> String {
        self.nodes
            .iter()
            .filter_map(|node| node.child.as_ref().map(|c| c.tails(n)))
            .collect()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("===== external nats-server nodes =====\n{}", self.logs(60));
        }
        for node in &mut self.nodes {
            if let Some(mut c) = node.child.take() {
                c.stop_blocking();
            }
        }
    }
}

/// `nats-route://127.0.0.1:<port>`: a route as an operator gives it to `symphony nats-config`.
pub fn route_url(cluster_port: u16) -> String {
    format!("nats-route://127.0.0.1:{cluster_port}")
}

/// Writes the config of node `name` with `symphony nats-config` (with a cluster block when
/// `cluster` is `Some((cluster_port, routes))`), passed through `edit`.
async fn configure_node(
    data_dir: &Path,
    dir: &Path,
    name: String,
    port: u16,
    ws_port: u16,
    cluster: Option<(u16, Vec<String>)>,
    edit: impl FnOnce(String) -> String,
) -> NatsNode {
    let node_dir = dir.join(&name);
    let store = node_dir.join("store");
    let resolver = node_dir.join("resolver");
    std::fs::create_dir_all(&store).expect("store dir");
    std::fs::create_dir_all(&resolver).expect("resolver dir");
    let mut args: Vec<OsString> = vec![
        "nats-config".into(),
        "--data-dir".into(),
        data_dir.as_os_str().to_owned(),
        "--server-name".into(),
        format!("symphony-e2e-{name}").into(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string().into(),
        "--ws-port".into(),
        ws_port.to_string().into(),
        "--store-dir".into(),
        store.into_os_string(),
        "--resolver-dir".into(),
        resolver.into_os_string(),
    ];
    if let Some((cluster_port, routes)) = &cluster {
        args.extend([
            "--cluster-name".into(),
            "symphony-e2e".into(),
            "--cluster-port".into(),
            cluster_port.to_string().into(),
            "--routes".into(),
            routes.join(",").into(),
        ]);
    }
    let config = edit(run_symphony_ok(&args).await);
    let config_path = node_dir.join("nats.conf");
    std::fs::write(&config_path, &config).expect("write the nats config");
    NatsNode {
        name,
        port,
        ws_port,
        cluster_port: cluster.map(|(p, _)| p),
        config_path,
        child: None,
        starts: 0,
    }
}

/// The `server_name` line of a nats-server config (empty when absent).
fn server_name(config: &str) -> String {
    config
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("server_name"))
        .unwrap_or("")
        .to_owned()
}

/// Connects and reads the server's `INFO` line.
async fn probe_info(port: u16) -> anyhow::Result<()> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let mut buf = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut buf)).await??;
    anyhow::ensure!(&buf == b"INFO", "unexpected greeting {buf:?}");
    Ok(())
}

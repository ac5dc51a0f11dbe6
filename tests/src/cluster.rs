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
            let name = format!("n{i}");
            let node_dir = dir.path().join(&name);
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
                client_ports[i].to_string().into(),
                "--ws-port".into(),
                ws_ports[i].to_string().into(),
                "--store-dir".into(),
                store.into_os_string(),
                "--resolver-dir".into(),
                resolver.into_os_string(),
            ];
            if size > 1 {
                let routes: Vec<String> = (0..size)
                    .filter(|&j| j != i)
                    .map(|j| format!("nats-route://127.0.0.1:{}", cluster_ports[j]))
                    .collect();
                args.extend([
                    "--cluster-name".into(),
                    "symphony-e2e".into(),
                    "--cluster-port".into(),
                    cluster_ports[i].to_string().into(),
                    "--routes".into(),
                    routes.join(",").into(),
                ]);
            }
            let config = run_symphony_ok(&args).await;
            let config_path = node_dir.join("nats.conf");
            std::fs::write(&config_path, &config).expect("write the nats config");
            nodes.push(NatsNode {
                name,
                port: client_ports[i],
                ws_port: ws_ports[i],
                cluster_port: (size > 1).then_some(cluster_ports[i]),
                config_path,
                child: None,
                starts: 0,
            });
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

//! TLS (docs/protocol.md §10, §1.1): `symphony serve --tls-self-signed` serves HTTPS, requires TLS
//! on the embedded nats-server's client port (`tls://`) and its WebSocket listener (`wss://`), and
//! the Rust SDK (the real `catalog` example) trusts the local CA only through `SYMPHONY_CA_FILE`
//! and never accepts a certificate that does not name the host it was sent to.
//!
//! The wrong-name case needs a host name that reaches the server but is not in its certificate,
//! deterministically and on loopback only: the server listens on `0.0.0.0` (the generated
//! certificate then names `localhost`, `127.0.0.1` and `::1`, never `0.0.0.0`), and the extension
//! is sent to `127.0.0.2`, which Linux routes to the loopback interface. A `--tls-san 127.0.0.3`
//! is the control: the same route with a name the certificate carries works.

use std::path::Path;
use std::time::Duration;
use symphony_tests::OfKey;

use serde_json::{Value, json};
use symphony_protocol::messages::{ExtensionState, KeyKind, SymphonyInfo};
use symphony_protocol::subjects;
use symphony_tests::extension::Extension;
use symphony_tests::platform::key_id_of;
use symphony_tests::{
    KeyConn, Platform, PlatformOptions, bins, error_chain, http_client, http_client_trusting,
};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

/// How long a failing extension or a refused connection may take to finish (a bound, not an
/// expectation).
const FINISH_DEADLINE: Duration = Duration::from_secs(30);

fn tls_platform() -> PlatformOptions {
    PlatformOptions::fast().tls_self_signed()
}

/// The CA the server announces in `ports.json`; it is `<data dir>/tls/ca.pem`.
fn ca_of(platform: &Platform) -> String {
    let ca = platform.tls_ca().expect("ports.json names tls_ca");
    assert_eq!(ca, platform.data_dir().join("tls").join("ca.pem"));
    assert!(ca.is_file(), "{} exists", ca.display());
    ca.display().to_string()
}

/// Whether `text` (an error message) blames the certificate.
fn mentions_certificate(text: &str) -> bool {
    text.to_lowercase().contains("certificate")
}

/// Runs an extension that must fail: it exits non-zero on its own; returns its stderr.
async fn run_to_failure(binary: &Path, config_dir: &Path, env: &[(&str, &str)]) -> String {
    let mut ext = Extension::spawn(binary, config_dir, env);
    let status = ext.wait().await;
    assert!(
        !status.success(),
        "the extension should have failed\n{}",
        ext.logs(40)
    );
    ext.stderr()
}

/// The registration token is still unused (a refused TLS connection consumed nothing).
async fn assert_still_unused(platform: &Platform, registration: &str) {
    let key = platform.exchange(registration).await;
    assert_eq!(key.kind, KeyKind::Registration);
}

/// Speaks plain NATS to `port`: nats-server announces `tls_required` and then drops the
/// connection instead of accepting a plaintext `CONNECT`/`PING`.
async fn assert_plaintext_nats_refused(port: u16) {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("TCP connect to the NATS port");
    let mut reader = BufReader::new(stream);
    let mut info = String::new();
    tokio::time::timeout(FINISH_DEADLINE, reader.read_line(&mut info))
        .await
        .expect("nats-server sends INFO")
        .expect("read INFO");
    let info: Value = serde_json::from_str(
        info.strip_prefix("INFO ")
            .unwrap_or_else(|| panic!("not an INFO line: {info:?}"))
            .trim(),
    )
    .expect("INFO is JSON");
    assert_eq!(info["tls_required"], json!(true), "INFO: {info}");

    reader
        .get_mut()
        .write_all(
            b"CONNECT {\"verbose\":true,\"pedantic\":false,\"tls_required\":false}\r\nPING\r\n",
        )
        .await
        .expect("send a plaintext CONNECT");
    let mut rest = Vec::new();
    // The server closes the connection (EOF, or a reset because our bytes were never read).
    let closed = tokio::time::timeout(FINISH_DEADLINE, reader.read_to_end(&mut rest))
        .await
        .expect("nats-server closes a plaintext connection");
    if let Err(e) = closed {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        !rest.contains("PONG") && !rest.contains("+OK"),
        "nats-server accepted a plaintext client: {rest:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn self_signed_tls_serves_https_tls_nats_and_wss() {
    let platform = Platform::start(tls_platform()).await;
    let ca = ca_of(&platform);
    let ports = &platform.ports;
    assert_eq!(
        ports.http_url,
        format!("https://127.0.0.1:{}", ports.http),
        "{ports:?}"
    );
    assert_eq!(
        ports.nats_url,
        format!("tls://127.0.0.1:{}", ports.nats),
        "{ports:?}"
    );

    // HTTPS with the CA trusted.
    let ping = platform.get("/ping", None).await;
    assert_eq!(ping.status(), 200);
    assert_eq!(
        ping.json::<Value>().await.unwrap(),
        json!({"message": "pong"})
    );
    // Without the CA: a certificate error, never an answer.
    let untrusted = http_client()
        .get(platform.api_url("/ping"))
        .send()
        .await
        .expect_err("an untrusted certificate must be refused");
    let why = error_chain(&untrusted);
    assert!(untrusted.is_connect(), "{why}");
    assert!(mentions_certificate(&why), "{why}");
    // Plain HTTP to the HTTPS port gets no HTTP answer.
    let plain = http_client_trusting(Path::new(&ca))
        .get(format!("http://127.0.0.1:{}/api/v1/ping", ports.http))
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain HTTP must not be served: {:?}",
        plain.map(|r| r.status())
    );

    // The browser path: the origin is https, NATS tls://, the WebSocket wss://.
    let info: SymphonyInfo = platform
        .get("/symphonyinfo", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info.origin, ports.http_url, "{info:?}");
    assert_eq!(info.nats_urls, vec![ports.nats_url.clone()], "{info:?}");
    assert!(info.nats_address.starts_with("tls://"), "{info:?}");
    let wss = format!("wss://127.0.0.1:{}", ports.websocket);
    assert_eq!(
        info.websocket_url.as_deref(),
        Some(wss.as_str()),
        "{info:?}"
    );

    // The CLI works over TLS NATS (it trusts ports.json's tls_ca), and tokens carry the https origin.
    let token = platform
        .key_create(&["pub:extensions.catalog.list"], None, &[])
        .await;
    assert_eq!(
        symphony_protocol::Token::parse(&token).unwrap().origin,
        ports.http_url
    );
    let key = platform.exchange(&token).await;
    assert_eq!(key.nats_urls, vec![ports.nats_url.clone()]);

    // NATS over TLS as the key, with the CA; without it, a certificate error.
    let conn = platform.connect_as(&token).await;
    let cluster: Value = conn
        .request_json(subjects::CLUSTER_INFO, &json!({}))
        .await
        .expect("cluster info over tls://");
    assert_eq!(cluster["cluster_size"], json!(1), "{cluster}");
    let refused = KeyConn::try_connect_with_ca(key.clone(), &key.nats_urls, None)
        .await
        .err()
        .expect("tls:// without the CA must fail");
    let why = error_chain(&refused);
    assert!(mentions_certificate(&why), "{why}");
    // A plaintext NATS client is refused.
    assert_plaintext_nats_refused(ports.nats).await;

    // NATS over wss:// (what a browser uses), with the CA; plain ws:// is not served.
    let ws_conn =
        KeyConn::try_connect_with_ca(key.clone(), std::slice::from_ref(&wss), platform.tls_ca())
            .await
            .unwrap_or_else(|e| panic!("connect to {wss}: {}", error_chain(&e)));
    let cluster: Value = ws_conn
        .request_json(subjects::CLUSTER_INFO, &json!({}))
        .await
        .expect("cluster info over wss://");
    assert_eq!(cluster["cluster_size"], json!(1), "{cluster}");
    let ws = format!("ws://127.0.0.1:{}", ports.websocket);
    assert!(
        KeyConn::try_connect_with_ca(key.clone(), std::slice::from_ref(&ws), platform.tls_ca())
            .await
            .is_err(),
        "{ws} (no TLS) must be refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_provisions_and_serves_over_tls_with_symphony_ca_file() {
    let platform = Platform::start(tls_platform()).await;
    let ca = ca_of(&platform);
    let configs = tempfile::tempdir().unwrap();
    // `symphony token create` talks to the TLS NATS.
    let registration = platform.token_create_registration().await;

    // Without SYMPHONY_CA_FILE: the local CA is not trusted.
    let stderr = run_to_failure(
        &bins::catalog(),
        &configs.path().join("no-ca"),
        &[("REGISTRATION_TOKEN", &registration)],
    )
    .await;
    assert!(mentions_certificate(&stderr), "{stderr}");
    assert!(
        stderr.contains(&platform.ports.http_url),
        "the error names where it went: {stderr}"
    );
    // A SYMPHONY_CA_FILE that is not there is named in the error.
    let missing = configs.path().join("missing-ca.pem");
    let stderr = run_to_failure(
        &bins::catalog(),
        &configs.path().join("missing-ca"),
        &[
            ("REGISTRATION_TOKEN", &registration),
            ("SYMPHONY_CA_FILE", &missing.display().to_string()),
        ],
    )
    .await;
    assert!(
        stderr.contains("SYMPHONY_CA_FILE") && stderr.contains(&missing.display().to_string()),
        "{stderr}"
    );
    assert_still_unused(&platform, &registration).await;

    // With it: provisions over HTTPS + TLS NATS, stores its key and registers.
    let config_dir = configs.path().join("catalog");
    let catalog = Extension::spawn(
        &bins::catalog(),
        &config_dir,
        &[
            ("REGISTRATION_TOKEN", &registration),
            ("SYMPHONY_CA_FILE", &ca),
        ],
    );
    let view = platform
        .wait_extension("catalog", "catalog registered and OK", |v| {
            anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
            Ok(())
        })
        .await;
    let stored = std::fs::read_to_string(Extension::stored_token_path(&config_dir, "catalog"))
        .expect("the stored key");
    let key_id = key_id_of(stored.trim());
    assert!(
        view.instances
            .iter()
            .any(|i| i.of_key(&key_id) && i.pid == catalog.pid()),
        "{view:?}"
    );

    // A client key over TLS NATS.
    let client = platform
        .key_create(
            &["pub:extensions.catalog.add", "pub:extensions.catalog.list"],
            None,
            &[],
        )
        .await;
    let conn = platform.connect_as(&client).await;
    let added: Value = conn
        .request_json(
            "cirata.extensions.catalog.add",
            &json!({"id": "tls-1", "name": "Over TLS", "price": 3}),
        )
        .await
        .expect("catalog.add over tls://");
    assert_eq!(added, json!({"status": "created", "id": "tls-1"}));
    let listed: Value = conn
        .request_json("cirata.extensions.catalog.list", &json!({}))
        .await
        .expect("catalog.list over tls://");
    assert!(
        listed
            .as_array()
            .is_some_and(|a| a.contains(&json!({"id": "tls-1", "name": "Over TLS", "price": 3}))),
        "{listed}"
    );

    // The same through the service proxy over HTTPS.
    platform.wait_route("catalog", "/list", &client).await;
    let added = platform
        .rest_post(
            "catalog",
            "/add",
            &client,
            "application/json",
            r#"{"id":"tls-2","name":"Over HTTPS","price":4}"#,
        )
        .await;
    assert_eq!(added.status, 200, "{added}");
    assert_eq!(added.json(), json!({"status": "created", "id": "tls-2"}));
    let list = platform.rest_get("catalog", "/list", &client).await;
    assert_eq!(list.status, 200, "{list}");
    let items = list.json();
    for id in ["tls-1", "tls-2"] {
        assert!(
            items
                .as_array()
                .is_some_and(|a| a.iter().any(|i| i["id"] == id)),
            "{id} missing: {list}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_name_the_certificate_does_not_carry_is_refused() {
    let platform = Platform::start(
        tls_platform()
            .host("0.0.0.0")
            .arg("--tls-san")
            .arg("127.0.0.3"),
    )
    .await;
    let ca = ca_of(&platform);
    let configs = tempfile::tempdir().unwrap();
    let registration = platform.token_create_registration().await;

    // 127.0.0.2 reaches the server but is not in its certificate: refused even with the CA.
    let wrong = format!("https://127.0.0.2:{}", platform.ports.http);
    let stderr = run_to_failure(
        &bins::catalog(),
        &configs.path().join("wrong"),
        &[
            ("REGISTRATION_TOKEN", &registration),
            ("SYMPHONY_CA_FILE", &ca),
            ("SYMPHONY_ADDRESS", &wrong),
        ],
    )
    .await;
    assert!(
        stderr.contains("not valid for name") && stderr.contains("127.0.0.2"),
        "the error must say the certificate is not valid for 127.0.0.2: {stderr}"
    );
    assert!(stderr.contains(&wrong), "{stderr}");
    assert_still_unused(&platform, &registration).await;

    // The NATS side presents the same certificate: tls://127.0.0.2 is refused for the name too.
    let probe = platform
        .key_create(&["pub:extensions.catalog.list"], None, &[])
        .await;
    let key = platform.exchange(&probe).await;
    let nats_wrong = format!("tls://127.0.0.2:{}", platform.ports.nats);
    let refused =
        KeyConn::try_connect_with_ca(key, std::slice::from_ref(&nats_wrong), platform.tls_ca())
            .await
            .err()
            .unwrap_or_else(|| panic!("{nats_wrong} must be refused"));
    let why = error_chain(&refused);
    assert!(
        mentions_certificate(&why) && why.contains("127.0.0.2"),
        "{why}"
    );

    // Control: 127.0.0.3 (a --tls-san) takes the same route and works for HTTPS and NATS.
    let right = format!("https://127.0.0.3:{}", platform.ports.http);
    let catalog = Extension::spawn(
        &bins::catalog(),
        &configs.path().join("right"),
        &[
            ("REGISTRATION_TOKEN", &registration),
            ("SYMPHONY_CA_FILE", &ca),
            ("SYMPHONY_ADDRESS", &right),
        ],
    );
    let view = platform
        .wait_extension("catalog", "catalog registered via 127.0.0.3", |v| {
            anyhow::ensure!(v.state == ExtensionState::Ok, "state {:?}", v.state);
            Ok(())
        })
        .await;
    assert!(
        view.instances.iter().any(|i| i.pid == catalog.pid()),
        "{view:?}"
    );
}

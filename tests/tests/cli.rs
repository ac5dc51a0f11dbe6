//! The `symphony` CLI as a signed-in user: `login`, `credential list|remove|clear`,
//! `key create|list|revoke`, `token create --registration`, `extension account|limits`, `info` and
//! `version --remote` against a real server over REST (docs/operations.md "CLI", "Extension
//! accounts and limits").
//!
//! Every run gets its own `SYMPHONY_CONFIG_DIR` and no D-Bus session, so no OS credential store is
//! reachable: the tests never touch a developer's keyring and always take the file path.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use symphony_protocol::jwt::JetStreamLimits;
use symphony_protocol::messages::KeyKind;
use symphony_protocol::rest::{AuditAction, DEFAULT_EXTENSION_LIMITS, ExtensionAccount};
use symphony_protocol::{ErrorCode, Token};
use symphony_tests::platform::key_id_of;
use symphony_tests::users::{ADMIN_PASSWORD, AuditEvent, USER_PASSWORD};
use symphony_tests::{Platform, PlatformOptions, bins, error_body};
use tokio::io::AsyncWriteExt;

const CLI_DEADLINE: Duration = Duration::from_secs(60);

/// Environment that would change what the CLI does; cleared for every run.
const SCRUBBED_ENV: &[&str] = &[
    "SYMPHONY_DATA_DIR",
    "SYMPHONY_CREDENTIAL",
    "SYMPHONY_CA_FILE",
    "SYMPHONY_ADDRESS",
    "DBUS_SESSION_BUS_ADDRESS",
    "XDG_RUNTIME_DIR",
];

/// The CLI with a private config dir.
struct Cli {
    config: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            config: tempfile::Builder::new()
                .prefix("symphony-cli-")
                .tempdir()
                .expect("create a temp dir"),
        }
    }

    /// `<config>/symphony`: not there until the first login creates it.
    fn config_dir(&self) -> PathBuf {
        self.config.path().join("symphony")
    }

    fn index(&self) -> PathBuf {
        self.config_dir().join("credentials.json")
    }

    /// Runs `symphony <args>` with `stdin` piped in.
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = tokio::process::Command::new(bins::symphony());
        cmd.args(args)
            .env("SYMPHONY_CONFIG_DIR", self.config_dir())
            .env("HOME", self.config.path())
            .env("RUST_LOG", "warn")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        symphony_tests::process::die_with_parent(cmd.as_std_mut());
        let mut child = cmd.spawn().expect("spawn symphony");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            pipe.write_all(text.as_bytes()).await.expect("write stdin");
            drop(pipe);
        }
        match tokio::time::timeout(CLI_DEADLINE, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => panic!("symphony {args:?}: {e}"),
            Err(_) => panic!("symphony {args:?} did not finish within {CLI_DEADLINE:?}"),
        }
    }

    /// Runs and asserts success; returns stdout.
    async fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin).await;
        assert!(
            out.status.success(),
            "symphony {args:?} failed ({})\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// Runs and asserts failure; returns stderr.
    async fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "symphony {args:?} should fail\nstdout: {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    async fn login(&self, url: &str, password: &str, extra: &[&str]) -> Output {
        self.login_as(url, "admin", password, extra).await
    }

    async fn login_as(&self, url: &str, username: &str, password: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "login",
            "--address",
            url,
            "--username",
            username,
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        self.run(&args, Some(&format!("{password}\n"))).await
    }
}

/// stdout that is exactly one token.
fn only_token(stdout: &str, what: &str) -> String {
    let token = stdout.trim();
    assert!(
        Token::parse(token).is_ok() && !token.contains(char::is_whitespace),
        "{what} must print only the token; stdout was {stdout:?}"
    );
    token.to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_signed_in_user_manages_keys_from_the_cli() {
    let platform = Platform::start(PlatformOptions::default().admin_password(ADMIN_PASSWORD)).await;
    let url = platform.http_url();
    let name = url.trim_start_matches("http://").to_owned();
    let cli = Cli::new();

    // Before any login, client commands say how to log in.
    let err = cli.fails(&["key", "list"], None).await;
    assert!(
        err.contains("not logged in: run `symphony login --address URL`"),
        "{err}"
    );

    // A wrong password prints the server's message and code.
    let out = cli
        .login(&url, "not the password", &["--insecure-storage"])
        .await;
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("error: wrong username or password (invalid_credentials)"),
        "{err}"
    );

    // Without a credential store the token is not written anywhere unless the user says so.
    let out = cli.login(&url, ADMIN_PASSWORD, &[]).await;
    assert!(!out.status.success(), "login needs --insecure-storage here");
    let err = stderr_of(&out);
    assert!(err.contains("--insecure-storage"), "{err}");
    assert!(
        !cli.index().exists(),
        "nothing is stored after a refused login"
    );

    // The real login: plain http warns; the file is private.
    let out = cli
        .login(&url, ADMIN_PASSWORD, &["--insecure-storage"])
        .await;
    let err = stderr_of(&out);
    assert!(out.status.success(), "login failed: {err}");
    assert!(
        err.contains("warning") && err.contains("unencrypted"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "login prints nothing on stdout");
    assert_eq!(mode(&cli.config_dir()), 0o700);
    assert_eq!(mode(&cli.index()), 0o600);
    let index: Value = serde_json::from_str(&std::fs::read_to_string(cli.index()).unwrap())
        .expect("credentials.json is JSON");
    assert_eq!(index["default"], name.as_str());
    let session_token = index["credentials"][0]["token"]
        .as_str()
        .expect("--insecure-storage keeps the token in the file")
        .to_owned();
    assert_eq!(index["credentials"][0]["storage"], "file");

    // key create: only the token on stdout, owned by the signed-in user.
    let key_token = only_token(
        &cli.ok(
            &[
                "key",
                "create",
                "--capability",
                "pub:extensions.catalog.list",
                "--name",
                "cli-key",
                "--expires",
                "30d",
                "--notes",
                "made by the CLI test",
            ],
            None,
        )
        .await,
        "symphony key create",
    );
    let key_id = key_id_of(&key_token);
    let key = platform.exchange(&key_token).await;
    assert_eq!(key.kind, KeyKind::ApiKey);
    assert!(key.expires_at.is_some(), "--expires 30d sets an expiry");

    let list: Vec<Value> =
        serde_json::from_str(&cli.ok(&["key", "list", "--json"], None).await).expect("JSON list");
    let listed = list
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .unwrap_or_else(|| panic!("key {key_id} is not listed: {list:?}"));
    assert_eq!(listed["name"], "cli-key");
    assert_eq!(listed["owner"], "admin");
    assert_eq!(listed["notes"], "made by the CLI test");
    assert_eq!(listed["revoked"], false);

    let table = cli.ok(&["key", "list"], None).await;
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains(&key_id) && l.contains("cli-key")),
        "{table}"
    );

    // Local validation answers before any request.
    let err = cli
        .fails(&["key", "create", "--capability", "extensions.x"], None)
        .await;
    assert!(err.contains("invalid_capability"), "{err}");

    // key revoke: the token stops working.
    cli.ok(&["key", "revoke", &key_id], None).await;
    let list: Vec<Value> =
        serde_json::from_str(&cli.ok(&["key", "list", "--json"], None).await).unwrap();
    assert!(
        list.iter()
            .any(|k| k["id"] == key_id.as_str() && k["revoked"] == true),
        "{list:?}"
    );
    let resp = platform.apikey(&key_token).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(error_body(resp).await.code, ErrorCode::TokenRevoked);
    let err = cli.fails(&["key", "revoke", "not-a-key"], None).await;
    assert!(err.contains("not a key id"), "{err}");

    // token create --registration as the user: a registration token that exchanges.
    let reg = only_token(
        &cli.ok(
            &[
                "token",
                "create",
                "--registration",
                "--name",
                "cli-reg",
                "--expires",
                "1h",
            ],
            None,
        )
        .await,
        "symphony token create --registration",
    );
    let reg_key = platform.exchange(&reg).await;
    assert_eq!(reg_key.kind, KeyKind::Registration);
    assert_eq!(reg_key.name, "cli-reg");

    // info and version --remote.
    let info = cli.ok(&["info"], None).await;
    assert!(
        info.contains("Symphony") && info.contains("admin"),
        "{info}"
    );
    let info: Value = serde_json::from_str(&cli.ok(&["info", "--json"], None).await).unwrap();
    assert_eq!(info["user"]["username"], "admin");
    assert_eq!(info["symphony"]["short_name"], "symphony");
    let version = cli.ok(&["version", "--remote"], None).await;
    assert!(
        version.contains("server 0.") && version.contains(&url),
        "{version}"
    );

    // credential list: name, address, user, storage; never the token.
    let listed = cli.ok(&["credential", "list"], None).await;
    assert!(
        listed.contains(&name) && listed.contains("admin") && listed.contains("file"),
        "{listed}"
    );
    let listed_json = cli.ok(&["credential", "list", "--json"], None).await;
    for text in [&listed, &listed_json] {
        assert!(!text.contains(&session_token), "the token leaked: {text}");
        assert!(
            !text.contains(session_token.rsplit('.').next().unwrap()),
            "the token's secret leaked: {text}"
        );
    }

    // credential remove: signs out on the server and forgets the token.
    let out = cli.run(&["credential", "remove", &name], None).await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("signed out"),
        "{}",
        stderr_of(&out)
    );
    let resp = platform.get("/userinfo", Some(&session_token)).await;
    assert_eq!(resp.status(), 401, "the session ended on the server");
    assert!(
        !std::fs::read_to_string(cli.index())
            .unwrap()
            .contains(&session_token)
    );
    let err = cli.fails(&["key", "list"], None).await;
    assert!(err.contains("not logged in"), "{err}");
}

#[tokio::test]
async fn cli_says_to_log_in_again_after_the_session_ended_and_clear_forgets_all() {
    let platform = Platform::start(PlatformOptions::default().admin_password(ADMIN_PASSWORD)).await;
    let url = platform.http_url();
    let cli = Cli::new();
    for name in ["first", "second"] {
        let out = cli
            .login(
                &url,
                ADMIN_PASSWORD,
                &["--insecure-storage", "--name", name],
            )
            .await;
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    // The latest login is the default; --credential picks another.
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(cli.index()).unwrap()).unwrap();
    assert_eq!(index["default"], "second");
    let first_token = index["credentials"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // End the first session behind the CLI's back.
    let resp = platform
        .http()
        .post(platform.api_url("/logout"))
        .bearer_auth(&first_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let err = cli
        .fails(&["key", "list", "--credential", "first"], None)
        .await;
    assert!(
        err.contains("your session ended") && err.contains("symphony login --address"),
        "{err}"
    );
    cli.ok(&["key", "list", "--json"], None).await;
    let err = cli
        .fails(&["key", "list", "--credential", "nope"], None)
        .await;
    assert!(err.contains("credential list"), "{err}");

    cli.ok(&["credential", "clear"], None).await;
    let listed = cli.ok(&["credential", "list", "--json"], None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&listed).unwrap(),
        Value::Array(vec![])
    );
    let err = cli.fails(&["info"], None).await;
    assert!(err.contains("not logged in"), "{err}");

    // An address with nothing behind it names the address.
    let out = cli
        .login(
            "http://127.0.0.1:1",
            ADMIN_PASSWORD,
            &["--insecure-storage"],
        )
        .await;
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("cannot reach http://127.0.0.1:1"),
        "{}",
        stderr_of(&out)
    );
}

/// The `extension account` line `label value`, e.g. `line(&text, "disk storage")`.
fn account_line<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(label)
                .filter(|rest| rest.starts_with(' '))
                .map(str::trim)
        })
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{text}"))
}

#[tokio::test]
async fn an_admin_changes_extension_limits_from_the_cli_and_a_viewer_cannot() {
    let platform = Platform::start(PlatformOptions::default().admin_password(ADMIN_PASSWORD)).await;
    let url = platform.http_url();
    let admin = platform.login_admin().await;
    // The first key bound to a prefix records its account, owned by the key's creator.
    platform
        .create_key(&admin.token, &json!({"name": "demo key", "prefix": "demo"}))
        .await;
    platform.add_user(&admin.token, "vera", &["viewer"]).await;

    // A bad value is refused by the command line itself: this CLI has not even signed in.
    let fresh = Cli::new();
    for (flag, value, says) in [
        ("--disk", "2GB", "unknown unit \"GB\""),
        ("--memory", "lots", "is not a number"),
        ("--disk", "-5MiB", "is negative"),
        ("--streams", "1.5", "is not a whole number"),
    ] {
        let err = fresh
            .fails(&["extension", "limits", "demo", flag, value], None)
            .await;
        assert!(
            err.contains(&format!("invalid value '{value}' for '{flag}")) && err.contains(says),
            "{flag} {value}: {err}"
        );
        assert!(
            !err.contains("not logged in"),
            "refused before any request: {err}"
        );
    }

    let cli = Cli::new();
    let out = cli
        .login(&url, ADMIN_PASSWORD, &["--insecure-storage"])
        .await;
    assert!(out.status.success(), "{}", stderr_of(&out));

    // The defaults, in human units.
    let text = cli.ok(&["extension", "account", "demo"], None).await;
    assert_eq!(account_line(&text, "prefix"), "demo", "{text}");
    assert_eq!(account_line(&text, "owner"), "admin", "{text}");
    assert!(account_line(&text, "account").starts_with('A'), "{text}");
    assert_eq!(account_line(&text, "disk storage"), "1.0 GiB", "{text}");
    assert_eq!(account_line(&text, "memory"), "64.0 MiB", "{text}");
    assert_eq!(account_line(&text, "streams"), "100", "{text}");
    assert_eq!(account_line(&text, "consumers"), "1000", "{text}");
    let before: ExtensionAccount = serde_json::from_str(
        &cli.ok(&["extension", "account", "demo", "--json"], None)
            .await,
    )
    .expect("--json prints the ExtensionAccount");
    assert_eq!(before.limits, DEFAULT_EXTENSION_LIMITS);

    // Only the values given change; the reply is printed.
    let text = cli
        .ok(
            &[
                "extension",
                "limits",
                "demo",
                "--disk",
                "2GiB",
                "--memory",
                "128 MiB",
                "--streams",
                "unlimited",
            ],
            None,
        )
        .await;
    assert_eq!(account_line(&text, "disk storage"), "2.0 GiB", "{text}");
    assert_eq!(account_line(&text, "memory"), "128.0 MiB", "{text}");
    assert_eq!(account_line(&text, "streams"), "unlimited", "{text}");
    assert_eq!(account_line(&text, "consumers"), "1000", "{text}");
    cli.ok(&["extension", "limits", "demo", "--consumers", "-1"], None)
        .await;
    let text = cli.ok(&["extension", "account", "demo"], None).await;
    assert_eq!(account_line(&text, "disk storage"), "2.0 GiB", "{text}");
    assert_eq!(account_line(&text, "consumers"), "unlimited", "{text}");
    let after: ExtensionAccount = serde_json::from_str(
        &cli.ok(&["extension", "account", "demo", "--json"], None)
            .await,
    )
    .unwrap();
    let wanted = JetStreamLimits {
        disk_storage: 2 << 30,
        mem_storage: 128 << 20,
        streams: -1,
        consumer: -1,
    };
    assert_eq!(after.limits, wanted);
    assert_eq!(
        (after.account.as_str(), after.owner.as_str()),
        (before.account.as_str(), "admin")
    );
    let audit: Vec<AuditEvent> = platform.audit(&admin.token, 50).await;
    let changes = audit
        .iter()
        .filter(|e| e.target == "extension:demo" && e.actor == "admin")
        .filter(|e| e.action == AuditAction::LimitsChanged)
        .count();
    assert_eq!(changes, 2, "each change is audited: {audit:?}");

    // Values the server would refuse are refused here too, with its message; nothing changes.
    let err = cli
        .fails(&["extension", "limits", "demo", "--streams", "0"], None)
        .await;
    assert!(
        err.contains("streams must be -1 (unlimited) or a positive number")
            && err.contains("invalid_request"),
        "{err}"
    );
    let err = cli.fails(&["extension", "limits", "demo"], None).await;
    assert!(err.contains("give at least one of --disk"), "{err}");
    let err = cli
        .fails(&["extension", "account", "no_such_ext"], None)
        .await;
    assert!(err.contains("extension_not_found"), "{err}");
    let err = cli
        .fails(&["extension", "account", "Not/A/Prefix"], None)
        .await;
    assert!(err.contains("invalid_prefix"), "{err}");

    // A viewer sees the account but may not change it.
    let viewer = Cli::new();
    let out = viewer
        .login_as(&url, "vera", USER_PASSWORD, &["--insecure-storage"])
        .await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = viewer.ok(&["extension", "account", "demo"], None).await;
    assert_eq!(account_line(&text, "disk storage"), "2.0 GiB", "{text}");
    let err = viewer
        .fails(&["extension", "limits", "demo", "--disk", "5GiB"], None)
        .await;
    assert!(
        err.contains("this needs the symphony-admin role (forbidden)"),
        "{err}"
    );
    let unchanged: ExtensionAccount = serde_json::from_str(
        &cli.ok(&["extension", "account", "demo", "--json"], None)
            .await,
    )
    .unwrap();
    assert_eq!(unchanged.limits, wanted);
}

/// `symphony ext`: an extension's OpenAPI operations as commands, with the stored sign-in.
#[tokio::test]
async fn an_extensions_openapi_operations_are_cli_commands() {
    let platform = Platform::start(PlatformOptions::fast().admin_password(ADMIN_PASSWORD)).await;
    let url = platform.http_url();
    let cli = Cli::new();
    let out = cli
        .login(&url, ADMIN_PASSWORD, &["--insecure-storage"])
        .await;
    assert!(out.status.success(), "{}", stderr_of(&out));

    let config = tempfile::tempdir().unwrap();
    let registration = platform.token_create_registration().await;
    let _ext = symphony_tests::Extension::spawn(
        &bins::rest_ext(),
        config.path(),
        &[("REGISTRATION_TOKEN", registration.as_str())],
    );
    let admin = platform.login_admin().await;
    platform.wait_route("rest", "/items/1", &admin.token).await;

    let listed = cli.ok(&["ext"], None).await;
    assert!(listed.contains("  rest  ("), "{listed}");
    let ops = cli.ok(&["ext", "rest"], None).await;
    for line in [
        "get_item  GET /items/{id}",
        "create_item  POST /items",
        "echo  POST /echo",
    ] {
        let (name, rest) = line.split_once("  ").unwrap();
        assert!(
            ops.lines()
                .any(|l| l.trim_start().starts_with(name) && l.contains(rest)),
            "{line}: {ops}"
        );
    }
    let help = cli.ok(&["ext", "rest", "get_item", "--help"], None).await;
    assert!(
        help.contains("GET /api/v1/extension/rest/items/{id}")
            && help.contains("--id <value>  (path, required)"),
        "{help}"
    );

    // JSON by default (pretty), a table with --table; path parameters encoded.
    let seen: Value = serde_json::from_str(
        &cli.ok(&["ext", "rest", "get_item", "--id", "a b"], None)
            .await,
    )
    .unwrap();
    assert_eq!(seen["path_params"], json!({"id": "a b"}), "{seen}");
    assert_eq!(seen["caller"], "user:admin", "{seen}");
    let table = cli
        .ok(&["ext", "rest", "get_item", "--id=t1", "--table"], None)
        .await;
    assert!(
        table.starts_with("key")
            && table
                .lines()
                .any(|l| l.starts_with("method") && l.ends_with("GET")),
        "{table}"
    );
    // A body inline, from a file and from stdin; non-JSON answers are printed as they are.
    let echoed = cli
        .ok(&["ext", "rest", "echo", "--body", "{\"a\":1}"], None)
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&echoed).unwrap(),
        json!({"a": 1})
    );
    let file = config.path().join("body.json");
    std::fs::write(&file, "[1,2]").unwrap();
    let from_file = cli
        .ok(
            &[
                "ext",
                "rest",
                "echo",
                "--body",
                &format!("@{}", file.display()),
            ],
            None,
        )
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&from_file).unwrap(),
        json!([1, 2])
    );
    let from_stdin = cli
        .ok(&["ext", "rest", "echo", "--body", "-"], Some("plain words"))
        .await;
    assert_eq!(from_stdin, "plain words");

    // Mistakes are clear errors; a server error keeps its code.
    let err = cli.fails(&["ext", "rest", "nope"], None).await;
    assert!(
        err.contains("no operation \"nope\"") && err.contains("get_item"),
        "{err}"
    );
    let err = cli.fails(&["ext", "rest", "get_item"], None).await;
    assert!(err.contains("needs --id"), "{err}");
    let err = cli
        .fails(&["ext", "rest", "get_item", "--id", "1", "--x", "2"], None)
        .await;
    assert!(err.contains("no parameter --x"), "{err}");
    let err = cli.fails(&["ext", "missing"], None).await;
    assert!(err.contains("has no commands"), "{err}");
    let err = cli.fails(&["ext", "rest", "fail"], None).await;
    assert!(err.contains("handler_failed"), "{err}");
}

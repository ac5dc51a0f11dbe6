//! Sign-in sessions: the login reply and its cookie (`HttpOnly`, `SameSite=Strict`, `Path=/`),
//! the cookie alone authenticating, logout ending the session (token, cookie and the browser's NATS
//! credentials), idle expiry, throttled failed sign-ins that do not reveal whether a user exists,
//! and the audit trail of it all.

use anyhow::bail;
use async_nats::ConnectErrorKind;
use reqwest::Method;
use serde_json::json;
use symphony_protocol::messages::SymphonyInfo;
use symphony_protocol::{ErrorCode, Token};
use symphony_tests::users::{
    ADMIN_PASSWORD, SESSION_COOKIE, UserToken, assert_unauthorized, connect_browser, parse,
    says_revoked, wait_disconnected,
};
use symphony_tests::{DEFAULT_DEADLINE, Platform, PlatformOptions, RestReply, eventually};

/// A `Set-Cookie` header split into `name=value` and its lowercased attributes.
fn split_cookie(set_cookie: &str) -> (String, Vec<String>) {
    let mut parts = set_cookie.split(';').map(str::trim);
    let pair = parts.next().unwrap_or_default().to_owned();
    (pair, parts.map(str::to_ascii_lowercase).collect())
}

/// Asserts the attributes every session cookie carries and returns `Max-Age`.
fn assert_cookie_flags(set_cookie: &str) -> i64 {
    let (_, attrs) = split_cookie(set_cookie);
    for flag in ["httponly", "samesite=strict", "path=/"] {
        assert!(
            attrs.iter().any(|a| a == flag),
            "the session cookie needs {flag}: {set_cookie:?}"
        );
    }
    attrs
        .iter()
        .find_map(|a| a.strip_prefix("max-age="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("the session cookie has a Max-Age: {set_cookie:?}"))
}

/// A 401 for a session that has ended (logout purges it, so the server no longer knows it).
const ENDED: &[ErrorCode] = &[ErrorCode::InvalidToken, ErrorCode::SessionExpired];

#[tokio::test]
async fn sign_in_sets_a_strict_cookie_that_authenticates_and_sign_out_ends_the_session() {
    let platform = Platform::start(PlatformOptions::default().admin_password(ADMIN_PASSWORD)).await;
    let info: SymphonyInfo = parse(&platform.get_raw("/api/v1/symphonyinfo").await, "info");

    let admin = platform.login_admin().await;
    assert_eq!(
        (admin.username.as_str(), admin.idle_timeout_secs),
        ("admin", 1800),
        "{admin:?}"
    );
    assert_eq!(admin.roles, ["symphony-admin"]);
    let token = Token::parse(&admin.token).expect("a session token has the token format");
    assert_eq!(token.origin, info.origin, "the token names this instance");

    // The cookie: the token itself, HttpOnly, SameSite=Strict, Path=/.
    let (pair, _) = split_cookie(&admin.set_cookie);
    assert_eq!(pair, admin.cookie(), "{:?}", admin.set_cookie);
    assert!(assert_cookie_flags(&admin.set_cookie) > 0);

    // The cookie alone authenticates, like the bearer token.
    for reply in [
        platform.userinfo_by_cookie(&admin.cookie()).await,
        platform.userinfo(&admin.token).await,
    ] {
        assert_eq!(reply.status, 200, "{reply}");
        let me = reply.json();
        assert_eq!(
            (&me["kind"], &me["username"], &me["admin"]),
            (&json!("user"), &json!("admin"), &json!(true)),
            "{me}"
        );
    }

    // Browser NATS credentials of this session.
    let creds = platform.user_token(&admin.token).await;
    let mut browser = connect_browser(&admin, &creds)
        .await
        .expect("the browser connects over the WebSocket");

    // Sign out with the bearer token: 204 and a cookie that clears the browser's.
    let out = platform
        .call(Method::POST, "/logout", Some(&admin.token), None)
        .await;
    assert_eq!(out.status, 204, "{out}");
    let cleared = out.header("set-cookie").to_owned();
    assert_eq!(
        split_cookie(&cleared).0,
        format!("{SESSION_COOKIE}="),
        "{cleared:?}"
    );
    assert_eq!(assert_cookie_flags(&cleared), 0, "{cleared:?}");

    // The session is over for the token and the cookie.
    assert_unauthorized(
        &platform.userinfo(&admin.token).await,
        ENDED,
        "userinfo after logout",
    );
    assert_unauthorized(
        &platform.userinfo_by_cookie(&admin.cookie()).await,
        ENDED,
        "userinfo by cookie after logout",
    );
    for (method, path) in [(Method::GET, "/usertoken"), (Method::POST, "/logout")] {
        assert_unauthorized(
            &platform.call(method, path, Some(&admin.token), None).await,
            ENDED,
            &format!("{path} after logout"),
        );
    }
    // nats-server drops its browser connection and refuses the credentials.
    let errors = wait_disconnected(&mut browser, "the signed-out browser").await;
    assert!(says_revoked(&errors), "{errors:?}");
    let refused = connect_browser(&admin, &creds)
        .await
        .err()
        .expect("signed-out browser credentials cannot connect");
    assert_eq!(
        refused.kind(),
        ConnectErrorKind::AuthorizationViolation,
        "{refused}"
    );

    // Sign out with only the cookie.
    let second = platform.login_admin().await;
    assert_ne!(second.token, admin.token, "every sign-in is a new session");
    let out = platform
        .send(
            platform
                .api(Method::POST, "/logout", None)
                .header("cookie", second.cookie()),
        )
        .await;
    assert_eq!(out.status, 204, "{out}");
    assert_unauthorized(
        &platform.userinfo_by_cookie(&second.cookie()).await,
        ENDED,
        "cookie after a cookie logout",
    );
    assert_unauthorized(
        &platform.userinfo(&second.token).await,
        ENDED,
        "token after a cookie logout",
    );

    // Failed sign-ins, a key, and the audit trail.
    for (user, password) in [("admin", "not the password"), ("ghost", "not the password")] {
        platform
            .login_reply(user, password)
            .await
            .assert_error(401, ErrorCode::InvalidCredentials);
    }
    let third = platform.login_admin().await;
    let key = platform
        .create_key(&third.token, &json!({"name": "audited"}))
        .await;
    let audit = platform.audit(&third.token, 100).await;
    let count = |action: &str, actor: &str| {
        audit
            .iter()
            .filter(|e| e.action == action && e.actor == actor)
            .count()
    };
    assert_eq!(count("login", "admin"), 3, "{audit:?}");
    assert_eq!(count("logout", "admin"), 2, "{audit:?}");
    assert_eq!(count("login_failed", "admin"), 1, "{audit:?}");
    assert_eq!(count("login_failed", "ghost"), 1, "{audit:?}");
    assert!(
        audit
            .iter()
            .filter(|e| e.action.as_str().starts_with("login"))
            .all(|e| e.address == "127.0.0.1"),
        "sign-ins record the address: {audit:?}"
    );
    assert!(
        audit.iter().any(|e| e.action == "key_created"
            && e.actor == "admin"
            && e.target == format!("key:{}", key.id)),
        "{audit:?}"
    );
    assert!(
        !format!("{audit:?}").contains(ADMIN_PASSWORD)
            && !format!("{audit:?}").contains("not the password"),
        "passwords never reach the audit trail"
    );
}

/// A failed sign-in for `user` with a wrong password.
async fn wrong_password(platform: &Platform, user: &str) -> RestReply {
    platform.login_reply(user, "definitely not it").await
}

#[tokio::test]
async fn idle_sessions_expire_and_failed_sign_ins_are_throttled_alike_for_unknown_users() {
    let mut opts = PlatformOptions::default().admin_password(ADMIN_PASSWORD);
    opts.extra_args = vec!["--session-idle-for-tests".into(), "2s".into()];
    let platform = Platform::start(opts).await;

    // Idle expiry.
    let admin = platform.login_admin().await;
    assert_eq!(admin.idle_timeout_secs, 2, "{admin:?}");
    let expired = eventually("the idle session expires", DEFAULT_DEADLINE, || async {
        let reply = platform.userinfo(&admin.token).await;
        if reply.status == 200 {
            bail!("still signed in");
        }
        Ok(reply)
    })
    .await;
    // `session_expired`, not `invalid_token`: the server knew the session and ended it.
    assert_unauthorized(&expired, &[ErrorCode::SessionExpired], "an idle session");
    assert_unauthorized(
        &platform.userinfo_by_cookie(&admin.cookie()).await,
        ENDED,
        "the cookie of the expired session",
    );

    // An unknown user gets exactly the answer a wrong password gets.
    for attempt in 1..=4 {
        let known = wrong_password(&platform, "admin").await;
        let unknown = wrong_password(&platform, "nobody").await;
        known.assert_error(401, ErrorCode::InvalidCredentials);
        assert_eq!(
            (known.status, &known.body, known.content_type()),
            (unknown.status, &unknown.body, unknown.content_type()),
            "attempt {attempt}: wrong password {known} vs unknown user {unknown}"
        );
        assert_eq!(
            known.header("www-authenticate"),
            unknown.header("www-authenticate")
        );
    }
    // Nine failures from this address are free; from the tenth on a wrong password gets 429 with
    // Retry-After (the count that failure made, not the clock), for known and unknown users alike.
    wrong_password(&platform, "admin")
        .await
        .assert_error(401, ErrorCode::InvalidCredentials);
    for user in ["nobody", "admin"] {
        let reply = wrong_password(&platform, user).await;
        reply.assert_error(429, ErrorCode::TooManyAttempts);
        let retry_after: u64 = reply
            .header("retry-after")
            .parse()
            .unwrap_or_else(|_| panic!("{user}: a 429 carries Retry-After in seconds: {reply:?}"));
        assert!(retry_after >= 1, "{reply:?}");
    }

    // The right password gets past the address's limit at once: guesses from an address shared
    // with an attacker (a NAT, a proxy) do not lock the real user out.
    let reply = platform.login_reply("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        reply.status, 200,
        "the right password while the address waits: {reply}"
    );
}

/// An HTTP client whose connections come from `ip` (any 127.x.y.z is the loopback interface), so
/// one test can sign in from several client addresses.
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .expect("an HTTP client")
}

/// `POST /api/v1/login` through `client`, raw.
async fn login_from(
    platform: &Platform,
    client: &reqwest::Client,
    user: &str,
    password: &str,
) -> RestReply {
    let body = json!({"username": user, "password": password});
    platform
        .send(client.post(platform.api_url("/login")).json(&body))
        .await
}

#[tokio::test]
async fn parallel_wrong_guesses_are_all_counted() {
    let platform = Platform::start(PlatformOptions::default().admin_password(ADMIN_PASSWORD)).await;
    let guesser = client_from([127, 0, 0, 3]);
    // 16 wrong guesses at once from one address (for 16 accounts, so only the address's count
    // decides). Each failure is counted atomically and answered from the count it made: the 10th
    // to the 16th get 429, whatever the order.
    const N: usize = 16;
    let replies = futures::future::join_all((0..N).map(|i| {
        let (platform, guesser) = (&platform, &guesser);
        async move {
            login_from(
                platform,
                guesser,
                &format!("guess-{i}"),
                "definitely not it",
            )
            .await
        }
    }))
    .await;
    let statuses = |code: u16| replies.iter().filter(|r| r.status == code).count();
    assert_eq!(
        (statuses(401), statuses(429)),
        (9, N - 9),
        "every guess counted once: {replies:?}"
    );
    for reply in replies.iter().filter(|r| r.status == 429) {
        reply.assert_error(429, ErrorCode::TooManyAttempts);
    }
}

#[tokio::test]
async fn an_attacker_at_one_address_cannot_lock_the_admin_out() {
    let platform = Platform::start(PlatformOptions::default().admin_password(ADMIN_PASSWORD)).await;
    let attacker = client_from([127, 0, 0, 2]);
    // The attacker guesses until the account is locked: from then on its address is refused
    // before the password is checked, the right password included. Each counted failure doubles
    // the lock (1, 2, 4 … s), so the lock is seen without depending on how fast the server answers.
    let mut locked = None;
    for attempt in 1..=40 {
        let guess = login_from(&platform, &attacker, "admin", "definitely not it").await;
        assert!(
            matches!(guess.status, 401 | 429),
            "attempt {attempt}: {guess}"
        );
        if attempt >= 20 {
            let right = login_from(&platform, &attacker, "admin", ADMIN_PASSWORD).await;
            if right.status == 429 {
                right.assert_error(429, ErrorCode::TooManyAttempts);
                locked = Some(attempt);
                break;
            }
        }
    }
    assert!(
        locked.is_some(),
        "40 wrong guesses from one address never locked the account"
    );
    // The real admin, from an address without failed sign-ins, signs in.
    let reply = platform.login_reply("admin", ADMIN_PASSWORD).await;
    assert_eq!(reply.status, 200, "the admin during the lock-out: {reply}");
}

#[tokio::test]
async fn logout_is_final_while_browser_credentials_are_being_issued() {
    let platform = Platform::start(PlatformOptions::default().admin_password(ADMIN_PASSWORD)).await;
    let admin = platform.login_admin().await;
    // Eight loops ask for browser credentials of the session, as fast as they can, while it signs
    // out: each writes the session (its new nkey and bearer), racing the logout's end of it.
    const LOOPS: usize = 8;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (started_tx, mut started_rx) = tokio::sync::mpsc::channel::<()>(LOOPS);
    let loops: Vec<_> = (0..LOOPS)
        .map(|_| {
            let (http, url, token) = (
                platform.http().clone(),
                platform.api_url("/usertoken"),
                admin.token.clone(),
            );
            let (stop, started) = (stop.clone(), started_tx.clone());
            tokio::spawn(async move {
                let mut issued: Vec<UserToken> = Vec::new();
                let mut refused = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
                    let reply = RestReply::read(resp).await.unwrap();
                    match reply.status {
                        200 => {
                            issued.push(parse(&reply, "GET /usertoken"));
                            let _ = started.try_send(());
                        }
                        _ => refused.push(reply),
                    }
                }
                (issued, refused)
            })
        })
        .collect();
    for _ in 0..LOOPS {
        started_rx.recv().await.expect("every loop got credentials");
    }
    let out = platform
        .call(Method::POST, "/logout", Some(&admin.token), None)
        .await;
    assert_eq!(out.status, 204, "{out}");
    // Whatever the loops still do from here on, the session stays ended.
    let after_logout = platform.userinfo(&admin.token).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut issued = Vec::new();
    for handle in loops {
        let (mine, refused) = handle.await.unwrap();
        for reply in &refused {
            assert_unauthorized(reply, ENDED, "GET /usertoken racing the logout");
        }
        issued.extend(mine);
    }
    assert_unauthorized(&after_logout, ENDED, "the session right after logout");
    assert_unauthorized(
        &platform.userinfo(&admin.token).await,
        ENDED,
        "the session once every racing request is done",
    );
    assert_unauthorized(
        &platform
            .call(Method::GET, "/usertoken", Some(&admin.token), None)
            .await,
        ENDED,
        "new browser credentials",
    );
    // Every browser bearer handed out is dead, and so is every NATS credential: nothing was
    // issued that the logout did not revoke.
    assert!(issued.len() >= LOOPS, "{}", issued.len());
    for creds in &issued {
        assert_unauthorized(
            &platform.userinfo(&creds.token).await,
            ENDED,
            "a browser bearer of the ended session",
        );
    }
    for creds in issued.iter().rev().take(LOOPS) {
        let refused = connect_browser(&admin, creds)
            .await
            .err()
            .expect("browser credentials of the ended session cannot connect");
        assert_eq!(
            refused.kind(),
            ConnectErrorKind::AuthorizationViolation,
            "{refused}"
        );
    }
}

/// A server log line that says the server's own NATS connection was closed.
fn nats_connection_lost(logs: &str) -> Option<&str> {
    logs.lines()
        .find(|l| l.contains("maximum control line exceeded") || l.contains("NATS disconnected"))
}

#[tokio::test]
async fn long_names_get_400_and_the_server_keeps_its_nats_connection() {
    let platform = Platform::start(PlatformOptions::default().admin_password(ADMIN_PASSWORD)).await;
    let admin = platform.login_admin().await;
    let long = "a".repeat(2200);
    let role = json!({"name": "x", "pub": [], "sub": [], "extensions": []});
    let user = json!({"username": long, "password": "long enough password"});
    for (method, path, body, code) in [
        (
            Method::POST,
            "/users".to_owned(),
            Some(&user),
            ErrorCode::InvalidRequest,
        ),
        (
            Method::PUT,
            format!("/users/{long}"),
            Some(&json!({})),
            ErrorCode::InvalidRequest,
        ),
        (
            Method::DELETE,
            format!("/users/{long}"),
            None,
            ErrorCode::InvalidRequest,
        ),
        (
            Method::PUT,
            format!("/roles/{long}"),
            Some(&role),
            ErrorCode::InvalidRequest,
        ),
        (
            Method::DELETE,
            format!("/roles/{long}"),
            None,
            ErrorCode::InvalidRequest,
        ),
        (
            Method::GET,
            format!("/extensions/{long}"),
            None,
            ErrorCode::InvalidPrefix,
        ),
        (
            Method::GET,
            format!("/extensions/{long}/account"),
            None,
            ErrorCode::InvalidPrefix,
        ),
        (
            Method::PUT,
            format!("/extensions/{long}/limits"),
            Some(&json!({"disk_storage": 1, "mem_storage": 1, "streams": 1, "consumer": 1})),
            ErrorCode::InvalidPrefix,
        ),
    ] {
        let reply = platform
            .call(method.clone(), &path, Some(&admin.token), body)
            .await;
        let e = reply.assert_error(400, code);
        assert!(
            e.message.len() < 200,
            "{method} {}…: the error does not echo the whole name: {}",
            &path[..20],
            e.message
        );
    }
    // Sign-in: refused before the name reaches a KV key (the failure counters, the users).
    platform
        .login_reply(&long, "whatever it is")
        .await
        .assert_error(400, ErrorCode::InvalidRequest);

    // The server's NATS connection stayed up, and the server keeps working.
    let logs = platform.logs(100_000);
    assert_eq!(nats_connection_lost(&logs), None, "the server lost NATS");
    let users = platform
        .call(Method::GET, "/users", Some(&admin.token), None)
        .await;
    assert_eq!(users.status, 200, "{users}");
    assert_eq!(platform.login_admin().await.username, "admin");
}

#[tokio::test]
async fn cli_is_a_reserved_username() {
    let platform = Platform::start(PlatformOptions::default().admin_password(ADMIN_PASSWORD)).await;
    let admin = platform.login_admin().await;
    // Keys the bootstrap CLI creates show the owner `cli` and act as an administrator's; no user
    // may take that name (a stored user with it is an ordinary user:
    // `crates/server/src/auth/policy.rs::a_user_named_cli_does_not_own_the_clis_keys`).
    let reply = platform
        .create_user_reply(
            &admin.token,
            &json!({"username": "cli", "password": "long enough password", "roles": ["symphony-admin"]}),
        )
        .await;
    let e = reply.assert_error(400, ErrorCode::InvalidRequest);
    assert!(e.message.contains("reserved"), "{e:?}");
    platform
        .login_reply("cli", "long enough password")
        .await
        .assert_error(400, ErrorCode::InvalidRequest);
    let users = platform
        .call(Method::GET, "/users", Some(&admin.token), None)
        .await;
    assert!(!users.text().contains("\"cli\""), "{users}");
}

#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime_however_much_they_are_used() {
    let platform = Platform::start(
        PlatformOptions::default()
            .admin_password(ADMIN_PASSWORD)
            .arg("--session-lifetime-for-tests")
            .arg("3s"),
    )
    .await;
    let admin = platform.login_admin().await;
    assert_eq!(
        assert_cookie_flags(&admin.set_cookie),
        3,
        "the cookie lives as long"
    );
    let me = platform.userinfo(&admin.token).await;
    assert_eq!(me.status, 200, "{me}");
    let ends_at = symphony_tests::parse_rfc3339(
        me.json()["session_ends_at"]
            .as_str()
            .unwrap_or_else(|| panic!("userinfo shows when the session ends: {me}")),
    );
    let creds = platform.user_token(&admin.token).await;
    assert!(
        symphony_tests::parse_rfc3339(&creds.expires_at) <= ends_at,
        "browser credentials end with the session: {} > {ends_at}",
        creds.expires_at
    );
    // Used all the time (never idle), the session still ends.
    let ended = eventually(
        "the session reaches its lifetime",
        DEFAULT_DEADLINE,
        || async {
            let reply = platform.userinfo(&admin.token).await;
            if reply.status == 200 {
                bail!("still signed in");
            }
            Ok(reply)
        },
    )
    .await;
    assert_unauthorized(
        &ended,
        &[ErrorCode::SessionExpired],
        "a session past its lifetime",
    );
    assert_unauthorized(
        &platform.userinfo(&creds.token).await,
        ENDED,
        "its browser bearer",
    );
}

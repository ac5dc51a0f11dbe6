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
    ADMIN_PASSWORD, SESSION_COOKIE, assert_unauthorized, connect_browser, parse, says_revoked,
    wait_disconnected,
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

/// After three free failures for `user`, fails again until the server throttles; returns the
/// attempt number and the 429. The fourth attempt is refused unless the clock ticked over to the
/// next second since the third failure; each further failure doubles the wait (2 s, 4 s), so a
/// later attempt is refused without depending on how fast the server answers.
async fn throttle(platform: &Platform, user: &str) -> (u32, RestReply) {
    for attempt in 4..=6 {
        let reply = wrong_password(platform, user).await;
        if reply.status == 429 {
            return (attempt, reply);
        }
        reply.assert_error(401, ErrorCode::InvalidCredentials);
    }
    panic!("{user}: six failed sign-ins in a row were never throttled");
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

    // An unknown user gets exactly the answer a wrong password gets; three failures are free.
    for attempt in 1..=3 {
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

    // Then both are throttled, alike.
    let mut throttled = Vec::new();
    for user in ["admin", "nobody"] {
        let (attempt, reply) = throttle(&platform, user).await;
        let e = reply.assert_error(429, ErrorCode::TooManyAttempts);
        let retry_after: u64 = reply
            .header("retry-after")
            .parse()
            .unwrap_or_else(|_| panic!("{user}: a 429 carries Retry-After in seconds: {reply:?}"));
        assert!(retry_after >= 1, "{reply:?}");
        throttled.push((attempt, e.code));
    }
    assert_eq!(throttled[0].1, throttled[1].1);

    // The wait ends: the right password signs in again (refused only with 429 meanwhile).
    eventually(
        "admin signs in after the wait",
        DEFAULT_DEADLINE,
        || async {
            let reply = platform.login_reply("admin", ADMIN_PASSWORD).await;
            match reply.status {
                200 => Ok(()),
                429 => bail!("still throttled: {reply}"),
                _ => panic!("while throttled the right password gets 429 or 200: {reply}"),
            }
        },
    )
    .await;
}

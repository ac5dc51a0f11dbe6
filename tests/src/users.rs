//! Signed-in users over the REST identity API: sign-in and sessions (bearer token or the
//! `symphony_session` cookie), users and roles, API keys and registration tokens a user creates,
//! the audit trail, and the browser's short-lived NATS credentials (`GET /api/v1/usertoken`).
//!
//! Start the server with [`PlatformOptions::admin_password`](crate::PlatformOptions::admin_password)
//! set to [`ADMIN_PASSWORD`] so [`Platform::login_admin`] can sign in as `admin`.

use reqwest::Method;
use serde_json::{Value, json};
use symphony_protocol::capability::CapabilitySummary;
use symphony_protocol::messages::{ApiKey, ExtensionView, KeyKind};
use symphony_protocol::{ErrorCode, KeyId};

use crate::keyconn::{KeyConn, server_error_text};
use crate::platform::{Platform, key_id_of};
use crate::poll::DEFAULT_DEADLINE;
use crate::rest::RestReply;

/// The password of user `admin` in servers started with `admin_password(ADMIN_PASSWORD)`.
pub const ADMIN_PASSWORD: &str = "admin-password-for-e2e-tests";
/// The password of every user [`Platform::add_user`] creates (at least 12 characters).
pub const USER_PASSWORD: &str = "correct horse battery staple";
/// Name of the browser session cookie.
pub const SESSION_COOKIE: &str = "symphony_session";

/// A signed-in user: the `POST /api/v1/login` reply and its `Set-Cookie` header.
#[derive(Debug, Clone)]
pub struct Session {
    pub username: String,
    pub token: String,
    pub roles: Vec<String>,
    pub idle_timeout_secs: u64,
    /// The raw `Set-Cookie` header of the sign-in.
    pub set_cookie: String,
}

impl Session {
    /// The session id (the token's key id part).
    pub fn id(&self) -> String {
        key_id_of(&self.token)
    }

    /// The `Cookie` header value a browser sends back.
    pub fn cookie(&self) -> String {
        format!("{SESSION_COOKIE}={}", self.token)
    }
}

pub use symphony_protocol::rest::{AuditEvent, CreatedKey, KeyView, UserToken};

/// Parses a JSON reply body as `T`, panicking with the whole reply when it does not fit.
pub fn parse<T: serde::de::DeserializeOwned>(reply: &RestReply, what: &str) -> T {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("{what}: the reply does not fit ({e}): {reply}"))
}

/// Asserts a 401 with `WWW-Authenticate: Bearer` and one of `codes`.
pub fn assert_unauthorized(reply: &RestReply, codes: &[ErrorCode], what: &str) {
    assert_eq!(reply.status, 401, "{what}: {reply}");
    assert!(
        reply.header("www-authenticate").starts_with("Bearer"),
        "{what}: a 401 carries WWW-Authenticate: Bearer: {reply:?}"
    );
    let code = reply.error().code;
    assert!(
        codes.contains(&code),
        "{what}: expected one of {codes:?}, got {code:?}: {reply}"
    );
}

/// Connects to the browser WebSocket URL with browser credentials (JWT, nonce signed with the
/// seed, the credentials' inbox prefix), reusing [`KeyConn`] and its violation checkpoint.
/// `session` only names the connection's `key.id`.
pub async fn connect_browser(
    session: &Session,
    creds: &UserToken,
) -> Result<KeyConn, async_nats::ConnectError> {
    let url = creds
        .websocket_url
        .clone()
        .expect("the server has a WebSocket listener");
    let key = ApiKey {
        id: KeyId::parse(&session.id()).expect("a session id is a key id"),
        instance_id: None,
        kind: KeyKind::ApiKey,
        name: session.username.clone(),
        prefix: None,
        jwt: creds.jwt.clone(),
        seed: creds.seed.clone(),
        nats_urls: vec![url.clone()],
        inbox_prefix: creds.inbox_prefix.clone(),
        capabilities: CapabilitySummary::default(),
        expires_at: Some(creds.expires_at.clone()),
        caller_signing_key: None,
        jwt_expires_at: Some(creds.expires_at.clone()),
        renew_after_secs: Some(creds.renew_after_secs),
    };
    KeyConn::try_connect_to(key, &[url]).await
}

/// Waits until `conn` is disconnected by the server (e.g. after its credentials were revoked);
/// returns the texts of the server errors it received on the way. Panics after
/// [`DEFAULT_DEADLINE`].
pub async fn wait_disconnected(conn: &mut KeyConn, what: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let mut events = Vec::new();
    let start = std::time::Instant::now();
    loop {
        let left = DEFAULT_DEADLINE.saturating_sub(start.elapsed());
        let Some(ev) = conn.violations.next(left).await else {
            panic!("{what}: not disconnected within {DEFAULT_DEADLINE:?}; events: {events:?}");
        };
        if let Some(text) = server_error_text(&ev) {
            errors.push(text);
        }
        if matches!(ev, async_nats::Event::Disconnected) {
            return errors;
        }
        events.push(format!("{ev:?}"));
    }
}

/// Whether nats-server said the connection's authentication was revoked.
pub fn says_revoked(errors: &[String]) -> bool {
    errors
        .iter()
        .any(|e| e.to_lowercase().contains("authentication revoked"))
}

impl Platform {
    /// A request to `/api/v1<path>` with `Authorization: Bearer <token>` when given.
    pub fn api(&self, method: Method, path: &str, bearer: Option<&str>) -> reqwest::RequestBuilder {
        let mut req = self.http().request(method, self.api_url(path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req
    }

    /// `method /api/v1<path>` as `bearer` with an optional JSON body; the whole reply.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> RestReply {
        let mut req = self.api(method, path, bearer);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.send(req).await
    }

    /// `POST /api/v1/login`, raw.
    pub async fn login_reply(&self, username: &str, password: &str) -> RestReply {
        let body = json!({"username": username, "password": password});
        self.call(Method::POST, "/login", None, Some(&body)).await
    }

    /// Signs in; panics unless the server answers 200 with a session.
    pub async fn login(&self, username: &str, password: &str) -> Session {
        let reply = self.login_reply(username, password).await;
        assert_eq!(reply.status, 200, "POST /login as {username}: {reply}");
        let body: Value = reply.json();
        let roles = body["roles"]
            .as_array()
            .unwrap_or_else(|| panic!("login reply without roles: {reply}"))
            .iter()
            .map(|r| r.as_str().unwrap_or_default().to_owned())
            .collect();
        Session {
            username: body["username"].as_str().unwrap_or_default().to_owned(),
            token: body["token"]
                .as_str()
                .unwrap_or_else(|| panic!("login reply without token: {reply}"))
                .to_owned(),
            roles,
            idle_timeout_secs: body["idle_timeout_secs"]
                .as_u64()
                .unwrap_or_else(|| panic!("login reply without idle_timeout_secs: {reply}")),
            set_cookie: reply.header("set-cookie").to_owned(),
        }
    }

    /// Signs in as `admin` with [`ADMIN_PASSWORD`].
    pub async fn login_admin(&self) -> Session {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// `POST /api/v1/users` as `admin_token`, raw.
    pub async fn create_user_reply(&self, admin_token: &str, body: &Value) -> RestReply {
        self.call(Method::POST, "/users", Some(admin_token), Some(body))
            .await
    }

    /// Creates `username` with `roles` and [`USER_PASSWORD`] (asserting 201), then signs in.
    pub async fn add_user(&self, admin_token: &str, username: &str, roles: &[&str]) -> Session {
        let body = json!({"username": username, "password": USER_PASSWORD, "roles": roles});
        let reply = self.create_user_reply(admin_token, &body).await;
        assert_eq!(reply.status, 201, "POST /users {body}: {reply}");
        assert_eq!(reply.json()["roles"], json!(roles), "{reply}");
        let session = self.login(username, USER_PASSWORD).await;
        assert_eq!(session.roles, roles, "login reply of {username}");
        session
    }

    /// `PUT /api/v1/roles/<name>` as `token` with the role JSON, raw.
    pub async fn put_role(&self, token: &str, name: &str, role: &Value) -> RestReply {
        self.call(
            Method::PUT,
            &format!("/roles/{name}"),
            Some(token),
            Some(role),
        )
        .await
    }

    /// `POST /api/v1/keys` as `token`, raw.
    pub async fn create_key_reply(&self, token: &str, body: &Value) -> RestReply {
        self.call(Method::POST, "/keys", Some(token), Some(body))
            .await
    }

    /// `POST /api/v1/keys` as `token`; panics unless 201.
    pub async fn create_key(&self, token: &str, body: &Value) -> CreatedKey {
        let reply = self.create_key_reply(token, body).await;
        assert_eq!(reply.status, 201, "POST /keys {body}: {reply}");
        parse(&reply, "POST /keys")
    }

    /// A registration token created by the signed-in user `token`.
    pub async fn create_registration(&self, token: &str, name: &str) -> CreatedKey {
        let key = self
            .create_key(token, &json!({"name": name, "registration": true}))
            .await;
        assert_eq!(key.kind, KeyKind::Registration, "{key:?}");
        key
    }

    /// `GET /api/v1/keys` as `token`.
    pub async fn keys(&self, token: &str) -> Vec<KeyView> {
        let reply = self.call(Method::GET, "/keys", Some(token), None).await;
        assert_eq!(reply.status, 200, "GET /keys: {reply}");
        parse(&reply, "GET /keys")
    }

    /// The entry of key `id` in `GET /api/v1/keys` as `token`, if listed.
    pub async fn key_view(&self, token: &str, id: &str) -> Option<KeyView> {
        self.keys(token)
            .await
            .into_iter()
            .find(|k| k.id.as_str() == id)
    }

    /// `DELETE /api/v1/key/<id>` as `token`, raw.
    pub async fn revoke_key(&self, token: &str, id: &str) -> RestReply {
        self.call(Method::DELETE, &format!("/key/{id}"), Some(token), None)
            .await
    }

    /// `GET /api/v1/userinfo` as `token`, raw.
    pub async fn userinfo(&self, token: &str) -> RestReply {
        self.call(Method::GET, "/userinfo", Some(token), None).await
    }

    /// `GET /api/v1/userinfo` with only the `Cookie` header, raw.
    pub async fn userinfo_by_cookie(&self, cookie: &str) -> RestReply {
        self.send(
            self.api(Method::GET, "/userinfo", None)
                .header("cookie", cookie),
        )
        .await
    }

    /// `GET /api/v1/usertoken` as `token`; panics unless 200.
    pub async fn user_token(&self, token: &str) -> UserToken {
        let reply = self
            .call(Method::GET, "/usertoken", Some(token), None)
            .await;
        assert_eq!(reply.status, 200, "GET /usertoken: {reply}");
        parse(&reply, "GET /usertoken")
    }

    /// `GET /api/v1/audit?limit=<limit>` as `admin_token`; panics unless 200.
    pub async fn audit(&self, admin_token: &str, limit: usize) -> Vec<AuditEvent> {
        let reply = self
            .call(
                Method::GET,
                &format!("/audit?limit={limit}"),
                Some(admin_token),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "GET /audit: {reply}");
        parse(&reply, "GET /audit")
    }

    /// `GET /api/v1/extensions/all` as `token`; panics unless 200.
    pub async fn extensions_as(&self, token: &str) -> Vec<ExtensionView> {
        let reply = self
            .call(Method::GET, "/extensions/all", Some(token), None)
            .await;
        assert_eq!(reply.status, 200, "GET /extensions/all: {reply}");
        parse(&reply, "GET /extensions/all")
    }
}

//! Helpers the multi-instance test files share (not a test target: `tests/tests/common/mod.rs`).

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use symphony_protocol::capability::Permissions;
use symphony_server::identity::{Account, Identity};
use symphony_tests::Platform;

/// A user of the test in the extension's own account that may publish and subscribe anything there:
/// the `$SRV` discovery subjects are no key's to publish, and its JWT outlives the
/// short key JWTs of tests that renew.
pub async fn account_user(platform: &Platform, prefix: &str) -> Client {
    let identity = Identity::load(platform.data_dir()).expect("the server's identity");
    let user = nkeys::KeyPair::new_user();
    let everything = Permissions {
        pub_allow: vec![">".into()],
        sub_allow: vec![">".into()],
        allow_responses: false,
    };
    let exp = symphony_protocol::time::now_unix() + 3600;
    let jwt = identity
        .user_jwt(
            &Account::Extension(prefix.to_owned()),
            &user,
            "",
            "multi-instance-test",
            Some(exp),
            &everything,
        )
        .expect("a user JWT in the extension account");
    let user = Arc::new(user);
    async_nats::ConnectOptions::with_jwt(jwt, move |nonce| {
        let user = user.clone();
        async move { user.sign(&nonce).map_err(async_nats::AuthError::new) }
    })
    .request_timeout(Some(Duration::from_secs(5)))
    .connect(platform.nats_url())
    .await
    .expect("connect into the extension account")
}

//! Helpers the multi-instance test files share (not a test target: `tests/tests/common/mod.rs`).
// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use async_nats::Client;
use serde_json::Value;
use symphony_protocol::capability::Permissions;
use symphony_protocol::{KeyId, subjects};
use symphony_server::identity::{Account, Identity};
use symphony_tests::Platform;
use tokio::sync::watch;

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

/// What instance handler `handler` of `instance` answers (JSON).
pub async fn ask(
    nc: &Client,
    prefix: &str,
    instance: &str,
    handler: &str,
) -> anyhow::Result<Value> {
    let instance = KeyId::parse(instance).context("an instance id")?;
    let subject = subjects::instance_handler_subject(prefix, &instance, handler);
    let reply = nc.request(subject, "{}".into()).await?;
    Ok(serde_json::from_slice(&reply.payload)?)
}

/// The items of an `{"owned": […]}` answer.
pub fn owned(status: &Value) -> BTreeSet<String> {
    status["owned"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// One sample of the checker: which instance owned which items.
pub struct Sample {
    pub instance: String,
    pub owned: BTreeSet<String>,
}

/// Samples the instances in `targets` (instance id, the instance handler that answers `{"owned": […]}`)
/// of extension `prefix` one after another until `stop` turns true.
pub async fn check_ownership(
    nc: Client,
    prefix: &'static str,
    targets: Arc<Mutex<Vec<(String, String)>>>,
    mut stop: watch::Receiver<bool>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut next = 0usize;
    loop {
        if *stop.borrow_and_update() {
            return samples;
        }
        let target = {
            let targets = targets.lock().unwrap();
            if targets.is_empty() {
                None
            } else {
                next = (next + 1) % targets.len();
                Some(targets[next].clone())
            }
        };
        match target {
            // A killed instance stops answering: no sample.
            Some((instance, handler)) => {
                if let Ok(s) = ask(&nc, prefix, &instance, &handler).await {
                    samples.push(Sample {
                        instance,
                        owned: owned(&s),
                    });
                }
            }
            None => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// Items seen in `y`'s sample and in the samples of another instance `x` right before and right after
/// it. Samples are taken one at a time, so `x` owned such an item before and after `y` reported it; with
/// keys moving only one way in a join or a leave, `x` owned it while `y` did too.
pub fn owned_twice(samples: &[Sample]) -> Vec<String> {
    let mut found = Vec::new();
    for (p, y) in samples.iter().enumerate() {
        let others: BTreeSet<&str> = samples
            .iter()
            .map(|s| s.instance.as_str())
            .filter(|i| *i != y.instance)
            .collect();
        for x in others {
            let before = samples[..p].iter().rev().find(|s| s.instance == x);
            let after = samples[p + 1..].iter().find(|s| s.instance == x);
            if let (Some(before), Some(after)) = (before, after) {
                for item in y.owned.intersection(&before.owned) {
                    if after.owned.contains(item) {
                        found.push(format!("{item}: {} and {x} (sample {p})", y.instance));
                    }
                }
            }
        }
    }
    found
}

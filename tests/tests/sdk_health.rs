//! The Rust SDK's health (docs/protocol.md §5.3, §5.4, §5.6): an extension sets `warning` / `error` /
//! `ok` with a message — before `run()` on the extension, while it runs through a `HealthHandle`
//! from a task or an endpoint handler — and `GET /api/v1/extensions/{prefix}` shows the state and the
//! message; an invalid state is a typed error; shutdown still publishes `disconnected`.

use cirata_symphony::{Error, Extension, HandlerError, Health, Request, ServiceConfig};
use symphony_protocol::messages::{ExtensionState, ExtensionView, InstanceState};
use symphony_tests::OfKey;
use symphony_tests::platform::{key_id_of, summarize};
use symphony_tests::{DEFAULT_DEADLINE, Platform, PlatformOptions, eventually};

const PREFIX: &str = "sdkhealth";

/// Polls `GET /api/v1/extensions/{PREFIX}` until the extension is `state` and its one instance
/// `instance` reports `instance_state` with `message`.
async fn wait_health(
    platform: &Platform,
    token: &str,
    instance: &str,
    state: ExtensionState,
    instance_state: InstanceState,
    message: Option<&str>,
) -> ExtensionView {
    let what = format!("{PREFIX} {state:?} with {instance} {instance_state:?} {message:?}");
    eventually(&what, DEFAULT_DEADLINE, || async {
        let resp = platform
            .get(&format!("/extensions/{PREFIX}"), Some(token))
            .await;
        anyhow::ensure!(resp.status() == 200, "HTTP {}", resp.status());
        let view: ExtensionView = resp.json().await?;
        let i = view
            .instances
            .iter()
            .find(|i| i.of_key(instance))
            .ok_or_else(|| anyhow::anyhow!("no instance {instance}: {}", summarize(&view)))?;
        anyhow::ensure!(
            view.state == state && i.state == instance_state && i.message.as_deref() == message,
            "view: {} message {:?}, instance message {:?}",
            summarize(&view),
            view.message,
            i.message
        );
        Ok(view)
    })
    .await
}

#[tokio::test]
async fn set_health_shows_warning_error_and_ok_in_the_extension_view() {
    let platform = Platform::start(PlatformOptions::fast()).await;
    let key = platform.extension_key("SDK health", PREFIX, &[]).await;
    let id = key_id_of(&key);

    // An invalid state read from text is a typed error; nothing is stored.
    for bad in ["degraded", "disconnected", "WARNING"] {
        let err = bad.parse::<Health>().unwrap_err();
        assert!(
            matches!(&err, Error::InvalidHealth { state } if state == bad),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains("ok, warning or error"), "{err}");
    }

    let mut ext = Extension::new("SDK health", PREFIX).with_token(key.clone());
    ext.add_capability("sub", &format!("extensions.{PREFIX}.>"), "Everything")
        .unwrap();
    ext.connect().await.expect("the extension registers");
    let inst = ext.instance_id().expect("connected").to_owned();
    let client = ext.client();
    let health = ext.health_handle();
    let svc = ext
        .add_endpoints(ServiceConfig::new("health", "1.0.0").description("Sets the health"))
        .await
        .unwrap();
    // The seed's two-part version (`add_endpoints("myext", "1.0")`) is read as semver.
    ext.add_endpoints(ServiceConfig::new("seedversion", "1.0"))
        .await
        .expect("a two-part version is accepted");
    let versions: Vec<_> = ext
        .manifest()
        .endpoints
        .iter()
        .map(|s| (s.service.clone(), s.version.clone()))
        .collect();
    assert!(
        versions.contains(&("seedversion".to_owned(), "1.0.0".to_owned())),
        "{versions:?}"
    );
    let for_handler = health.clone();
    svc.add_group(&format!("cirata.extensions.{PREFIX}"))
        .add_endpoint("fail", move |req: Request| {
            let health = for_handler.clone();
            async move {
                let why = String::from_utf8_lossy(req.data()).into_owned();
                health.set(Health::Error, Some(&why)).await;
                Ok::<_, HandlerError>("set")
            }
        })
        .await
        .unwrap();

    // Set before run(): the first status run() publishes carries it.
    ext.set_health(Health::Warning, Some("starting up")).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        ext.run_until(async {
            let _ = stopped.await;
        })
        .await
    });
    let view = wait_health(
        &platform,
        &key,
        &id,
        ExtensionState::Warning,
        InstanceState::Warning,
        Some("starting up"),
    )
    .await;
    assert_eq!(
        view.message.as_deref(),
        Some(format!("instance {inst}: starting up").as_str())
    );

    // While run() holds the extension: from a task, through a handle.
    let from_task = health.clone();
    tokio::spawn(async move {
        from_task.set(Health::Warning, Some("disk 91% full")).await;
    })
    .await
    .unwrap();
    let view = wait_health(
        &platform,
        &key,
        &id,
        ExtensionState::Warning,
        InstanceState::Warning,
        Some("disk 91% full"),
    )
    .await;
    assert_eq!(
        view.message.as_deref(),
        Some(format!("instance {inst}: disk 91% full").as_str())
    );

    // From an endpoint handler: every live instance reports error, so the extension is Error.
    let reply = client
        .request(
            &format!("cirata.extensions.{PREFIX}.fail"),
            "database unreachable",
        )
        .await
        .expect("the handler answers");
    assert_eq!(&reply.payload[..], b"set");
    assert_eq!(
        health.get(),
        (Health::Error, Some("database unreachable".to_owned()))
    );
    let view = wait_health(
        &platform,
        &key,
        &id,
        ExtensionState::Error,
        InstanceState::Error,
        Some("database unreachable"),
    )
    .await;
    assert_eq!(
        view.message.as_deref(),
        Some(format!("instance {inst}: database unreachable").as_str())
    );

    // Back to ok: the message goes.
    health.set(Health::Ok, None).await;
    let view = wait_health(
        &platform,
        &key,
        &id,
        ExtensionState::Ok,
        InstanceState::Ok,
        None,
    )
    .await;
    assert_eq!(view.message, None);

    // Later heartbeats keep carrying the health.
    health.set(Health::Warning, Some("still warm")).await;
    wait_health(
        &platform,
        &key,
        &id,
        ExtensionState::Warning,
        InstanceState::Warning,
        Some("still warm"),
    )
    .await;
    let beats = |v: &ExtensionView| {
        v.instances
            .iter()
            .find(|i| i.of_key(&id))
            .map(|i| i.updated_at.clone())
    };
    let first = beats(&platform.extension_http(PREFIX, &key).await);
    eventually("a later heartbeat", DEFAULT_DEADLINE, || async {
        let view = platform.extension_http(PREFIX, &key).await;
        let i = view
            .instances
            .iter()
            .find(|i| i.of_key(&id))
            .ok_or_else(|| anyhow::anyhow!("instance gone"))?;
        anyhow::ensure!(
            Some(&i.updated_at) != first.as_ref(),
            "no new heartbeat yet"
        );
        anyhow::ensure!(
            i.state == InstanceState::Warning && i.message.as_deref() == Some("still warm"),
            "the heartbeat lost the health: {}",
            summarize(&view)
        );
        Ok(())
    })
    .await;

    // Shutdown publishes disconnected, whatever the health; a health set afterwards is stored only.
    stop.send(()).unwrap();
    running
        .await
        .unwrap()
        .expect("run_until ends without an error");
    wait_health(
        &platform,
        &key,
        &id,
        ExtensionState::Inactive,
        InstanceState::Disconnected,
        None,
    )
    .await;
    health.set(Health::Error, Some("after shutdown")).await;
    let view = platform.extension_http(PREFIX, &key).await;
    assert_eq!(view.state, ExtensionState::Inactive, "{}", summarize(&view));
}

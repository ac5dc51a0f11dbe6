//! The application: the state every feature router needs, as cheap-to-clone sub-states
//! ([`FromRef`]), and the one router that assembles the features.

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use symphony_protocol::messages::SymphonyInfo;

use crate::auth::Auth;
use crate::gateway::Gateway;
use crate::libraries::PypiUpstream;
use crate::licensing::Licensing;
use crate::registry::Registry;
use crate::ui::jsx::TranspileCache;
use crate::ui::sandbox::FramePolicy;
use crate::{api, gateway, http, libraries, licensing, ui};

/// What the handlers can reach; each handler takes only the parts it needs.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub gateway: Gateway,
    pub info: Arc<SymphonyInfo>,
    pub pypi_upstream: PypiUpstream,
    /// Transpiled extension UI modules by source hash.
    pub modules: Arc<TranspileCache>,
    /// The UI sandbox origin's frame document policy.
    pub frame_policy: Arc<FramePolicy>,
    /// Uploaded licenses and the enforcement state.
    pub licensing: Licensing,
}

/// `State<Part>` for each part of [`AppState`] (what `#[derive(FromRef)]` would write).
macro_rules! parts {
    ($($field:ident: $ty:ty),* $(,)?) => {$(
        impl FromRef<AppState> for $ty {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        }
    )*};
}

parts!(
    registry: Arc<Registry>,
    gateway: Gateway,
    info: Arc<SymphonyInfo>,
    pypi_upstream: PypiUpstream,
    modules: Arc<TranspileCache>,
    frame_policy: Arc<FramePolicy>,
    licensing: Licensing,
);

/// The identity stores are the registry's own.
impl FromRef<AppState> for Arc<Auth> {
    fn from_ref(state: &AppState) -> Self {
        state.registry.auth.clone()
    }
}

/// Every route of the server: the platform API, the gateway, the SDK downloads and the UI shell,
/// with the shell (or the JSON 404) as the fallback.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::router())
        .merge(gateway::router())
        .merge(libraries::router())
        .merge(licensing::router())
        .merge(ui::router())
        .fallback(ui::fallback)
        .layer(axum::middleware::from_fn(
            http::middleware::close_when_body_may_be_unread,
        ))
        .with_state(state)
}

/// Every route of the UI sandbox listener (docs/ui.md "Trust"): the frame document, the files
/// frames use, sandboxed JSX modules and the gateway for scoped bearers; the JSON 404 for the rest
/// (no shell, no platform API). No cookie is set or read there.
pub fn sandbox_router(state: AppState) -> Router {
    Router::new()
        .merge(ui::sandbox::router())
        .merge(gateway::sandbox_router())
        .fallback(http::not_found)
        .layer(axum::middleware::from_fn(http::middleware::ui_sandbox))
        .layer(axum::middleware::from_fn(
            http::middleware::close_when_body_may_be_unread,
        ))
        .with_state(state)
}

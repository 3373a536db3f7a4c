//! Carebook's FHIR R4 API at `/fhir/R4`: a view onto the same services, not
//! a second database. Every answer comes from the public REST API behind the
//! gateway, called with the caller's own token, so the access rules, the
//! records audit and the booking guarantees are the REST API's; this service
//! checks the token's SMART scopes and says the answers in FHIR.

pub mod api;
pub mod config;
pub mod domain;
pub mod routes;

use std::sync::Arc;

use axum::{extract::State, http::StatusCode, routing::get, Json, Router};
use platform::{auth::Verifier, service::Service};

pub use config::Config;

/// Where the FHIR API lives on the gateway and on this service.
pub const BASE_PATH: &str = "/fhir/R4";

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub api: api::Api,
    pub verifier: Arc<Verifier>,
    /// The FHIR base URL clients see (`{public}/fhir/R4`).
    pub base: String,
    /// The public address of the whole API (`FHIR_PUBLIC_URL`).
    pub public: String,
}

impl axum::extract::FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Build the FHIR service: its routes, health, readiness (the token keys are
/// held) and metrics.
pub async fn build(config: &Config) -> anyhow::Result<Service> {
    let verifier = Verifier::from_config(&config.auth);
    let state = AppState {
        api: api::Api::new(&config.api_url, config.api_timeout, config.tls.as_ref())?,
        verifier,
        base: config.base_url(),
        public: config.public_url.clone(),
    };
    Ok(Service::new("fhir", router(state, config)).secured(config.tls.as_ref()))
}

fn router(state: AppState, config: &Config) -> Router {
    platform::metrics::handle();
    let ops = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz).with_state(state.verifier.clone()))
        .route("/metrics", get(|| async { platform::metrics::render() }));
    routes::router(state, config).merge(ops)
}

/// Ready once the token keys are held: before that every request would fail.
async fn readyz(State(verifier): State<Arc<Verifier>>) -> (StatusCode, Json<serde_json::Value>) {
    if verifier.holds_keys() {
        (StatusCode::OK, Json(serde_json::json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "starting"})),
        )
    }
}

//! Carebook's web portal: server-rendered pages for patients, providers, staff
//! and admins. It is a client of the public API behind the gateway like any
//! other (the user's bearer token, no database, no back door); its own state
//! is the browser sessions it keeps in Redis, encrypted. The gateway serves it at `/`.

pub mod api;
pub mod assets;
pub mod config;
pub mod domain;
pub mod render;
pub mod session;
pub mod web;

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use platform::{
    cache::LazyCache,
    clock::{Clock, SystemClock},
    http::REQUEST_ID,
    service::Service,
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

pub use config::Config;

use api::ApiClient;
use assets::Assets;
use render::Pages;
use session::SessionStore;

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub api: ApiClient,
    pub sessions: SessionStore,
    pub pages: Arc<Pages>,
    pub secure_cookies: bool,
    pub max_body_bytes: usize,
    /// The clinic's "now" for what a page offers (visit steps, today's date,
    /// what can still be changed): the system clock, moved together with
    /// scheduling's in the system tests.
    pub clock: Arc<dyn Clock>,
}

/// The portal's own CSP: scripts, styles and images only from itself, no
/// inline code, forms only to itself, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'";

/// Build the portal: pages, static files, health and metrics. Redis being
/// down at start is not fatal: pages answer 503 until it is back.
pub async fn build(config: &Config) -> anyhow::Result<Service> {
    build_with(config, Arc::new(SystemClock)).await
}

/// [`build`] on a given clock (the system tests share one with scheduling).
pub async fn build_with(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Service> {
    let redis = LazyCache::connect_secured(
        &config.redis_url,
        &config.redis_prefix,
        "portal",
        config.tls.clone(),
    )
    .await;
    let assets = Arc::new(Assets::load(&config.htmx_dir));
    let state = AppState {
        api: ApiClient::new(&config.api_url, config.api_timeout, config.tls.as_ref())?,
        sessions: SessionStore::new(
            redis.clone(),
            config.session_keys.clone(),
            config.session_idle,
            config.session_max,
        ),
        pages: Arc::new(Pages::new(&assets.version)?),
        secure_cookies: config.secure_cookies,
        max_body_bytes: config.max_body_bytes,
        clock,
    };
    let router = router(state, assets);
    Ok(Service::new("portal", router)
        .with_worker(move |cancel| redis.keep_connecting(cancel))
        .secured(config.tls.as_ref()))
}

fn router(state: AppState, assets: Arc<Assets>) -> Router {
    // Install the metrics recorder before the first request is measured.
    platform::metrics::handle();
    let ops = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/readyz",
            get(readyz).with_state(state.sessions.redis().clone()),
        )
        .route("/metrics", get(|| async { platform::metrics::render() }));
    let timeout = Duration::from_secs(30);
    web::router(state)
        .merge(assets::router(assets))
        .merge(ops)
        .layer(middleware::from_fn(move |req, next| time_limit(timeout, req, next)))
        .layer(middleware::from_fn(|req, next| {
            platform::metrics::track_http("portal", req, next)
        }))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // Pages carry personal data: no cache keeps them (static files set their own).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(CatchPanicLayer::custom(|_| {
            render::html_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>Something went wrong. Please try again.</p>".to_owned(),
            )
        }))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                // The path only: query strings may carry search terms; and
                // never an emailed link's token (it is the link's authority).
                let path = platform::http::loggable_path(req.uri().path());
                let request_id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("request", service = "portal", request_id, method = %req.method(), path = &*path)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn time_limit(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => render::html_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "<!doctype html><title>Timed out</title><p>That took too long. Please try again.</p>"
                .to_owned(),
        ),
    }
}

/// Always ready while it runs, like the gateway: without Redis every page
/// answers a friendly 503, which beats taking every replica out of rotation
/// (the body says whether Redis is up).
async fn readyz(State(redis): State<LazyCache>) -> Response {
    let up = match redis.get() {
        Some(cache) => cache.ping().await.is_ok(),
        None => false,
    };
    Json(serde_json::json!({
        "status": "ready",
        "redis": if up { "up" } else { "down" },
    }))
    .into_response()
}

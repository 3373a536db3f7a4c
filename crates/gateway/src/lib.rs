//! Carebook's API gateway, the only public entry: routes `/api/...` to service
//! replicas, verifies access tokens, applies distributed rate limits, adds
//! request ids, trace context and security headers, and serves the merged
//! OpenAPI document.

pub mod config;
pub mod docs;
pub mod domain;
pub mod openapi;
pub mod proxy;
pub mod ratelimit;
pub mod upstream;

use std::{collections::HashMap, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    extract::State,
    http::{header, HeaderValue, Method},
    response::IntoResponse,
    routing::get,
    Router,
};
use ipnet::IpNet;
use platform::{
    auth::Verifier,
    extract::Json,
    http::REQUEST_ID,
    service::Service,
    tls::{ServerTls, TlsIdentity},
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

pub use config::Config;
use domain::routing::RouteTable;
use ratelimit::Limiter;
use upstream::{Pool, UpstreamClient};

/// Everything the proxy needs per request.
pub struct Gateway {
    pub routes: RouteTable,
    pub pools: HashMap<String, Arc<Pool>>,
    /// To the replicas; over mTLS when the gateway has a TLS identity.
    pub client: UpstreamClient,
    /// For health checks and OpenAPI fetches (TLS as `client`).
    pub http: reqwest::Client,
    pub verifier: Arc<Verifier>,
    pub limiter: Arc<Limiter>,
    pub trusted_proxies: Vec<IpNet>,
    pub max_body_bytes: u64,
    /// Off only for benchmarks that measure the bare proxy.
    pub rate_limiting: bool,
}

/// Build the gateway service: proxy router, health checkers, limiter
/// supervisor, and the admin and internal listeners when configured.
///
/// The public port terminates TLS only with `public_tls`; the gateway's own
/// identity (`tls`) secures its hops into the system and the internal
/// listener, and is watched for renewal here. So callers never call
/// `Service::secured` on it: that would demand client certificates of browsers.
pub async fn build(config: &Config) -> anyhow::Result<Service> {
    let tls = config.tls.as_ref();
    // Without the TLS the configuration asks for, the gateway does not start:
    // never a plaintext fallback.
    let client = upstream::client(tls).context("the TLS client to the upstreams")?;
    let http = platform::tls::http_client(tls, Duration::from_secs(5))
        .context("the TLS client for health checks and OpenAPI documents")?;
    let pools: HashMap<String, Arc<Pool>> = config
        .upstreams
        .iter()
        .map(|(service, urls)| (service.clone(), Arc::new(Pool::new(service, urls))))
        .collect();
    let limiter = Limiter::new(
        &config.redis_url,
        &config.redis_prefix,
        config.api_quota,
        config.auth_quota,
        config.tls.clone(),
    )
    .await;
    if !limiter.redis_up() {
        tracing::warn!("redis unreachable at start; local rate limiting until it answers");
    }
    let gateway = Arc::new(Gateway {
        routes: config.routes.clone(),
        pools,
        client,
        http: http.clone(),
        verifier: Verifier::from_config(&config.auth),
        limiter: limiter.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        max_body_bytes: config.max_body_bytes,
        rate_limiting: config.rate_limiting,
    });

    let routes = router(gateway.clone(), config);
    let mut service = Service::new("gateway", routes.clone());
    if let Some(addr) = config.admin_bind {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let admin = admin_router(gateway.clone());
        service = service.with_worker(move |cancel| async move {
            let served = axum::serve(listener, admin)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the admin listener stopped");
            }
        });
    }
    match (config.internal_bind, tls) {
        (Some(addr), _) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let tls = tls.cloned();
            service =
                service.with_worker(move |cancel| serve_internal(listener, routes, tls, cancel));
        }
        (None, Some(_)) => tracing::warn!(
            "GATEWAY_INTERNAL_BIND is unset: nothing inside the system (the portal) \
             can reach the gateway over TLS"
        ),
        (None, None) => {}
    }
    if let Some(identity) = tls {
        // Renewed certificates apply to the next connection, both ways.
        let watched = identity.clone();
        service = service.with_worker(move |cancel| watched.watch(cancel));
    }
    for pool in gateway.pools.values() {
        let (pool, http, every) = (pool.clone(), http.clone(), config.health_interval);
        service = service.with_worker(move |cancel| pool.check_health(http, every, cancel));
    }
    if let Some((cert, key)) = &config.public_tls {
        let acceptor = platform::http::tls_acceptor(cert, key).map_err(anyhow::Error::msg)?;
        service = service.with_tls(ServerTls::Fixed(acceptor));
    }
    Ok(service.with_worker(move |cancel| limiter.supervise(cancel)))
}

/// The public routes for callers inside the system: with a TLS identity, only
/// to clients with a certificate from the internal CA (mTLS); plain when TLS is off.
async fn serve_internal(
    listener: tokio::net::TcpListener,
    routes: Router,
    tls: Option<Arc<TlsIdentity>>,
    cancel: platform::shutdown::CancellationToken,
) {
    let served =
        platform::http::serve_with_tls(listener, routes, cancel, tls.map(ServerTls::Mutual)).await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the internal listener stopped");
    }
}

fn router(gateway: Arc<Gateway>, config: &Config) -> Router {
    // Install the metrics recorder before the first request is measured.
    platform::metrics::handle();
    let public_ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi::aggregated))
        .merge(docs::router(config.docs_dir.as_deref()));
    let ops = match config.admin_bind {
        // Answered here, so a catch-all route (the portal's `/`) never gets them.
        Some(_) => public_ops
            .route("/readyz", get(not_here))
            .route("/metrics", get(not_here)),
        None => public_ops.merge(operator_routes()),
    };
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            REQUEST_ID,
            header::HeaderName::from_static("ratelimit"),
            header::HeaderName::from_static("ratelimit-policy"),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600));
    let router = ops.fallback(proxy::handle).with_state(gateway);
    // HSTS only over TLS: sent over plain HTTP it would be ignored (RFC 6797 §8.1).
    let router = if config.public_tls.is_some() {
        router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ))
    } else {
        router
    };
    router
        .layer(cors)
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::extract::Request| {
            let request_id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", service = "gateway", request_id, method = %req.method(), path = req.uri().path())
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// What only operators and probes should reach: readiness (it shows every
/// upstream pool) and metrics.
fn operator_routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(|| async { platform::metrics::render() }))
}

/// The admin port: probes and Prometheus, never routed from outside.
fn admin_router(gateway: Arc<Gateway>) -> Router {
    operator_routes()
        .route("/healthz", get(healthz))
        .with_state(gateway)
}

async fn not_here() -> impl IntoResponse {
    platform::Problem::not_found("route")
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// The gateway is ready whenever it runs: a service without a healthy replica
/// gets a 503 problem on its own routes, and taking the gateway out of rotation
/// would only make every other route fail too. The body shows each pool's state.
async fn readyz(State(gw): State<Arc<Gateway>>) -> impl IntoResponse {
    let pools: serde_json::Map<String, serde_json::Value> = gw
        .pools
        .values()
        .map(|p| {
            let healthy = p.replicas().iter().filter(|r| r.is_healthy()).count();
            (
                p.service.clone(),
                serde_json::json!({"healthy": healthy, "replicas": p.replicas().len()}),
            )
        })
        .collect();
    Json(serde_json::json!({"status": "ready", "redis": gw.limiter.redis_up(), "upstreams": pools}))
}

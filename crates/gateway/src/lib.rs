//! Carebook's API gateway, the only public entry: routes `/api/...` to service
//! replicas (found by DNS, checked for readiness, ejected when failing),
//! verifies access tokens, applies distributed rate limits, adds request ids,
//! trace context and security headers, and serves the merged OpenAPI document.
//! It speaks HTTP/1.1 and HTTP/2 to clients and passes WebSockets through.

pub mod config;
pub mod discovery;
pub mod docs;
pub mod domain;
pub mod openapi;
pub mod outcome;
pub mod proxy;
pub mod ratelimit;
pub mod server;
pub mod upstream;

use std::{
    collections::HashMap, future::Future, io, net::SocketAddr, pin::Pin, sync::Arc, time::Duration,
};

use anyhow::Context;
use axum::{
    extract::State,
    http::{header, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use ipnet::IpNet;
use platform::{
    auth::Verifier, extract::Json, http::REQUEST_ID, service::Service, shutdown::CancellationToken,
    tls::ServerTls,
};
use tokio::{net::TcpListener, sync::Semaphore, task::JoinSet};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

pub use config::Config;
pub use discovery::{Resolve, SystemResolver};
use domain::routing::RouteTable;
use ratelimit::Limiter;
use server::Listening;
use upstream::{Connector, Pool};

/// Everything the proxy needs per request.
pub struct Gateway {
    pub routes: RouteTable,
    pub pools: HashMap<String, Arc<Pool>>,
    pub verifier: Arc<Verifier>,
    pub limiter: Arc<Limiter>,
    pub trusted_proxies: Vec<IpNet>,
    pub max_body_bytes: u64,
    /// Off only for benchmarks that measure the bare proxy.
    pub rate_limiting: bool,
    /// How long a request body may take to arrive.
    pub body_read_timeout: Duration,
    /// Requests that may wait on one service's replicas at once.
    pub upstream_max_in_flight: usize,
    /// The merged OpenAPI document, rebuilt in the background.
    pub openapi: openapi::Cache,
}

/// A background task that lives and stops with the gateway.
type Worker = Box<dyn FnOnce(CancellationToken) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

fn worker<F, Fut>(f: F) -> Worker
where
    F: FnOnce(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Box::new(move |cancel| Box::pin(f(cancel)))
}

/// How long workers get to finish after the server stopped.
const WORKER_GRACE: Duration = Duration::from_secs(10);

/// The gateway, ready to serve its public port with its own listener:
/// HTTP/1.1 and HTTP/2 (h2c, or ALPN under the public TLS), WebSocket
/// upgrades, the connection cap and the slow-client limits.
pub struct Server {
    routes: Router,
    workers: Vec<Worker>,
    listening: Listening,
}

impl Server {
    /// Serve on `listener` until `cancel`: stop accepting, drain requests, then
    /// let the workers (health checks, DNS, the other listeners) stop. A
    /// worker that panics stops the gateway with an error, as `Service::run`.
    pub async fn run(self, listener: TcpListener, cancel: CancellationToken) -> io::Result<()> {
        let addr = listener.local_addr()?;
        tracing::info!(service = "gateway", %addr, "listening");
        let mut workers = JoinSet::new();
        for w in self.workers {
            workers.spawn(w(cancel.clone()));
        }
        let serve = server::serve(listener, self.routes, cancel.clone(), self.listening);
        tokio::pin!(serve);
        let mut worker_died = false;
        let served = loop {
            tokio::select! {
                served = &mut serve => break served,
                Some(Err(ended)) = workers.join_next(), if !worker_died => {
                    if ended.is_panic() {
                        tracing::error!(service = "gateway", "a background worker panicked; stopping");
                        worker_died = true;
                        cancel.cancel();
                    }
                }
            }
        };
        cancel.cancel();
        let drain = async { while workers.join_next().await.is_some() {} };
        if tokio::time::timeout(WORKER_GRACE, drain).await.is_err() {
            tracing::warn!(service = "gateway", "workers did not stop in time");
        }
        tracing::info!(service = "gateway", "stopped");
        if worker_died {
            return Err(io::Error::other("a background worker panicked"));
        }
        served
    }

    /// Bind `addr` and run.
    pub async fn bind_and_run(self, addr: SocketAddr, cancel: CancellationToken) -> io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        self.run(listener, cancel).await
    }
}

/// The gateway with its own listeners (what a deployment runs), upstream
/// names resolved by the system resolver.
///
/// The public port terminates TLS only with `public_tls`; the gateway's own
/// identity (`tls`) secures its hops into the system and the internal
/// listener, and is watched for renewal here.
pub async fn server(config: &Config) -> anyhow::Result<Server> {
    server_with_resolver(config, Arc::new(SystemResolver)).await
}

/// [`server`], with upstream names resolved by `resolver`.
pub async fn server_with_resolver(
    config: &Config,
    resolver: Arc<dyn Resolve>,
) -> anyhow::Result<Server> {
    let connections = Arc::new(Semaphore::new(config.limits.max_connections.max(1)));
    let (routes, workers) = assemble(config, resolver, connections.clone()).await?;
    let tls = match &config.public_tls {
        Some((cert, key)) => Some(ServerTls::Fixed(
            server::public_tls(cert, key).map_err(anyhow::Error::msg)?,
        )),
        None => None,
    };
    Ok(Server {
        routes,
        workers,
        listening: Listening {
            tls,
            connections: Some(connections),
            header_read_timeout: config.limits.header_read_timeout,
        },
    })
}

/// The gateway as a platform [`Service`], for running in-process beside the
/// services (`carebook`'s stack): its public port is then served by the
/// platform's HTTP/1.1 listener, without HTTP/2 or the connection cap. Every
/// other behaviour (discovery, health, retries, limits, the other
/// listeners) is the same as [`server`]'s.
pub async fn build(config: &Config) -> anyhow::Result<Service> {
    let connections = Arc::new(Semaphore::new(config.limits.max_connections.max(1)));
    let (routes, workers) = assemble(config, Arc::new(SystemResolver), connections).await?;
    let mut service = Service::new("gateway", routes);
    for w in workers {
        service = service.with_worker(w);
    }
    if let Some((cert, key)) = &config.public_tls {
        let acceptor = platform::http::tls_acceptor(cert, key).map_err(anyhow::Error::msg)?;
        service = service.with_tls(ServerTls::Fixed(acceptor));
    }
    Ok(service)
}

/// The public routes and the workers beside them.
async fn assemble(
    config: &Config,
    resolver: Arc<dyn Resolve>,
    connections: Arc<Semaphore>,
) -> anyhow::Result<(Router, Vec<Worker>)> {
    let tls = config.tls.as_ref();
    // Without the TLS the configuration asks for, the gateway does not start:
    // never a plaintext fallback.
    let connector = Connector::new(tls, config.upstream.idle_timeout)
        .context("the TLS client to the upstreams")?;
    let pools: HashMap<String, Arc<Pool>> = config
        .upstreams
        .iter()
        .map(|(service, urls)| {
            let pool = Pool::new(service, urls, connector.clone(), config.upstream.health);
            (service.clone(), Arc::new(pool))
        })
        .collect();
    // Named upstreams get their first replicas before the first request.
    futures_util::future::join_all(
        pools
            .values()
            .filter(|p| p.has_names())
            .map(|p| p.discover(resolver.as_ref())),
    )
    .await;
    let limiter = Limiter::new(
        &config.redis_url,
        &config.redis_prefix,
        config.api_quota,
        config.auth_quota,
        config.auth_fallback,
        config.tls.clone(),
    )
    .await;
    if !limiter.redis_up() {
        tracing::warn!("redis unreachable at start; local rate limiting until it answers");
    }
    let gateway = Arc::new(Gateway {
        routes: config.routes.clone(),
        pools,
        verifier: Verifier::from_config(&config.auth),
        limiter: limiter.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        max_body_bytes: config.max_body_bytes,
        rate_limiting: config.rate_limiting,
        body_read_timeout: config.limits.body_read_timeout,
        upstream_max_in_flight: config.upstream.max_in_flight.max(1),
        openapi: openapi::Cache::default(),
    });

    let routes = router(gateway.clone(), config);
    let header_read_timeout = config.limits.header_read_timeout;
    let mut workers = Vec::new();
    if let Some(addr) = config.admin_bind {
        let listener = TcpListener::bind(addr).await?;
        let admin = admin_router(gateway.clone());
        // Uncapped: probes and Prometheus get through however busy the public ports are.
        let listening = Listening {
            tls: None,
            connections: None,
            header_read_timeout,
        };
        workers.push(worker(move |cancel| async move {
            if let Err(e) = server::serve(listener, admin, cancel, listening).await {
                tracing::error!(error = %e, "the admin listener stopped");
            }
        }));
    }
    match (config.internal_bind, tls) {
        (Some(addr), _) => {
            let listener = TcpListener::bind(addr).await?;
            let listening = Listening {
                tls: tls.cloned().map(ServerTls::Mutual),
                connections: Some(connections),
                header_read_timeout,
            };
            let routes = routes.clone();
            workers.push(worker(move |cancel| async move {
                if let Err(e) = server::serve(listener, routes, cancel, listening).await {
                    tracing::error!(error = %e, "the internal listener stopped");
                }
            }));
        }
        (None, Some(_)) => tracing::warn!(
            "GATEWAY_INTERNAL_BIND is unset: nothing inside the system (the portal, \
             fhir) can reach the gateway over TLS"
        ),
        (None, None) => {}
    }
    if let Some(identity) = tls {
        // Renewed certificates apply to the next connection, both ways.
        let watched = identity.clone();
        workers.push(worker(move |cancel| watched.watch(cancel)));
    }
    for pool in gateway.pools.values() {
        let (checked, every) = (pool.clone(), config.health_interval);
        workers.push(worker(move |cancel| checked.check_health(every, cancel)));
        if pool.has_names() {
            let (followed, resolver, every) =
                (pool.clone(), resolver.clone(), config.upstream.dns_refresh);
            workers.push(worker(move |cancel| {
                followed.follow_dns(resolver, every, cancel)
            }));
        }
    }
    let (documented, every) = (gateway.clone(), config.openapi_refresh);
    workers.push(worker(move |cancel| {
        openapi::refresh(documented, every, cancel)
    }));
    workers.push(worker(move |cancel| limiter.supervise(cancel)));
    Ok((routes, workers))
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
            // FHIR's conditional create (`POST /fhir/R4/Appointment`).
            header::HeaderName::from_static("if-none-exist"),
        ])
        .expose_headers([
            REQUEST_ID,
            header::HeaderName::from_static("ratelimit"),
            header::HeaderName::from_static("ratelimit-policy"),
            header::RETRY_AFTER,
            // Where a created FHIR resource is.
            header::LOCATION,
        ])
        .max_age(Duration::from_secs(600));
    let router = ops.fallback(proxy::handle).with_state(gateway);
    // No allowed origin, no CORS layer: it would only add `Vary` to every
    // answer, and it is cloned for every request.
    let router = if config.cors_origins.is_empty() {
        router
    } else {
        router.layer(cors)
    };
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
            // Never an emailed link's token: it is the link's whole authority.
            let path = platform::http::loggable_path(req.uri().path());
            // DEBUG: at the default level no span is built per request (an
            // eighth of the proxy's instructions); the proxy's warnings name
            // the request id themselves.
            tracing::debug_span!("request", service = "gateway", request_id, method = %req.method(), path = %path)
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

/// The gateway is ready once it holds the token keys, and from then on
/// whenever it runs: a service without a healthy replica still gets its
/// requests (panic mode) or a 503 problem on its own routes, and taking the
/// gateway out of rotation would only make every other route fail too. The
/// body shows each pool's state.
async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    let pools: serde_json::Map<String, serde_json::Value> = gw
        .pools
        .values()
        .map(|p| {
            let status = serde_json::to_value(p.status()).unwrap_or_default();
            (p.service.clone(), status)
        })
        .collect();
    let redis = gw.limiter.redis_up();
    if !gw.verifier.holds_keys() {
        let body = serde_json::json!({"status": "starting", "detail": "no token keys fetched yet", "redis": redis, "upstreams": pools});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    Json(serde_json::json!({"status": "ready", "redis": redis, "upstreams": pools})).into_response()
}

//! The HTTP shell every service shares: health, readiness, metrics and OpenAPI
//! routes; request ids, tracing, timeouts, body limits and security headers as
//! tower layers; problem+json for unknown routes; graceful serving.

use std::time::Duration;

use axum::{
    extract::{DefaultBodyLimit, Request, State},
    http::{header, HeaderName, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use crate::{cache::Cache, events::Broker, metrics, problem::Problem};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What `/readyz` checks: the database, which decides; the broker, which
/// decides for services that consume events ([`consumes_events`]); Redis,
/// reported only.
#[derive(Clone)]
pub struct Readiness {
    pub db: PgPool,
    pub cache: Option<Cache>,
    pub broker: Option<Broker>,
}

/// Settings of the shared HTTP shell.
pub struct Shell {
    pub service: &'static str,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub openapi: utoipa::openapi::OpenApi,
}

impl Shell {
    /// The shell of `service` with its shared settings' limits.
    pub fn new(
        service: &'static str,
        common: &crate::config::CommonConfig,
        openapi: utoipa::openapi::OpenApi,
    ) -> Self {
        Self {
            service,
            max_body_bytes: common.max_body_bytes,
            request_timeout: common.request_timeout,
            openapi,
        }
    }
}

/// Wrap a service's API routes with the shared routes and layers.
pub fn service_router(shell: Shell, api: Router, readiness: Readiness) -> Router {
    // Install the recorder before the first request is measured.
    metrics::handle();
    let openapi = crate::openapi::complete(shell.openapi.clone());
    let ops = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/readyz",
            get(readyz).with_state(ReadyState {
                readiness,
                consumes: consumes_events(shell.service),
            }),
        )
        .route("/metrics", get(|| async { metrics::render() }))
        .route("/openapi.json", get(move || async move { Json(openapi) }));
    let service = shell.service;
    let timeout = shell.request_timeout;
    let router = api
        .merge(ops)
        .fallback(|| async { Problem::not_found("route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            )
        })
        .layer(DefaultBodyLimit::max(shell.max_body_bytes))
        .layer(middleware::from_fn(move |req, next| {
            time_limit(timeout, req, next)
        }))
        .layer(middleware::from_fn(move |req, next| {
            metrics::track_http(service, req, next)
        }));
    with_security_headers(router)
        .layer(CatchPanicLayer::custom(|_| Problem::internal(&"handler panicked").into_response()))
        .layer(
            TraceLayer::new_for_http().make_span_with(move |req: &Request| {
                // The path only: query strings may carry search terms (names).
                let request_id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let path = loggable_path(req.uri().path());
                tracing::info_span!("request", service, request_id, method = %req.method(), path = %path)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Paths whose next segment is the token of a one-click link in an email
/// (the API's and the portal's pages for them).
const TOKEN_PATH_PREFIXES: &[&str] = &[
    "/api/v1/appointment-links/",
    "/api/v1/waitlist/offers/",
    "/api/v1/calendar-feeds/",
    "/appointment-links/",
    "/waitlist/offers/",
];

/// `path` as request logs record it: a link token (the link's whole
/// authority) becomes `{token}`; every other path is unchanged.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for prefix in TOKEN_PATH_PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix) {
            let after = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            return std::borrow::Cow::Owned(format!("{prefix}{{token}}{after}"));
        }
    }
    std::borrow::Cow::Borrowed(path)
}

/// Headers every API response carries, unless a handler set its own.
fn with_security_headers(router: Router) -> Router {
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        // API responses carry personal data: never store them in shared caches.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

async fn time_limit(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "Request timed out",
        )
        .with_retry_after(1)
        .into_response(),
    }
}

/// The longest `/readyz` waits for any one dependency: the gateway's check
/// gives up after a second, and a dependency that slow is as good as down.
const READY_CHECK_TIMEOUT: Duration = Duration::from_millis(750);

/// What `/readyz` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub database: bool,
    /// `None`: not checked (the service does not need it to be ready).
    pub redis: Option<bool>,
    /// `None`: the service has no broker connection.
    pub broker: Option<bool>,
}

/// The verdict of `/readyz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ready,
    /// Not ready, with what is missing.
    NotReady {
        database: bool,
        broker: bool,
    },
}

/// Whether `service` consumes events (its contract lists subscriptions):
/// then its consumers need the broker, and it is not ready without it.
pub fn consumes_events(service: &str) -> bool {
    contracts::Service::parse(service)
        .is_some_and(|s| contracts::subscriptions::of(s).next().is_some())
}

/// Ready while the database answers: without it nothing works. A service that
/// consumes events also needs the broker, or its consumers cannot run and its
/// read models and emails fall behind; one that only publishes stays ready
/// without it (the outbox holds its events until the broker is back). Redis is
/// reported but never decides: caches degrade to the database, and pulling
/// every replica out of rotation would turn its outage into ours.
pub fn verdict(found: Found, consumes: bool) -> Verdict {
    let broker_missing = consumes && found.broker == Some(false);
    if found.database && !broker_missing {
        Verdict::Ready
    } else {
        Verdict::NotReady {
            database: !found.database,
            broker: broker_missing,
        }
    }
}

/// `/readyz`'s state: the dependencies, and whether this service consumes.
#[derive(Clone)]
struct ReadyState {
    readiness: Readiness,
    consumes: bool,
}

/// True when `check` answers true within [`READY_CHECK_TIMEOUT`].
async fn within_limit(check: impl std::future::Future<Output = bool>) -> bool {
    tokio::time::timeout(READY_CHECK_TIMEOUT, check)
        .await
        .unwrap_or(false)
}

async fn readyz(State(state): State<ReadyState>) -> Response {
    let r = &state.readiness;
    let database = within_limit(async { sqlx::query("SELECT 1").execute(&r.db).await.is_ok() });
    let redis = async {
        match &r.cache {
            Some(cache) => Some(within_limit(async { cache.ping().await.is_ok() }).await),
            None => None,
        }
    };
    let broker = async {
        match &r.broker {
            // Consumers reconnect on their own; the channel also reconnects a
            // publisher that has had nothing to send since the broker came back.
            Some(b) => Some(
                within_limit(async { b.is_connected().await || b.channel().await.is_ok() }).await,
            ),
            None => None,
        }
    };
    let (database, redis, broker) = tokio::join!(database, redis, broker);
    let found = Found {
        database,
        redis,
        broker,
    };
    let state_of = |ok: Option<bool>| match ok {
        Some(true) => "up",
        Some(false) => "down",
        None => "unused",
    };
    match verdict(found, state.consumes) {
        Verdict::Ready => Json(serde_json::json!({
            "status": "ready",
            "database": state_of(Some(database)),
            "redis": state_of(redis),
            "broker": state_of(broker),
            "consumes_events": state.consumes,
        }))
        .into_response(),
        Verdict::NotReady { database, broker } => {
            let mut missing = Vec::new();
            if database {
                missing.push("the database is unreachable");
            }
            if broker {
                missing.push("the broker is unreachable, so this service's consumers cannot run");
            }
            Problem::unavailable(format!("Not ready: {}.", missing.join("; "))).into_response()
        }
    }
}

/// Connection limits that keep slow or oversized clients from holding resources.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Request line plus headers, at most (larger ones get 431).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long in-flight requests may take to finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve HTTP/1.1 until `cancel` fires, then stop accepting and let in-flight
/// requests finish. Clients that trickle their headers (slowloris) are cut off
/// after [`HEADER_READ_TIMEOUT`]; idle keep-alive connections close on shutdown.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    serve_with_tls(listener, router, cancel, None).await
}

/// [`serve`], terminating TLS first when given (the configuration in use is
/// taken per connection, so a renewed certificate applies to the next one).
pub async fn serve_with_tls(
    listener: TcpListener,
    router: Router,
    cancel: CancellationToken,
    tls: Option<crate::tls::ServerTls>,
) -> std::io::Result<()> {
    use hyper_util::{
        rt::{TokioIo, TokioTimer},
        server::graceful::GracefulShutdown,
        service::TowerToHyperService,
    };
    use tower::Service as _;

    // Peer addresses reach handlers (the gateway keys rate limits on them).
    let mut make_service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = match make_service.call(peer).await {
            Ok(s) => s,
            Err(never) => match never {},
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_HEAD_BYTES);
        let service = TowerToHyperService::new(service);
        let watcher = graceful.watcher();
        let acceptor = tls.as_ref().map(crate::tls::ServerTls::acceptor);
        // The handshake runs on the connection's own task: a slow client never
        // holds up the accept loop.
        tokio::spawn(async move {
            let result = match acceptor {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn).await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls_stream)) => {
                            let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
                            watcher.watch(conn).await
                        }
                        Ok(Err(e)) => {
                            // A client without a certificate from our CA ends here.
                            tracing::debug!(error = %e, "TLS handshake failed");
                            ::metrics::counter!("tls_handshake_failures_total").increment(1);
                            return;
                        }
                        Err(_) => return,
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish before the drain timeout");
    }
    Ok(())
}

/// A TLS acceptor from PEM files (certificate chain, private key).
pub fn tls_acceptor(
    cert_path: &std::path::Path,
    key_path: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        format!(
            "cannot read the private key from {}: {e}",
            key_path.display()
        )
    })?;
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("invalid certificate or key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn link_tokens_never_reach_the_request_log() {
        assert_eq!(
            loggable_path("/api/v1/appointment-links/AZOKsecret/cancel"),
            "/api/v1/appointment-links/{token}/cancel"
        );
        assert_eq!(
            loggable_path("/api/v1/waitlist/offers/wo_secret/claim"),
            "/api/v1/waitlist/offers/{token}/claim"
        );
        assert_eq!(
            loggable_path("/waitlist/offers/wo_secret"),
            "/waitlist/offers/{token}"
        );
        assert_eq!(loggable_path("/api/v1/waitlist"), "/api/v1/waitlist");
        assert_eq!(
            loggable_path("/api/v1/appointments/x"),
            "/api/v1/appointments/x"
        );
    }

    use super::*;

    const ALL_UP: Found = Found {
        database: true,
        redis: Some(true),
        broker: Some(true),
    };

    #[test]
    fn only_services_with_subscriptions_consume_events() {
        for service in [
            "directory",
            "scheduling",
            "notifications",
            "billing",
            "records",
        ] {
            assert!(consumes_events(service), "{service} consumes");
        }
        for service in ["identity", "portal", "gateway", "nonsense"] {
            assert!(!consumes_events(service), "{service} does not consume");
        }
    }

    #[test]
    fn a_consumer_is_not_ready_without_the_broker() {
        let found = Found {
            broker: Some(false),
            ..ALL_UP
        };
        assert_eq!(
            verdict(found, true),
            Verdict::NotReady {
                database: false,
                broker: true
            }
        );
    }

    #[test]
    fn a_publisher_stays_ready_without_the_broker_or_redis() {
        let found = Found {
            redis: Some(false),
            broker: Some(false),
            ..ALL_UP
        };
        assert_eq!(verdict(found, false), Verdict::Ready);
        assert_eq!(verdict(ALL_UP, true), Verdict::Ready);
        let no_broker = Found {
            broker: None,
            ..ALL_UP
        };
        assert_eq!(
            verdict(no_broker, true),
            Verdict::Ready,
            "nothing to wait for"
        );
    }

    #[test]
    fn nobody_is_ready_without_the_database() {
        let found = Found {
            database: false,
            ..ALL_UP
        };
        for consumes in [false, true] {
            assert_eq!(
                verdict(found, consumes),
                Verdict::NotReady {
                    database: true,
                    broker: false
                }
            );
        }
        let nothing = Found {
            database: false,
            redis: None,
            broker: Some(false),
        };
        assert_eq!(
            verdict(nothing, true),
            Verdict::NotReady {
                database: true,
                broker: true
            }
        );
    }
}

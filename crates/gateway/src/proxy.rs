//! The reverse proxy: route → method → authenticate → rate-limit → forward to
//! a replica, streaming bodies both ways.
//!
//! Retries: a request that never reached a replica (the connection failed) is
//! sent to another whatever its method. One that did is sent again, once and
//! to another replica, only when that is safe (GET, HEAD, OPTIONS, or an
//! `Idempotency-Key`), the replica reset the connection or answered 502/503,
//! the body is still in hand, and the pool's retry budget allows it.
//!
//! A request body must arrive within `GATEWAY_BODY_READ_TIMEOUT_MS`; a client
//! that trickles it gets 408 and its connection closed. `Upgrade: websocket`
//! requests become a tunnel to the replica once it answers 101.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, Request, State},
    http::{
        header, request::Parts, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri,
        Version,
    },
    response::{IntoResponse, Response},
};
use http_body_util::Limited;
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::TokioIo;
use platform::{auth::TokenError, Problem};
use tokio::time::Sleep;

use crate::{
    domain::{
        client_ip::{client_ip, limit_key},
        gcra::{Decision, Quota},
        outlier::Outcome,
        retry::{self, Attempt, Step},
        routing::{class_of, is_fhir, is_public, Route, RouteClass},
    },
    ratelimit::Backend,
    upstream::{InFlight, Replica},
    Gateway,
};

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers only the gateway may set; a client sending them is ignored.
const INTERNAL_PREFIX: &str = "x-carebook-";

/// Replicas one request may be offered to.
const MAX_ATTEMPTS: usize = 3;

pub async fn handle(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let Some(route) = gw.routes.find(req.uri().path()) else {
        return Problem::not_found("route").into_response();
    };
    if !route.allows(req.method().as_str()) {
        return method_not_allowed(route);
    }
    let fhir = is_fhir(req.uri().path());
    let mut response = forward(&gw, route, peer, req).await;
    if fhir {
        response = crate::outcome::for_fhir(response).await;
    }
    metrics::histogram!(
        "gateway_request_duration_seconds",
        "service" => route.service_label.clone(),
        "status" => status_label(response.status()),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// The status as a metric label; the common ones without an allocation.
fn status_label(status: StatusCode) -> metrics::SharedString {
    let common = match status.as_u16() {
        200 => "200",
        201 => "201",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        other => return other.to_string().into(),
    };
    common.into()
}

fn method_not_allowed(route: &Route) -> Response {
    let mut response = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
    )
    .with_detail("This route does not take that method; `Allow` lists the ones it takes.")
    .into_response();
    if let Ok(allow) = HeaderValue::from_str(&route.allow_header()) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

async fn forward(gw: &Gateway, route: &Route, peer: SocketAddr, req: Request) -> Response {
    let forwarded_for = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let client = client_ip(peer.ip(), forwarded_for, &gw.trusted_proxies);
    let address = || format!("ip:{}", limit_key(client));

    // 1. Who is calling. Services verify the token again; this stops forgeries early.
    let path = req.uri().path();
    let user = if route.public || is_public(req.method().as_str(), path) {
        None
    } else {
        match authenticate(gw, req.headers(), &address()).await {
            Ok(user) => Some(user),
            Err(refusal) => return refusal,
        }
    };

    // 2. How much they may do.
    let class = class_of(path);
    let limit = if gw.rate_limiting {
        let subject = match user {
            Some(id) => format!("user:{id}"),
            None => address(),
        };
        match admit(gw, class, &subject).await {
            Ok(limit) => Some(limit),
            Err(refusal) => return refusal,
        }
    } else {
        None
    };

    // 3. Send it on.
    let max_body = route.max_body.unwrap_or(gw.max_body_bytes);
    let too_big = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > max_body);
    if too_big {
        return Problem::payload_too_large(max_body as usize).into_response();
    }
    let peer_trusted = gw
        .trusted_proxies
        .iter()
        .any(|net| net.contains(&peer.ip()));
    let mut response = send(gw, route, client, peer_trusted, max_body, req).await;
    if let Some((quota, decision)) = limit {
        rate_limit_headers(response.headers_mut(), class, quota, decision);
    }
    if user.is_some() {
        // Authenticated answers carry personal data: never cache them anywhere.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The caller's user id from a valid access token. A missing, invalid or
/// expired token counts against the client's address on the API limit, like
/// anonymous traffic; an address already over that limit is refused before
/// any signature is checked.
async fn authenticate(
    gw: &Gateway,
    headers: &HeaderMap,
    address: &str,
) -> Result<uuid::Uuid, Response> {
    if gw.rate_limiting {
        if let Some(wait_ms) = gw.limiter.over_limit(address) {
            metrics::counter!("gateway_ratelimit_decisions_total", "class" => "api", "decision" => "deny", "backend" => "remembered").increment(1);
            return Err(Problem::too_many_requests(wait_ms.div_ceil(1000)).into_response());
        }
    }
    let refusal = match bearer(headers) {
        None => Problem::unauthorized("Send an access token: `Authorization: Bearer <token>`."),
        Some(token) => match gw.verifier.verify(token).await {
            Ok(claims) => return Ok(claims.sub),
            Err(TokenError::KeysUnavailable) => {
                return Err(
                    Problem::unavailable("Tokens cannot be checked right now.").into_response()
                )
            }
            Err(TokenError::Expired) => {
                Problem::unauthorized("The access token has expired; refresh it.")
            }
            Err(_) => Problem::unauthorized("The access token is invalid."),
        },
    };
    if gw.rate_limiting {
        admit(gw, RouteClass::Api, address).await?;
    }
    Err(refusal.into_response())
}

/// Count the request against its limit: the quota and decision when admitted,
/// the 429/503 response when not.
async fn admit(
    gw: &Gateway,
    class: RouteClass,
    subject: &str,
) -> Result<(Quota, Decision), Response> {
    let Ok(checked) = gw.limiter.check(class, subject).await else {
        metrics::counter!("gateway_ratelimit_decisions_total", "class" => class.as_str(), "decision" => "unavailable").increment(1);
        return Err(
            Problem::unavailable("Sign-in is briefly unavailable; try again shortly.")
                .into_response(),
        );
    };
    let (decision, quota) = (checked.decision, checked.quota);
    metrics::counter!(
        "gateway_ratelimit_decisions_total",
        "class" => class.as_str(),
        "decision" => if decision.allowed { "allow" } else { "deny" },
        "backend" => if checked.backend == Backend::Redis { "redis" } else { "local" },
    )
    .increment(1);
    if !decision.allowed {
        let mut response =
            Problem::too_many_requests(decision.retry_after_ms.div_ceil(1000)).into_response();
        rate_limit_headers(response.headers_mut(), class, quota, decision);
        return Err(response);
    }
    Ok((quota, decision))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Bodies up to this size are read before the request is sent, so the request
/// can be sent again: larger ones (uploads) and chunked ones are streamed.
const HELD_BODY_LIMIT: u64 = 64 * 1024;

/// The length of a body small enough to hold; `None` when it must be streamed.
/// A request with neither `Content-Length` nor `Transfer-Encoding` has no body.
fn held_body_length(parts: &Parts) -> Option<u64> {
    if parts.headers.contains_key(header::TRANSFER_ENCODING) {
        return None;
    }
    match parts.headers.get(header::CONTENT_LENGTH) {
        None => Some(0),
        Some(v) => v
            .to_str()
            .ok()?
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= HELD_BODY_LIMIT),
    }
}

/// Whether sending the request twice does no harm.
fn safe_to_repeat(parts: &Parts) -> bool {
    matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        || parts.headers.contains_key("idempotency-key")
}

/// An HTTP/1.1 request to switch to the WebSocket protocol.
fn is_websocket_upgrade(req: &Request) -> bool {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    let connection = req
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    req.version() == Version::HTTP_11 && upgrade && connection
}

/// The request body: held in memory (and so sendable again), or a stream that
/// can be sent once.
enum Payload {
    Held(Bytes),
    Streamed(Option<Body>),
}

impl Payload {
    /// The body for the next attempt; `None` once a stream was spent.
    fn next(&mut self) -> Option<Body> {
        match self {
            Payload::Held(bytes) => Some(Body::from(bytes.clone())),
            Payload::Streamed(body) => body.take(),
        }
    }

    fn resendable(&self) -> bool {
        matches!(self, Payload::Held(_))
    }
}

/// A request body that fails once its deadline passes, and says so in `expired`.
struct Deadline {
    inner: Body,
    sleep: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            let late = io::Error::new(io::ErrorKind::TimedOut, "the request body was too slow");
            return Poll::Ready(Some(Err(axum::Error::new(late))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// 408 to a client whose body did not arrive in time; its connection closes
/// (what is left of the body would otherwise be read as the next request).
fn body_too_slow(version: Version) -> Response {
    metrics::counter!("gateway_body_timeouts_total").increment(1);
    let mut response = Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        "Request body too slow",
    )
    .with_detail("The request body did not arrive in time; send it again at once.")
    .into_response();
    if version < Version::HTTP_2 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn send(
    gw: &Gateway,
    route: &Route,
    client: std::net::IpAddr,
    peer_trusted: bool,
    max_body: u64,
    mut req: Request,
) -> Response {
    let Some(pool) = gw.pools.get(&route.service) else {
        return upstream_down(&route.service, "not configured");
    };
    if pool.in_flight() >= gw.upstream_max_in_flight {
        return overloaded(&route.service);
    }
    let upgrade = is_websocket_upgrade(&req);
    let mut client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let expired = Arc::new(AtomicBool::new(false));
    let body = Body::new(Deadline {
        inner: body,
        sleep: Box::pin(tokio::time::sleep(gw.body_read_timeout)),
        expired: expired.clone(),
    });
    let mut payload = match held_body_length(&parts) {
        Some(length) => match axum::body::to_bytes(body, length as usize).await {
            Ok(bytes) => Payload::Held(bytes),
            Err(_) if expired.load(Ordering::Relaxed) => return body_too_slow(parts.version),
            Err(_) => {
                return Problem::bad_request("The request body could not be read.").into_response()
            }
        },
        None => Payload::Streamed(Some(Body::new(Limited::new(body, max_body as usize)))),
    };
    pool.count_request();
    let repeatable = safe_to_repeat(&parts);
    let mut tried: Vec<Arc<Replica>> = Vec::new();
    let mut resent = false;
    let service = route.service.as_str();
    // The replica a resent request goes to, chosen before giving up an answer.
    let mut next: Option<InFlight> = None;
    for _attempt in 0..MAX_ATTEMPTS {
        let Some(guard) = next.take().or_else(|| pool.acquire(&tried)) else {
            break;
        };
        let Some(body) = payload.next() else {
            break;
        };
        let upstream =
            match upstream_request(&parts, guard.replica(), body, client, peer_trusted, upgrade) {
                Some(r) => r,
                None => {
                    return Problem::bad_request("The request target is invalid.").into_response()
                }
            };
        let in_hand = payload.resendable();
        let step = |attempt| retry::after(attempt, repeatable, resent, in_hand);
        match tokio::time::timeout(route.timeout, guard.replica().request(upstream)).await {
            Ok(Ok(mut response)) => {
                let status = response.status();
                guard.observe(if status.is_server_error() {
                    Outcome::Failure
                } else {
                    Outcome::Success
                });
                if step(Attempt::Answered(status.as_u16())) == Step::Resend {
                    if let Some(other) = resend_to(pool, &mut tried, guard.replica()) {
                        metrics::counter!("gateway_retries_total", "service" => service.to_owned(), "reason" => "status").increment(1);
                        next = Some(other);
                        resent = true;
                        continue;
                    }
                }
                if status == StatusCode::SWITCHING_PROTOCOLS {
                    if let Some(on_client) = client_upgrade.take() {
                        tunnel(
                            on_client,
                            hyper::upgrade::on(&mut response),
                            service.to_owned(),
                        );
                    }
                }
                return relay_response(response, guard);
            }
            // No connection, so the replica never saw the request: sending it to
            // another is safe whatever the method (a booking POST to a replica
            // that just stopped must not fail).
            Ok(Err(e)) if e.is_connect() => {
                metrics::counter!("gateway_upstream_errors_total", "service" => service.to_owned(), "kind" => "connect").increment(1);
                guard.refused();
                tried.push(guard.replica().clone());
            }
            Ok(Err(_)) if expired.load(Ordering::Relaxed) => return body_too_slow(parts.version),
            Ok(Err(e)) => {
                metrics::counter!("gateway_upstream_errors_total", "service" => service.to_owned(), "kind" => "io").increment(1);
                guard.observe(Outcome::Failure);
                let other = match step(Attempt::Broken) {
                    Step::Resend => resend_to(pool, &mut tried, guard.replica()),
                    _ => None,
                };
                if let Some(other) = other {
                    metrics::counter!("gateway_retries_total", "service" => service.to_owned(), "reason" => "reset").increment(1);
                    next = Some(other);
                    resent = true;
                    continue;
                }
                let request_id = parts
                    .headers
                    .get(&platform::http::REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::warn!(%service, request_id, replica = %guard.replica().label(), error = %e, "upstream request failed");
                return Problem::new(StatusCode::BAD_GATEWAY, "bad-gateway", "Upstream failed")
                    .with_detail("The service did not answer properly; try again.")
                    .with_retry_after(1)
                    .into_response();
            }
            Err(_) => {
                metrics::counter!("gateway_upstream_errors_total", "service" => service.to_owned(), "kind" => "timeout").increment(1);
                guard.observe(Outcome::Failure);
                return Problem::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream-timeout",
                    "Upstream timed out",
                )
                .with_detail("The service took too long to answer.")
                .with_retry_after(1)
                .into_response();
            }
        }
    }
    upstream_down(&route.service, "no healthy replica")
}

/// Another replica to send a request to again, when there is one and the
/// pool's retry budget allows (asked last, so only retries taken count).
fn resend_to(
    pool: &Arc<crate::upstream::Pool>,
    tried: &mut Vec<Arc<Replica>>,
    current: &Arc<Replica>,
) -> Option<InFlight> {
    let mut excluded = tried.clone();
    excluded.push(current.clone());
    let other = pool.acquire(&excluded)?;
    pool.try_retry().then(|| {
        *tried = excluded;
        other
    })
}

/// Join the client's upgraded connection to the replica's, both ways, until
/// either side closes.
fn tunnel(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade, service: String) {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(%service, error = %e, "upgrade failed");
                return;
            }
        };
        metrics::gauge!("gateway_tunnels_open", "service" => service.clone()).increment(1.0);
        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(%service, error = %e, "tunnel closed with an error");
        }
        metrics::gauge!("gateway_tunnels_open", "service" => service).decrement(1.0);
    });
}

/// More requests are waiting on the service's replicas than it may have.
fn overloaded(service: &str) -> Response {
    metrics::counter!("gateway_upstream_overloaded_total", "service" => service.to_owned())
        .increment(1);
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream-overloaded",
        "Service overloaded",
    )
    .with_detail(format!(
        "The {service} service has too many requests in progress; try again shortly."
    ))
    .with_retry_after(1)
    .into_response()
}

fn upstream_down(service: &str, why: &str) -> Response {
    tracing::warn!(%service, why, "upstream unavailable");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream-unavailable",
        "Service unavailable",
    )
    .with_detail(format!(
        "The {service} service is unavailable; try again shortly."
    ))
    .with_retry_after(2)
    .into_response()
}

fn upstream_request(
    parts: &Parts,
    replica: &Replica,
    body: Body,
    client: std::net::IpAddr,
    peer_trusted: bool,
    upgrade: bool,
) -> Option<hyper::Request<Body>> {
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri: Uri = replica.uri(path_and_query)?;
    let mut request = hyper::Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .body(body)
        .ok()?;
    let headers = request.headers_mut();
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || n.starts_with(INTERNAL_PREFIX)
            || n == "host"
            || n == "forwarded"
        {
            continue;
        }
        if n == "x-forwarded-for" && !peer_trusted {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(chain) if peer_trusted => format!("{chain}, {client}"),
        _ => client.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("http"),
    );
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Some(protocol) = parts.headers.get(header::UPGRADE) {
            headers.insert(header::UPGRADE, protocol.clone());
        }
    }
    if !headers
        .get("traceparent")
        .is_some_and(|v| valid_traceparent(v.as_bytes()))
    {
        headers.insert(HeaderName::from_static("traceparent"), new_traceparent());
    }
    Some(request)
}

/// The upstream's answer, minus connection headers (but for the protocol
/// switch of a 101). The replica stops counting as busy once the headers are
/// in (`guard` drops here).
fn relay_response(response: hyper::Response<hyper::body::Incoming>, guard: InFlight) -> Response {
    drop(guard);
    let (mut parts, body) = response.into_parts();
    let switching = parts.status == StatusCode::SWITCHING_PROTOCOLS;
    for name in HOP_BY_HOP {
        if switching && (*name == "connection" || *name == "upgrade") {
            continue;
        }
        parts.headers.remove(*name);
    }
    Response::from_parts(parts, Body::new(body))
}

/// W3C trace context: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
fn valid_traceparent(v: &[u8]) -> bool {
    let hex = |s: &[u8]| s.iter().all(|c| c.is_ascii_hexdigit());
    v.len() == 55
        && v[2] == b'-'
        && v[35] == b'-'
        && v[52] == b'-'
        && hex(&v[0..2])
        && hex(&v[3..35])
        && hex(&v[36..52])
        && hex(&v[53..55])
}

/// A new W3C trace context: random trace and parent ids, sampled.
fn new_traceparent() -> HeaderValue {
    let (trace, span) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let mut buf = [0u8; 55];
    buf[..3].copy_from_slice(b"00-");
    trace.simple().encode_lower(&mut buf[3..35]);
    buf[35] = b'-';
    let mut span_hex = [0u8; 32];
    span.simple().encode_lower(&mut span_hex);
    buf[36..52].copy_from_slice(&span_hex[..16]);
    buf[52..].copy_from_slice(b"-01");
    HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static(FALLBACK_TRACEPARENT))
}

/// Never used in practice (hex digits always make a header value); a valid,
/// unsampled context rather than none.
const FALLBACK_TRACEPARENT: &str = "00-00000000000000000000000000000001-0000000000000001-00";

/// IETF draft `RateLimit-Policy` / `RateLimit` headers.
fn rate_limit_headers(headers: &mut HeaderMap, class: RouteClass, quota: Quota, d: Decision) {
    let name = class.as_str();
    let policy = format!(
        "\"{name}\";q={};w={}",
        quota.limit,
        quota.window_ms.div_ceil(1000)
    );
    let state = format!(
        "\"{name}\";r={};t={}",
        d.remaining,
        d.reset_ms.div_ceil(1000)
    );
    if let (Ok(p), Ok(s)) = (
        HeaderValue::from_str(&policy),
        HeaderValue::from_str(&state),
    ) {
        headers.insert(HeaderName::from_static("ratelimit-policy"), p);
        headers.insert(HeaderName::from_static("ratelimit"), s);
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;

    #[test]
    fn traceparents_are_validated_and_generated_well_formed() {
        assert!(valid_traceparent(
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!valid_traceparent(b"00-xyz-00f067aa0ba902b7-01"));
        assert!(valid_traceparent(new_traceparent().as_bytes()));
    }

    #[test]
    fn small_bodies_are_held_and_large_or_chunked_ones_streamed() {
        let parts = |headers: &[(&str, &str)]| {
            let mut b = Request::builder().method(Method::POST).uri("/x");
            for (name, value) in headers {
                b = b.header(*name, *value);
            }
            b.body(()).unwrap().into_parts().0
        };
        assert_eq!(held_body_length(&parts(&[])), Some(0));
        assert_eq!(
            held_body_length(&parts(&[("content-length", "120")])),
            Some(120)
        );
        assert_eq!(
            held_body_length(&parts(&[("content-length", "65536")])),
            Some(65536)
        );
        assert_eq!(
            held_body_length(&parts(&[("content-length", "65537")])),
            None
        );
        assert_eq!(
            held_body_length(&parts(&[("content-length", "many")])),
            None
        );
        assert_eq!(
            held_body_length(&parts(&[("transfer-encoding", "chunked")])),
            None
        );
    }

    #[test]
    fn rate_limit_headers_follow_the_draft() {
        let mut h = HeaderMap::new();
        let d = Decision {
            allowed: true,
            remaining: 7,
            retry_after_ms: 0,
            reset_ms: 1500,
        };
        rate_limit_headers(
            &mut h,
            RouteClass::Api,
            Quota {
                limit: 10,
                window_ms: 60_000,
            },
            d,
        );
        assert_eq!(h["ratelimit-policy"], "\"api\";q=10;w=60");
        assert_eq!(h["ratelimit"], "\"api\";r=7;t=2");
    }
}

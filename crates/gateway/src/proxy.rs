//! The reverse proxy: route → authenticate → rate-limit → forward to a replica,
//! streaming bodies both ways.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{header, request::Parts, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use http_body_util::Limited;
use platform::{auth::TokenError, Problem};

use crate::{
    domain::{
        client_ip::client_ip,
        gcra::{Decision, Quota},
        routing::{class_of, is_public, Route, RouteClass},
    },
    ratelimit::Backend,
    upstream::InFlight,
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

pub async fn handle(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let Some(route) = gw.routes.find(req.uri().path()).cloned() else {
        return Problem::not_found("route").into_response();
    };
    let response = forward(&gw, &route, peer, req).await;
    metrics::histogram!(
        "gateway_request_duration_seconds",
        "service" => route.service.clone(),
        "status" => response.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

async fn forward(gw: &Gateway, route: &Route, peer: SocketAddr, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let forwarded_for = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let client = client_ip(peer.ip(), forwarded_for, &gw.trusted_proxies);

    // 1. Who is calling. Services verify the token again; this stops forgeries early.
    let user = if route.public || is_public(req.method().as_str(), &path) {
        None
    } else {
        match bearer(req.headers()) {
            None => {
                return Problem::unauthorized(
                    "Send an access token: `Authorization: Bearer <token>`.",
                )
                .into_response()
            }
            Some(token) => match gw.verifier.verify(token).await {
                Ok(claims) => Some(claims.sub),
                Err(TokenError::KeysUnavailable) => {
                    return Problem::unavailable("Tokens cannot be checked right now.")
                        .into_response()
                }
                Err(TokenError::Expired) => {
                    return Problem::unauthorized("The access token has expired; refresh it.")
                        .into_response()
                }
                Err(_) => {
                    return Problem::unauthorized("The access token is invalid.").into_response()
                }
            },
        }
    };

    // 2. How much they may do.
    let class = class_of(&path);
    let limit = if gw.rate_limiting {
        let subject = match user {
            Some(id) => format!("user:{id}"),
            None => format!("ip:{client}"),
        };
        match admit(gw, class, &subject).await {
            Ok(limit) => Some(limit),
            Err(refusal) => return refusal,
        }
    } else {
        None
    };

    // 3. Send it on.
    let too_big = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > gw.max_body_bytes);
    if too_big {
        return Problem::payload_too_large(gw.max_body_bytes as usize).into_response();
    }
    let peer_trusted = gw
        .trusted_proxies
        .iter()
        .any(|net| net.contains(&peer.ip()));
    let mut response = send(gw, route, client, peer_trusted, req).await;
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

/// Count the request against its limit: the quota and decision when admitted,
/// the 429/503 response when not.
async fn admit(
    gw: &Gateway,
    class: RouteClass,
    subject: &str,
) -> Result<(Quota, Decision), Response> {
    let Ok((decision, backend)) = gw.limiter.check(class, subject).await else {
        metrics::counter!("gateway_ratelimit_decisions_total", "class" => class.as_str(), "decision" => "unavailable").increment(1);
        return Err(
            Problem::unavailable("Sign-in is briefly unavailable; try again shortly.")
                .into_response(),
        );
    };
    metrics::counter!(
        "gateway_ratelimit_decisions_total",
        "class" => class.as_str(),
        "decision" => if decision.allowed { "allow" } else { "deny" },
        "backend" => if backend == Backend::Redis { "redis" } else { "local" },
    )
    .increment(1);
    let quota = gw.limiter.quota(class);
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

/// The request body: held in memory (and so sendable again), or a stream that
/// can be sent once.
enum Payload {
    Held(axum::body::Bytes),
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
}

async fn send(
    gw: &Gateway,
    route: &Route,
    client: std::net::IpAddr,
    peer_trusted: bool,
    req: Request,
) -> Response {
    let Some(pool) = gw.pools.get(&route.service) else {
        return upstream_down(&route.service, "not configured");
    };
    let (parts, body) = req.into_parts();
    let mut payload = match held_body_length(&parts) {
        Some(length) => match axum::body::to_bytes(body, length as usize).await {
            Ok(bytes) => Payload::Held(bytes),
            Err(_) => {
                return Problem::bad_request("The request body could not be read.").into_response()
            }
        },
        None => Payload::Streamed(Some(Body::new(Limited::new(
            body,
            gw.max_body_bytes as usize,
        )))),
    };
    let mut tried = Vec::new();
    for _attempt in 0..3 {
        let Some(guard) = pool.acquire(&tried) else {
            break;
        };
        let Some(body) = payload.next() else {
            break;
        };
        let upstream = match upstream_request(&parts, &guard, body, client, peer_trusted) {
            Some(r) => r,
            None => return Problem::bad_request("The request target is invalid.").into_response(),
        };
        match tokio::time::timeout(route.timeout, gw.client.request(upstream)).await {
            Ok(Ok(response)) => return relay_response(response, guard),
            // No connection, so the replica never saw the request: sending it to
            // another is safe whatever the method (a booking POST to a replica
            // that just stopped must not fail).
            Ok(Err(e)) if e.is_connect() => {
                metrics::counter!("gateway_upstream_errors_total", "service" => route.service.clone(), "kind" => "connect").increment(1);
                guard.0.eject();
                tried.push(guard.0.clone());
            }
            Ok(Err(e)) => {
                metrics::counter!("gateway_upstream_errors_total", "service" => route.service.clone(), "kind" => "io").increment(1);
                tracing::warn!(service = %route.service, error = %e, "upstream request failed");
                return Problem::new(StatusCode::BAD_GATEWAY, "bad-gateway", "Upstream failed")
                    .with_detail("The service did not answer properly; try again.")
                    .with_retry_after(1)
                    .into_response();
            }
            Err(_) => {
                metrics::counter!("gateway_upstream_errors_total", "service" => route.service.clone(), "kind" => "timeout").increment(1);
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
    replica: &InFlight,
    body: Body,
    client: std::net::IpAddr,
    peer_trusted: bool,
) -> Option<hyper::Request<Body>> {
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri = Uri::builder()
        .scheme(replica.0.scheme.clone())
        .authority(replica.0.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .ok()?;
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
    if !headers
        .get("traceparent")
        .is_some_and(|v| valid_traceparent(v.as_bytes()))
    {
        if let Ok(v) = HeaderValue::from_str(&new_traceparent()) {
            headers.insert(HeaderName::from_static("traceparent"), v);
        }
    }
    Some(request)
}

/// The upstream's answer, minus connection headers. The replica stops counting
/// as busy once the headers are in (`guard` drops here).
fn relay_response(response: hyper::Response<hyper::body::Incoming>, guard: InFlight) -> Response {
    drop(guard);
    let (mut parts, body) = response.into_parts();
    for name in HOP_BY_HOP {
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

fn new_traceparent() -> String {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
}

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

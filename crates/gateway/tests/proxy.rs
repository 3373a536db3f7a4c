//! The gateway in front of real services: a real identity service, real Redis,
//! and small echo upstreams standing in for the services not built yet.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    ops::Deref,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{extract::Request, routing::any, Json, Router};
use gateway::{domain::gcra::Quota, domain::routing::RouteTable, Config};
use identity::SigningKeys;
use platform::{
    auth::Role,
    config::{AuthConfig, DEFAULT_AUDIENCE, DEFAULT_ISSUER},
    service::Service,
    shutdown::CancellationToken,
    testing::{assert_problem, eventually, IssueTokens, TestApp, TestBacking},
};
use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;
use support::PrivateRedis;

/// An upstream that answers with its name and what it received.
struct Echo {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    /// How often it was asked for an OpenAPI document (it has none).
    documents_asked: Arc<AtomicUsize>,
    cancel: CancellationToken,
}

async fn echo(name: &'static str) -> Echo {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let documents_asked = Arc::new(AtomicUsize::new(0));
    let asked = documents_asked.clone();
    let router = Router::new()
        .fallback(any(move |req: Request| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let header = |n: &str| {
                    req.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                Json(json!({
                    "replica": name,
                    "path": req.uri().to_string(),
                    "x_forwarded_for": header("x-forwarded-for"),
                    "traceparent": header("traceparent"),
                    "x_request_id": header("x-request-id"),
                    "internal": header("x-carebook-user"),
                    "authorization": header("authorization"),
                }))
            }
        }))
        .route("/healthz", any(|| async { "ok" }))
        // Probes and the OpenAPI refresh are not requests to count.
        .route("/readyz", any(|| async { "ok" }))
        .route(
            "/openapi.json",
            any(move || {
                asked.fetch_add(1, Ordering::SeqCst);
                async { StatusCode::NOT_FOUND }
            }),
        );
    let (addr, cancel) = platform::testing::spawn(Service::new("echo", router)).await;
    Echo {
        addr,
        hits,
        documents_asked,
        cancel,
    }
}

/// The real identity service, and the key it signs with (to sign tokens it
/// never issued: expired, for another audience).
struct Identity {
    app: TestApp,
    keys: Arc<IdentityKeys>,
}

/// Identity's own signing key as the `TestApp`'s token issuer, so a token of
/// `app.user(..)` is one identity itself would have issued.
struct IdentityKeys(SigningKeys);

impl Deref for IdentityKeys {
    type Target = SigningKeys;

    fn deref(&self) -> &SigningKeys {
        &self.0
    }
}

impl IssueTokens for IdentityKeys {
    fn token(&self, user_id: uuid::Uuid, role: Role) -> String {
        let claims = identity::tokens::access_claims(
            user_id,
            role,
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
            chrono::Utc::now(),
            600,
        );
        self.sign(&claims).expect("sign an access token")
    }
}

async fn identity() -> Identity {
    let backing = TestBacking::new("identity");
    let config = identity::Config {
        common: backing.config.clone(),
        signing_keys_dir: "unused".into(),
        access_ttl: Duration::from_secs(600),
        refresh_ttl: Duration::from_secs(3600),
        hash_concurrency: 2,
    };
    let pem = SigningKeys::generate_pem().unwrap();
    let service = identity::build_with_keys(
        &config,
        SigningKeys::from_pems([("k", pem.clone())]).unwrap(),
    )
    .await
    .unwrap();
    let keys = Arc::new(IdentityKeys(SigningKeys::from_pems([("k", pem)]).unwrap()));
    Identity {
        app: TestApp::spawn(backing, service, &[], keys.clone()).await,
        keys,
    }
}

/// The gateway in front of `identity` and the `echoes`, on identity's slice of
/// Redis (one deployment shares a prefix; the test's backing deletes its keys).
fn config(identity: &Identity, echoes: &[&Echo], auth_limit: u32) -> Config {
    let routes = RouteTable::parse(
        &[
            "/api/v1/auth=identity",
            "/.well-known/jwks.json=identity",
            "/api/v1/echo=echo",
            "/api/v1/ghost=ghost:500",
        ],
        Duration::from_secs(5),
    )
    .unwrap();
    let mut upstreams = BTreeMap::new();
    upstreams.insert("identity".to_owned(), vec![identity.app.base.clone()]);
    upstreams.insert(
        "echo".to_owned(),
        echoes
            .iter()
            .map(|e| format!("http://{}", e.addr))
            .collect(),
    );
    // A configured replica where nothing listens.
    upstreams.insert("ghost".to_owned(), vec!["http://127.0.0.1:9".to_owned()]);
    Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        admin_bind: None,
        internal_bind: None,
        routes,
        upstreams,
        upstream: Default::default(),
        limits: Default::default(),
        auth_fallback: Duration::from_secs(300),
        openapi_refresh: Duration::from_secs(60),
        redis_url: identity.app.backing.config.redis_url.clone(),
        redis_prefix: identity.app.backing.config.redis_prefix.clone(),
        auth: AuthConfig {
            jwks_url: identity.app.url("/.well-known/jwks.json"),
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            tls: None,
            revocations: None,
            jwks: Default::default(),
        },
        trusted_proxies: Vec::new(),
        api_quota: Quota {
            limit: 1000,
            window_ms: 60_000,
        },
        auth_quota: Quota {
            limit: auth_limit,
            window_ms: 60_000,
        },
        cors_origins: vec!["https://portal.example".to_owned()],
        max_body_bytes: 16 * 1024,
        rate_limiting: true,
        default_timeout: Duration::from_secs(5),
        health_interval: Duration::from_millis(200),
        public_tls: None,
        tls: None,
        docs_dir: Some(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tools/node_modules/swagger-ui-dist"
            )
            .into(),
        ),
    }
}

async fn start_gateway(config: &Config) -> (String, support::Stop) {
    let (addr, stop) = support::start(config).await;
    (format!("http://{addr}"), stop)
}

/// An access token identity itself would issue, for a new patient.
fn token(id: &Identity) -> String {
    id.keys.token(uuid::Uuid::now_v7(), Role::Patient)
}

#[tokio::test]
async fn requests_spread_over_replicas_and_a_dead_replica_is_taken_out() {
    let (id, a, b) = (identity().await, echo("a").await, echo("b").await);
    let (gw, _stop) = start_gateway(&config(&id, &[&a, &b], 100)).await;
    let http = reqwest::Client::new();
    let token = token(&id);

    let mut seen = std::collections::HashSet::new();
    for _ in 0..10 {
        let r: Value = http
            .get(format!("{gw}/api/v1/echo/x"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.insert(r["replica"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), 2, "both replicas serve");

    b.cancel.cancel();
    // Every request still succeeds: a refused connection takes b out of rotation and the GET goes to a.
    for _ in 0..20 {
        let r = http
            .get(format!("{gw}/api/v1/echo/x"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["replica"], "a");
    }
}

#[tokio::test]
async fn with_an_admin_port_readiness_and_metrics_are_served_only_there() {
    let (id, a) = (identity().await, echo("a").await);
    let mut cfg = config(&id, &[&a], 100);
    // A catch-all route like the portal's `/` must not receive them either.
    cfg.routes = RouteTable::parse(
        &["/api/v1/echo=echo", "/=echo:public"],
        Duration::from_secs(5),
    )
    .unwrap();
    let admin_port = platform::testing::reserved_port();
    cfg.admin_bind = Some(SocketAddr::from(([127, 0, 0, 1], admin_port)));
    let (gw, _stop) = start_gateway(&cfg).await;
    let admin = format!("http://127.0.0.1:{admin_port}");
    let http = reqwest::Client::new();
    for path in ["/readyz", "/metrics"] {
        let public = http.get(format!("{gw}{path}")).send().await.unwrap();
        assert_eq!(public.status(), StatusCode::NOT_FOUND, "public {path}");
    }
    let health = http.get(format!("{gw}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "liveness stays public");

    // Ready once the first key set has arrived.
    let ready: serde_json::Value =
        eventually(Duration::from_secs(5), "the gateway ready", || async {
            let r = http.get(format!("{admin}/readyz")).send().await.ok()?;
            (r.status() == StatusCode::OK).then_some(())?;
            r.json().await.ok()
        })
        .await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["upstreams"]["echo"]["replicas"], 1);
    let refused = http
        .get(format!("{gw}/api/v1/echo/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let metrics = http
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gateway_request_duration_seconds"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_gateway_is_not_ready_before_it_holds_the_token_keys() {
    let (id, a) = (identity().await, echo("a").await);
    let mut cfg = config(&id, &[&a], 100);
    // Nobody answers the JWKS: every signed-in request would be a 503.
    let nobody = platform::testing::reserved_port();
    cfg.auth.jwks_url = format!("http://127.0.0.1:{nobody}/.well-known/jwks.json");
    let admin_port = platform::testing::reserved_port();
    cfg.admin_bind = Some(SocketAddr::from(([127, 0, 0, 1], admin_port)));
    let (_gw, _stop) = start_gateway(&cfg).await;
    let http = reqwest::Client::new();
    // Past the first fetch's failure, still not ready.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = http
        .get(format!("http://127.0.0.1:{admin_port}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "starting");
    assert_eq!(
        body["upstreams"]["echo"]["replicas"], 1,
        "the pools still show"
    );
}

#[tokio::test]
async fn a_post_a_stopped_replica_refused_goes_to_another_replica_once() {
    let (id, a, b) = (identity().await, echo("a").await, echo("b").await);
    let mut cfg = config(&id, &[&a, &b], 100);
    // Only the request path may notice that b is gone, at its first failure.
    cfg.health_interval = Duration::from_secs(3600);
    let (gw, _stop) = start_gateway(&cfg).await;
    let http = reqwest::Client::new();
    let token = token(&id);

    b.cancel.cancel();
    eventually(Duration::from_secs(5), "b to stop listening", || async {
        tokio::net::TcpStream::connect(b.addr)
            .await
            .err()
            .map(|_| ())
    })
    .await;
    // Round robin sends one of the first two to b, whose connection is refused.
    for i in 0..4 {
        let r = http
            .post(format!("{gw}/api/v1/echo/bookings"))
            .bearer_auth(&token)
            .json(&json!({"attempt": i}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["replica"], "a");
    }
    assert_eq!(
        a.hits.load(Ordering::SeqCst),
        4,
        "each POST reached a exactly once"
    );
    let ready: Value = http
        .get(format!("{gw}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let echo = &ready["upstreams"]["echo"];
    // Out of rotation (absent), not ejected (an outlier): once its checks
    // pass again it is back, without serving out an ejection.
    assert_eq!(
        (&echo["healthy"], &echo["ejected"], &echo["replicas"]),
        (&json!(1), &json!(0), &json!(2)),
        "b was tried and taken out of rotation: {echo}"
    );
}

#[tokio::test]
async fn forged_and_missing_tokens_never_reach_a_service() {
    let (id, a) = (identity().await, echo("a").await);
    let (gw, _stop) = start_gateway(&config(&id, &[&a], 100)).await;
    let http = reqwest::Client::new();
    let token = token(&id);

    let attacker = SigningKeys::from_pems([("x", SigningKeys::generate_pem().unwrap())]).unwrap();
    let claims = identity::tokens::access_claims(
        uuid::Uuid::now_v7(),
        platform::auth::Role::Admin,
        DEFAULT_ISSUER,
        DEFAULT_AUDIENCE,
        chrono::Utc::now(),
        600,
    );
    let forged = attacker.sign(&claims).unwrap();
    let expired_claims = identity::tokens::access_claims(
        uuid::Uuid::now_v7(),
        platform::auth::Role::Admin,
        DEFAULT_ISSUER,
        DEFAULT_AUDIENCE,
        chrono::Utc::now() - chrono::Duration::hours(2),
        600,
    );
    let expired = id.keys.sign(&expired_claims).unwrap();
    let wrong_aud = id
        .keys
        .sign(&identity::tokens::access_claims(
            uuid::Uuid::now_v7(),
            platform::auth::Role::Admin,
            DEFAULT_ISSUER,
            "elsewhere",
            chrono::Utc::now(),
            600,
        ))
        .unwrap();
    let (h, p) = (
        token.split('.').next().unwrap(),
        token.split('.').nth(1).unwrap(),
    );
    let none_alg = format!("{}.{p}.", base64_url(r#"{"alg":"none","typ":"JWT"}"#));
    let _ = h;

    for bad in [
        None,
        Some("garbage"),
        Some(forged.as_str()),
        Some(expired.as_str()),
        Some(wrong_aud.as_str()),
        Some(none_alg.as_str()),
    ] {
        let mut req = http.get(format!("{gw}/api/v1/echo/secret"));
        if let Some(t) = bad {
            req = req.bearer_auth(t);
        }
        assert_problem(
            req.send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    assert_eq!(
        a.hits.load(Ordering::SeqCst),
        0,
        "no forged request reached the upstream"
    );

    // The genuine token passes, unchanged, so the service can verify it again.
    let body: Value = http
        .get(format!("{gw}/api/v1/echo/secret"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["authorization"], format!("Bearer {token}"));
}

#[tokio::test]
async fn an_address_over_its_limit_with_bad_tokens_gets_no_token_checked() {
    let (id, a) = (identity().await, echo("a").await);
    let cfg = Config {
        api_quota: Quota {
            limit: 3,
            window_ms: 60_000,
        },
        ..config(&id, &[&a], 100)
    };
    let (gw, _stop) = start_gateway(&cfg).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = http
            .get(format!("{gw}/api/v1/echo/x"))
            .bearer_auth("garbage")
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429],
        "bad tokens count like anonymous traffic"
    );
    // Until its retry time the address gets no signature checked, not even a
    // genuine token's (which would have counted against its user instead).
    let r = http
        .get(format!("{gw}/api/v1/echo/x"))
        .bearer_auth(token(&id))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
    assert_eq!(a.hits.load(Ordering::SeqCst), 0);
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn two_gateways_share_one_login_limit() {
    let (id, a) = (identity().await, echo("a").await);
    let cfg = config(&id, &[&a], 5);
    let (gw1, _s1) = start_gateway(&cfg).await;
    let (gw2, _s2) = start_gateway(&cfg).await;
    let http = reqwest::Client::new();
    let mut admitted = 0;
    for i in 0..12 {
        let gw = if i % 2 == 0 { &gw1 } else { &gw2 };
        let r = http
            .post(format!("{gw}/api/v1/auth/login"))
            .json(
                &json!({"email": format!("user{i}@example.org"), "password": "wrong wrong wrong"}),
            )
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key("retry-after"));
            assert!(r.headers()["ratelimit"].to_str().unwrap().contains("r=0"));
        } else {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            admitted += 1;
        }
    }
    assert_eq!(
        admitted, 5,
        "exactly the quota passes across both instances"
    );
}

#[tokio::test]
async fn a_spoofed_forwarded_for_does_not_escape_the_login_limit() {
    let (id, a) = (identity().await, echo("a").await);
    let (gw, _stop) = start_gateway(&config(&id, &[&a], 3)).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = http
            .post(format!("{gw}/api/v1/auth/login"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"email": "victim@example.org", "password": "guess guess guess"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
}

#[tokio::test]
async fn without_redis_sign_in_is_limited_locally_for_a_while_then_fails_closed() {
    let port = platform::testing::reserved_port();
    let mut redis = PrivateRedis::start(port).await;
    let (id, a) = (identity().await, echo("a").await);
    let (gw, _stop) = start_gateway(&Config {
        redis_url: redis.url(),
        // A quarter of 8 while Redis is away, for 4 seconds.
        auth_fallback: Duration::from_secs(4),
        ..config(&id, &[&a], 8)
    })
    .await;
    let http = reqwest::Client::new();
    let token = token(&id);

    redis.kill();
    let started = std::time::Instant::now();
    let r = http
        .get(format!("{gw}/api/v1/echo/x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "API requests keep flowing under the local limiter"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "fallback within 1 s, took {:?}",
        started.elapsed()
    );
    // Sign-in attempts (a wrong password: admitted, identity answers 401).
    let attempt = std::sync::atomic::AtomicUsize::new(0);
    let login = || async {
        let n = attempt.fetch_add(1, Ordering::SeqCst);
        http.post(format!("{gw}/api/v1/auth/login"))
            .json(&json!({"email": format!("outage{n}@example.org"), "password": "wrong wrong wrong"}))
            .send()
            .await
            .unwrap()
    };
    // A Redis blip does not stop sign-in: the local limiter takes it, stricter.
    let statuses = [
        login().await.status(),
        login().await.status(),
        login().await.status(),
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "a quarter of the quota of 8"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the test was too slow to tell"
    );

    // Past the fallback period, sign-in fails closed until Redis answers.
    tokio::time::sleep(
        Duration::from_secs(4).saturating_sub(started.elapsed()) + Duration::from_millis(200),
    )
    .await;
    assert_problem(
        login().await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;

    let _redis = PrivateRedis::start(port).await;
    eventually(
        Duration::from_secs(10),
        "sign-in to be admitted again",
        || async { (login().await.status() == StatusCode::UNAUTHORIZED).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn responses_carry_security_headers_and_errors_are_problems() {
    let (id, a) = (identity().await, echo("a").await);
    let (gw, _stop) = start_gateway(&config(&id, &[&a], 100)).await;
    let http = reqwest::Client::new();
    let token = token(&id);

    let r = http
        .get(format!("{gw}/api/v1/echo/x?q=1"))
        .bearer_auth(&token)
        .header("x-carebook-user", "admin")
        .header("x-request-id", "req-42")
        .header("origin", "https://portal.example")
        .send()
        .await
        .unwrap();
    let h = r.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert_eq!(h["x-request-id"], "req-42");
    assert_eq!(h["access-control-allow-origin"], "https://portal.example");
    assert!(h["ratelimit-policy"]
        .to_str()
        .unwrap()
        .starts_with("\"api\";q=1000;w=60"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["path"], "/api/v1/echo/x?q=1");
    assert_eq!(
        body["internal"],
        Value::Null,
        "client-sent internal headers are stripped"
    );
    assert_eq!(body["x_request_id"], "req-42");
    assert_eq!(body["x_forwarded_for"], "127.0.0.1");
    assert_eq!(body["traceparent"].as_str().unwrap().len(), 55);

    let r = http
        .get(format!("{gw}/api/v1/echo/x"))
        .bearer_auth(&token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));

    assert_problem(
        http.get(format!("{gw}/nowhere")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let started = std::time::Instant::now();
    let r = http
        .get(format!("{gw}/api/v1/ghost"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "upstream-unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a dead upstream never hangs a request"
    );

    let big = "x".repeat(32 * 1024);
    let r = http
        .post(format!("{gw}/api/v1/echo/x"))
        .bearer_auth(&token)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
}

#[tokio::test]
async fn the_openapi_document_merges_every_service() {
    let (id, a) = (identity().await, echo("a").await);
    let (gw, _stop) = start_gateway(&config(&id, &[&a], 100)).await;
    let doc: Value = reqwest::get(format!("{gw}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["info"]["title"], "Carebook API");
    let login = &doc["paths"]["/api/v1/auth/login"]["post"];
    assert!(login.is_object());
    // The gateway's own refusal is documented on every operation, as problem+json.
    assert!(login["responses"]["429"]["content"]["application/problem+json"].is_object());
    let page = reqwest::get(format!("{gw}/docs")).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("/docs/swagger-ui-bundle.js"));
    let bundle = reqwest::get(format!("{gw}/docs/swagger-ui-bundle.js"))
        .await
        .unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(bundle.bytes().await.unwrap().len() > 100_000);
    // The ghost service has no live replica; once checked, readiness says so but stays up.
    eventually(
        Duration::from_secs(5),
        "readyz to report the dead upstream",
        || {
            let url = format!("{gw}/readyz");
            async move {
                let r = reqwest::get(url).await.ok()?;
                let body: Value = r.json().await.ok()?;
                (body["upstreams"]["ghost"]["healthy"] == 0).then_some(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn the_fhir_api_is_routed_with_its_discovery_public_and_refusals_as_outcomes() {
    let (id, fhir) = (identity().await, echo("fhir").await);
    let mut config = config(&id, &[], 100);
    config.routes = RouteTable::parse(
        &[
            "/api/v1/auth=identity",
            "/.well-known/jwks.json=identity",
            "/fhir/R4=fhir",
        ],
        Duration::from_secs(5),
    )
    .unwrap();
    config.upstreams.remove("echo");
    config
        .upstreams
        .insert("fhir".to_owned(), vec![format!("http://{}", fhir.addr)]);
    let (gw, _stop) = start_gateway(&config).await;
    let http = reqwest::Client::new();

    // What a client reads before it has a token.
    for path in [
        "/fhir/R4/metadata",
        "/fhir/R4/.well-known/smart-configuration",
    ] {
        let r = http.get(format!("{gw}{path}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (body["replica"].as_str(), body["path"].as_str()),
            (Some("fhir"), Some(path))
        );
    }
    let reached = fhir.hits.load(Ordering::SeqCst);

    // Everything else needs one; the refusal is an OperationOutcome.
    for (method, path) in [
        (reqwest::Method::GET, "/fhir/R4/Patient"),
        (reqwest::Method::GET, "/fhir/R4/Slot?schedule=Schedule/x"),
        (reqwest::Method::POST, "/fhir/R4/metadata"),
        (reqwest::Method::POST, "/fhir/R4/Appointment"),
    ] {
        let r = http
            .request(method.clone(), format!("{gw}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(r.headers()["content-type"], "application/fhir+json");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let outcome: Value = r.json().await.unwrap();
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
        assert_eq!(outcome["issue"][0]["severity"], "error");
        assert_eq!(outcome["issue"][0]["code"], "login");
    }
    assert_eq!(
        fhir.hits.load(Ordering::SeqCst),
        reached,
        "no request without a token reached fhir"
    );

    // With a token, any FHIR path and its query go to fhir as sent.
    let token = token(&id);
    for path in [
        "/fhir/R4/Slot?schedule=Schedule/x&start=ge2026-06-01",
        "/fhir/R4/Appointment/0190a0b4-7c8e-7000-8000-000000000001",
    ] {
        let body: Value = http
            .get(format!("{gw}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (body["replica"].as_str(), body["path"].as_str()),
            (Some("fhir"), Some(path))
        );
        assert_eq!(body["authorization"], format!("Bearer {token}"));
    }

    // The merged API description has no part from fhir, and never asks it for one.
    let doc: Value = reqwest::get(format!("{gw}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/auth/login"].is_object());
    assert!(doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .all(|p| !p.starts_with("/fhir")));
    assert_eq!(fhir.documents_asked.load(Ordering::SeqCst), 0);

    // fhir unreachable: the gateway's own 5xx is an OperationOutcome too.
    config
        .upstreams
        .insert("fhir".to_owned(), vec!["http://127.0.0.1:9".to_owned()]);
    let (gw, _stop) = start_gateway(&config).await;
    let r = http
        .get(format!("{gw}/fhir/R4/Patient"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error(), "{}", r.status());
    assert_eq!(r.headers()["content-type"], "application/fhir+json");
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    assert_eq!(outcome["issue"][0]["code"], "transient", "{outcome}");
}

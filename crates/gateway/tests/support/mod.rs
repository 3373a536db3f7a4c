//! What the gateway's test binaries share: a Redis of a test's own, plain text
//! or TLS only, that it may kill without disturbing other tests.

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use platform::testing::eventually;

/// A `redis-server` child process on `127.0.0.1`, killed when dropped.
pub struct PrivateRedis {
    port: u16,
    tls: bool,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Plain text on `port`; returns once it listens.
    pub async fn start(port: u16) -> Self {
        let mut command = Command::new("redis-server");
        command.arg("--port").arg(port.to_string());
        Self::spawn(command, port, false).await
    }

    /// TLS only on `port` (no plain-text port), with the `redis` certificate
    /// of the CA in `dir` (as `carebook::certs::generate` writes it); clients
    /// need no certificate of their own. Returns once it listens.
    pub async fn start_tls(port: u16, dir: &Path) -> Self {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", "0", "--tls-port"])
            .arg(port.to_string())
            .arg("--tls-cert-file")
            .arg(dir.join("redis.pem"))
            .arg("--tls-key-file")
            .arg(dir.join("redis-key.pem"))
            .arg("--tls-ca-cert-file")
            .arg(dir.join("ca.pem"))
            .args(["--tls-auth-clients", "no"]);
        Self::spawn(command, port, true).await
    }

    async fn spawn(mut command: Command, port: u16, tls: bool) -> Self {
        let child = command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let mut redis = Self {
            port,
            tls,
            child: Some(child),
        };
        redis.wait_listening().await;
        redis
    }

    async fn wait_listening(&mut self) {
        let port = self.port;
        let child = self.child.as_mut().expect("a running redis-server");
        eventually(Duration::from_secs(10), "redis-server to listen", || {
            // One that refuses its arguments (a build without TLS, an unreadable
            // key) exits at once: say so rather than wait for the timeout.
            if let Some(status) = child.try_wait().expect("redis-server's status") {
                panic!("redis-server on port {port} exited: {status}");
            }
            async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(|_| ())
            }
        })
        .await;
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL: `rediss://` when it speaks TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Stop it now (an outage); dropping it does the same.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------
// A gateway in front of small upstreams, without identity: most behaviours of
// the proxy need only public routes.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use axum::{
    extract::Request,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::any,
    Json, Router,
};
use gateway::{
    discovery::{Resolve, Resolving},
    domain::{gcra::Quota, routing::RouteTable},
    Config,
};
use platform::{
    config::{AuthConfig, DEFAULT_AUDIENCE, DEFAULT_ISSUER},
    service::Service,
    shutdown::CancellationToken,
};
use serde_json::json;

/// Cancels a server when dropped.
pub struct Stop(pub CancellationToken);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A stand-in service: answers every path with its name and what it received;
/// `/readyz` follows `ready`; every other answer has the status in `status`;
/// paths under `/slow` take `slow_ms`.
pub struct Upstream {
    pub name: &'static str,
    pub addr: SocketAddr,
    /// API requests received (not probes or OpenAPI fetches).
    pub hits: Arc<AtomicUsize>,
    pub openapi_hits: Arc<AtomicUsize>,
    pub ready: Arc<AtomicBool>,
    pub status: Arc<AtomicU16>,
    cancel: CancellationToken,
}

impl Upstream {
    pub async fn start(name: &'static str) -> Self {
        Self::start_on(name, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// On `addr`, e.g. another loopback address with the same port as a sibling.
    pub async fn start_on(name: &'static str, addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the upstream");
        Self::serve(name, listener)
    }

    /// Replicas on one port, at 127.0.0.1, 127.0.0.2, … (what one DNS name
    /// with several addresses looks like).
    pub async fn on_one_port(names: &[&'static str]) -> Vec<Self> {
        let ips: Vec<IpAddr> = (1..=names.len())
            .map(|i| IpAddr::from([127, 0, 0, i as u8]))
            .collect();
        Self::at(&ips, names).await
    }

    /// One replica at each of `ips`, all on one port, retrying until a port
    /// is free at every address.
    pub async fn at(ips: &[IpAddr], names: &[&'static str]) -> Vec<Self> {
        'port: for _ in 0..50 {
            let first = tokio::net::TcpListener::bind((ips[0], 0)).await.unwrap();
            let port = first.local_addr().unwrap().port();
            let mut listeners = vec![first];
            for ip in &ips[1..] {
                match tokio::net::TcpListener::bind((*ip, port)).await {
                    Ok(l) => listeners.push(l),
                    Err(_) => continue 'port,
                }
            }
            return names
                .iter()
                .zip(listeners)
                .map(|(name, l)| Self::serve(name, l))
                .collect();
        }
        panic!("no port free at all of {ips:?}");
    }

    /// Over TLS: with `http2`, behind the gateway's own listener (ALPN offers
    /// h2 and http/1.1), else behind the platform's (http/1.1 only), as the services are.
    pub async fn start_tls(name: &'static str, tls: platform::tls::ServerTls, http2: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve_how(name, listener, How::Tls { tls, http2 })
    }

    fn serve(name: &'static str, listener: tokio::net::TcpListener) -> Self {
        Self::serve_how(name, listener, How::Plain)
    }

    fn serve_how(name: &'static str, listener: tokio::net::TcpListener, how: How) -> Self {
        let addr = listener.local_addr().unwrap();
        let (hits, openapi_hits) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let ready = Arc::new(AtomicBool::new(true));
        let status = Arc::new(AtomicU16::new(200));
        let (h, o, r, s) = (
            hits.clone(),
            openapi_hits.clone(),
            ready.clone(),
            status.clone(),
        );
        let router = Router::new()
            .route("/healthz", any(|| async { "ok" }))
            .route(
                "/readyz",
                any(move || {
                    let ready = r.load(Ordering::SeqCst);
                    async move {
                        if ready {
                            StatusCode::OK
                        } else {
                            StatusCode::SERVICE_UNAVAILABLE
                        }
                    }
                }),
            )
            .route(
                "/openapi.json",
                any(move || {
                    o.fetch_add(1, Ordering::SeqCst);
                    async move {
                        Json(json!({
                            "openapi": "3.1.0",
                            "info": {"title": name, "version": "1"},
                            "paths": {"/api/v1/echo/things": {"get": {"responses": {"200": {"description": "things"}}}}},
                        }))
                    }
                }),
            )
            .fallback(any(move |req: Request| {
                h.fetch_add(1, Ordering::SeqCst);
                let status = StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap();
                async move { answer(name, status, req).await }
            }));
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        match how {
            How::Plain => {
                tokio::spawn(Service::new("upstream", router).run(listener, token));
            }
            How::Tls { tls, http2: false } => {
                tokio::spawn(platform::http::serve_with_tls(
                    listener,
                    router,
                    token,
                    Some(tls),
                ));
            }
            How::Tls { tls, http2: true } => {
                let listening = gateway::server::Listening {
                    tls: Some(tls),
                    connections: None,
                    header_read_timeout: Duration::from_secs(10),
                };
                tokio::spawn(gateway::server::serve(listener, router, token, listening));
            }
        }
        Self {
            name,
            addr,
            hits,
            openapi_hits,
            ready,
            status,
            cancel,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn stop(&self) {
        self.cancel.cancel();
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

enum How {
    Plain,
    Tls {
        tls: platform::tls::ServerTls,
        http2: bool,
    },
}

async fn answer(name: &str, status: StatusCode, req: Request) -> Response {
    let mut body = {
        let header = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        json!({
            "replica": name,
            "path": req.uri().to_string(),
            "method": req.method().as_str(),
            // HTTP/2 carries it as `:authority`.
            "host": header("host").or_else(|| req.uri().authority().map(|a| a.to_string())),
            "idempotency_key": header("idempotency-key"),
            "version": format!("{:?}", req.version()),
            "x_forwarded_for": header("x-forwarded-for"),
        })
    };
    if req.uri().path().starts_with("/api/v1/echo/slow") {
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    let length = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map(|b| b.len())
        .unwrap_or(0);
    body["body_bytes"] = json!(length);
    (status, Json(body)).into_response()
}

/// Names the test decides the addresses of.
#[derive(Default)]
pub struct FakeDns(Mutex<HashMap<String, Vec<IpAddr>>>);

impl FakeDns {
    pub fn set(&self, host: &str, ips: &[&str]) {
        let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
        self.0.lock().unwrap().insert(host.to_owned(), ips);
    }

    /// The name no longer resolves.
    pub fn remove(&self, host: &str) {
        self.0.lock().unwrap().remove(host);
    }
}

impl Resolve for FakeDns {
    fn resolve<'a>(&'a self, host: &'a str, _port: u16) -> Resolving<'a> {
        let ips = self.0.lock().unwrap().get(host).cloned();
        Box::pin(async move {
            ips.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such name"))
        })
    }
}

/// A gateway config with TLS off, `routes`, the `upstreams`, the shared test
/// Redis under a prefix of its own, no identity (public routes only; a token
/// check would find no keys), fast health checks and DNS refreshes.
pub fn config(routes: &[&str], upstreams: &[(&str, Vec<String>)]) -> Config {
    let mut map = BTreeMap::new();
    for (service, urls) in upstreams {
        map.insert(service.to_string(), urls.clone());
    }
    let upstream = gateway::config::UpstreamSettings {
        dns_refresh: Duration::from_millis(100),
        ..Default::default()
    };
    Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        admin_bind: None,
        internal_bind: None,
        routes: RouteTable::parse(routes, Duration::from_secs(5)).unwrap(),
        upstreams: map,
        upstream,
        limits: Default::default(),
        auth_fallback: Duration::from_secs(300),
        openapi_refresh: Duration::from_secs(60),
        redis_url: platform::testing::redis_url(),
        redis_prefix: format!("carebook-test:gw:{}:", uuid::Uuid::new_v4().simple()),
        auth: AuthConfig {
            jwks_url: "http://127.0.0.1:9/.well-known/jwks.json".to_owned(),
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            tls: None,
            revocations: None,
            jwks: Default::default(),
        },
        trusted_proxies: Vec::new(),
        api_quota: Quota {
            limit: 10_000,
            window_ms: 60_000,
        },
        auth_quota: Quota {
            limit: 100,
            window_ms: 60_000,
        },
        cors_origins: Vec::new(),
        max_body_bytes: 16 * 1024,
        rate_limiting: true,
        default_timeout: Duration::from_secs(5),
        health_interval: Duration::from_millis(100),
        public_tls: None,
        tls: None,
        docs_dir: None,
    }
}

/// The gateway on its own listener (HTTP/1.1 and HTTP/2), names resolved by `dns`.
pub async fn start_with(config: &Config, dns: Arc<dyn Resolve>) -> (SocketAddr, Stop) {
    let server = gateway::server_with_resolver(config, dns).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(server.run(listener, cancel.clone()));
    (addr, Stop(cancel))
}

pub async fn start(config: &Config) -> (SocketAddr, Stop) {
    start_with(config, Arc::new(gateway::SystemResolver)).await
}

/// `GET gw/readyz`'s view of `service`'s pool.
pub async fn pool(gw: SocketAddr, service: &str) -> serde_json::Value {
    let body: serde_json::Value = reqwest::get(format!("http://{gw}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["upstreams"][service].clone()
}

//! The gateway's hops into the system over mTLS, with the development CA of
//! `carebook certs`: a real identity service and echo upstreams that require a
//! client certificate from the CA, the JWKS fetched over mTLS, a Redis of the
//! test's own that speaks only TLS (its certificate from the same CA), and the
//! internal listener the portal calls. The public port stays plain HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{extract::Request, routing::any, Json, Router};
use gateway::Config;
use identity::SigningKeys;
use platform::{
    config::Env,
    shutdown::CancellationToken,
    testing::{assert_problem, eventually, TestBacking},
    tls::{ServerTls, TlsFiles, TlsIdentity},
};
use reqwest::StatusCode;
use rustls_pki_types::{pem::PemObject, CertificateDer};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

mod support;
use support::PrivateRedis;

/// Stops a server when dropped.
struct Stop(CancellationToken);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A development CA and its certificates in a directory of their own, deleted after.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn generate() -> Self {
        let dir = std::env::temp_dir().join(format!("carebook-gw-certs-{}", uuid::Uuid::new_v4()));
        carebook::certs::generate(&dir, false).unwrap();
        Self { dir }
    }

    /// The identity of `name` (one of `carebook::certs::NAMES`).
    fn identity(&self, name: &str) -> Arc<TlsIdentity> {
        TlsIdentity::load(TlsFiles::in_dir(&self.dir, name)).unwrap()
    }

    fn files(&self, name: &str) -> TlsFiles {
        TlsFiles::in_dir(&self.dir, name)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Serve `router` on an ephemeral port behind `tls`; stops when dropped.
async fn serve(router: Router, tls: ServerTls) -> (SocketAddr, Stop) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(platform::http::serve_with_tls(
        listener,
        router,
        token,
        Some(tls),
    ));
    (addr, Stop(cancel))
}

/// An upstream that answers with its name, and counts what reached it.
struct Echo {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    _stop: Stop,
}

async fn echo(name: &'static str, tls: ServerTls) -> Echo {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = Router::new()
        .route("/healthz", any(|| async { "ok" }))
        // Probes and the OpenAPI refresh are not requests to count.
        .route("/readyz", any(|| async { "ok" }))
        .route("/openapi.json", any(|| async { StatusCode::NOT_FOUND }))
        .fallback(any(move |req: Request| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { Json(json!({"replica": name, "path": req.uri().to_string()})) }
        }));
    let (addr, _stop) = serve(router, tls).await;
    Echo { addr, hits, _stop }
}

/// The real identity service, serving its API port with mTLS only, as
/// deployed, and the key it signs with.
struct Identity {
    base: String,
    backing: TestBacking,
    keys: SigningKeys,
    _stop: Stop,
}

async fn identity(tls: &Arc<TlsIdentity>) -> Identity {
    let backing = TestBacking::new("identity");
    let config = identity::Config {
        common: backing.config.clone(),
        signing_keys_dir: "unused".into(),
        access_ttl: Duration::from_secs(600),
        refresh_ttl: Duration::from_secs(3600),
        hash_concurrency: 2,
    };
    let pem = SigningKeys::generate_pem().unwrap();
    let keys = SigningKeys::from_pems([("k", pem.clone())]).unwrap();
    let service = identity::build_with_keys(&config, keys)
        .await
        .unwrap()
        .secured(Some(tls));
    let (addr, cancel) = platform::testing::spawn(service).await;
    Identity {
        base: format!("https://{addr}"),
        backing,
        keys: SigningKeys::from_pems([("k", pem)]).unwrap(),
        _stop: Stop(cancel),
    }
}

/// The system around one gateway: identity, an echo upstream that requires
/// mTLS, a rogue upstream whose certificate is from another CA, and the
/// gateway's Redis, TLS only.
struct System {
    certs: Certs,
    /// Another CA: its certificates look right but chain to nothing we trust.
    other: Certs,
    /// The public port: plain HTTP, as in development.
    public: String,
    internal: String,
    echo: Echo,
    rogue: Echo,
    identity: Identity,
    _gateway: Stop,
    /// Killed after the gateway is told to stop.
    redis: PrivateRedis,
}

fn env(vars: &[(&str, &str)]) -> Env {
    Env::from_map(
        "gateway",
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    )
}

/// The gateway configured as an operator would: `CAREBOOK_TLS_DIR` and https:// URLs.
async fn system() -> System {
    let (certs, other) = (Certs::generate(), Certs::generate());
    let redis = PrivateRedis::start_tls(platform::testing::reserved_port(), &certs.dir).await;
    let id = identity(&certs.identity("identity")).await;
    let echo = echo("echo", ServerTls::Mutual(certs.identity("scheduling"))).await;
    let rogue_files = other.files("scheduling");
    let rogue = echo_with_any_client(&rogue_files).await;
    let internal_port = platform::testing::reserved_port();
    let vars = [
        ("CAREBOOK_TLS_DIR", certs.dir.to_str().unwrap().to_owned()),
        ("GATEWAY_BIND", "127.0.0.1:0".to_owned()),
        (
            "GATEWAY_INTERNAL_BIND",
            format!("127.0.0.1:{internal_port}"),
        ),
        (
            "GATEWAY_ROUTES",
            "/api/v1/auth=identity,/.well-known/jwks.json=identity,\
             /api/v1/echo=echo,/api/v1/rogue=rogue"
                .to_owned(),
        ),
        ("GATEWAY_UPSTREAMS_IDENTITY", id.base.clone()),
        ("GATEWAY_UPSTREAMS_ECHO", format!("https://{}", echo.addr)),
        ("GATEWAY_UPSTREAMS_ROGUE", format!("https://{}", rogue.addr)),
        (
            "GATEWAY_JWKS_URL",
            format!("{}/.well-known/jwks.json", id.base),
        ),
        ("GATEWAY_REDIS_URL", redis.url()),
        (
            "GATEWAY_REDIS_PREFIX",
            id.backing.config.redis_prefix.clone(),
        ),
        ("GATEWAY_HEALTH_INTERVAL_MS", "200".to_owned()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let config = Config::load(env(&vars)).unwrap();
    assert!(config.tls.is_some(), "the gateway has its identity");
    let server = gateway::server(&config).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(server.run(listener, cancel.clone()));
    System {
        certs,
        other,
        public: format!("http://{addr}"),
        internal: format!("https://127.0.0.1:{internal_port}"),
        echo,
        rogue,
        identity: id,
        _gateway: Stop(cancel),
        redis,
    }
}

/// An upstream with a certificate of `files` that asks nothing of its clients:
/// only the gateway's own check of the server certificate can refuse it.
async fn echo_with_any_client(files: &TlsFiles) -> Echo {
    let acceptor = platform::http::tls_acceptor(&files.cert, &files.key).unwrap();
    echo("rogue", ServerTls::Fixed(acceptor)).await
}

/// A client that trusts the CA in `ca` but has no certificate of its own.
fn client_without_certificate(ca: &Path) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(platform::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// An access token identity would issue (checked by the gateway against
/// identity's JWKS, fetched over mTLS), after a sign-in attempt through the
/// gateway (counted in Redis and answered by identity over mTLS: a wrong password).
async fn sign_in(http: &reqwest::Client, sys: &System) -> String {
    let r = http
        .post(format!("{}/api/v1/auth/login", sys.public))
        .json(&json!({"email": "nobody@example.org", "password": "wrong wrong wrong"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    let claims = identity::tokens::access_claims(
        uuid::Uuid::now_v7(),
        platform::auth::Role::Patient,
        platform::config::DEFAULT_ISSUER,
        platform::config::DEFAULT_AUDIENCE,
        chrono::Utc::now(),
        600,
    );
    sys.identity.keys.sign(&claims).unwrap()
}

#[tokio::test]
async fn the_gateway_reaches_upstreams_and_the_jwks_over_mtls() {
    let sys = system().await;
    let http = reqwest::Client::new();
    // Through the plain public port to identity, which takes only mTLS.
    let token = sign_in(&http, &sys).await;

    // The token is checked against the JWKS fetched over mTLS, then the
    // request goes on to an upstream that requires the gateway's certificate.
    let r = http
        .get(format!("{}/api/v1/echo/x", sys.public))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["replica"], "echo");
    assert_eq!(body["path"], "/api/v1/echo/x");

    // The upstream really refuses a caller without a certificate from the CA.
    let hits = sys.echo.hits.load(Ordering::SeqCst);
    let direct = client_without_certificate(&sys.certs.files("portal").ca)
        .get(format!("https://{}/api/v1/echo/x", sys.echo.addr))
        .send()
        .await;
    assert!(direct.is_err(), "{direct:?}");
    assert_eq!(sys.echo.hits.load(Ordering::SeqCst), hits);

    // Health checks and the OpenAPI merge go over mTLS too.
    let gw = sys.public.clone();
    eventually(Duration::from_secs(5), "the mTLS upstreams healthy", || {
        let url = format!("{gw}/readyz");
        async move {
            let body: Value = reqwest::get(url).await.ok()?.json().await.ok()?;
            let healthy = |s: &str| body["upstreams"][s]["healthy"] == 1;
            (healthy("echo") && healthy("identity")).then_some(())
        }
    })
    .await;
    let doc: Value = reqwest::get(format!("{}/openapi.json", sys.public))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["paths"]["/api/v1/auth/login"]["post"].is_object(),
        "{doc}"
    );
}

#[tokio::test]
async fn the_rate_limiter_counts_in_a_redis_that_speaks_only_tls() {
    let sys = system().await;
    // Connected from the start: the server's certificate checked against the CA.
    let ready: Value = reqwest::get(format!("{}/readyz", sys.public))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["redis"], true, "{ready}");

    // Sign-in is limited in Redis only (without it, it fails closed), so these
    // went through the TLS Redis; API calls are counted there too.
    let http = reqwest::Client::new();
    let token = sign_in(&http, &sys).await;
    let r = http
        .get(format!("{}/api/v1/echo/x", sys.public))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("ratelimit"), "{:?}", r.headers());

    // The counters are there, read over TLS verified against the same CA...
    let client =
        platform::cache::client(&sys.redis.url(), Some(&sys.certs.identity("gateway"))).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*gateway:rl:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        keys.iter().any(|k| k.contains("gateway:rl:auth:")),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| k.contains("gateway:rl:api:")),
        "{keys:?}"
    );

    // ...and its port answers nothing in plain text.
    let plain = redis::Client::open(format!("redis://127.0.0.1:{}", sys.redis.port())).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        let mut conn = plain.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    })
    .await;
    assert!(
        !matches!(answer, Ok(Ok(_))),
        "plain text answered: {answer:?}"
    );
}

#[tokio::test]
async fn an_upstream_with_a_certificate_from_another_ca_is_never_proxied() {
    let sys = system().await;
    let http = reqwest::Client::new();
    let token = sign_in(&http, &sys).await;

    for _ in 0..3 {
        let r = http
            .get(format!("{}/api/v1/rogue/x", sys.public))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "upstream-unavailable").await;
    }
    assert_eq!(
        sys.rogue.hits.load(Ordering::SeqCst),
        0,
        "nothing reached it"
    );
    // Its health checks fail the same way.
    let gw = sys.public.clone();
    eventually(
        Duration::from_secs(5),
        "the rogue upstream unhealthy",
        || {
            let url = format!("{gw}/readyz");
            async move {
                let body: Value = reqwest::get(url).await.ok()?.json().await.ok()?;
                (body["upstreams"]["rogue"]["healthy"] == 0
                    && body["upstreams"]["echo"]["healthy"] == 1)
                    .then_some(())
            }
        },
    )
    .await;
    assert_eq!(sys.rogue.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_internal_listener_serves_only_clients_with_a_certificate_from_the_ca() {
    let sys = system().await;
    let token = sign_in(&reqwest::Client::new(), &sys).await;
    let url = format!("{}/api/v1/echo/x", sys.internal);

    // The portal's certificate from our CA gets through, to the same routes.
    let portal =
        platform::tls::http_client(Some(&sys.certs.identity("portal")), Duration::from_secs(5))
            .unwrap();
    let r = portal.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["replica"], "echo");
    let health = portal
        .get(format!("{}/healthz", sys.internal))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let hits = sys.echo.hits.load(Ordering::SeqCst);

    // No certificate, a certificate from another CA, or no TLS at all: refused.
    let without = client_without_certificate(&sys.certs.files("portal").ca)
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await;
    assert!(without.is_err(), "{without:?}");
    let stranger = reqwest::Client::builder()
        .use_preconfigured_tls({
            // Trusts our CA (so only the client certificate is wrong) but
            // presents one from the other CA.
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&sys.certs.files("portal").ca).unwrap() {
                roots.add(cert.unwrap()).unwrap();
            }
            let files = sys.other.files("portal");
            let chain = CertificateDer::pem_file_iter(&files.cert)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&files.key).unwrap();
            rustls::ClientConfig::builder_with_provider(platform::tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key)
                .unwrap()
        })
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await;
    assert!(stranger.is_err(), "{stranger:?}");
    let plain = reqwest::Client::new()
        .get(url.replacen("https://", "http://", 1))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP on the internal port"
    );
    assert_eq!(
        sys.echo.hits.load(Ordering::SeqCst),
        hits,
        "none was proxied"
    );
}

/// Settings as a deployment gives them, TLS from `certs` (Redis over TLS too,
/// unless `extra` turns TLS off), plus `extra`.
fn tls_env(certs: &Certs, extra: &[(&str, &str)]) -> Env {
    let dir = certs.dir.to_str().unwrap();
    let tls_off = extra.contains(&("CAREBOOK_TLS", "off"));
    let mut vars = vec![
        ("CAREBOOK_TLS_DIR", dir),
        (
            "CAREBOOK_REDIS_URL",
            if tls_off {
                "redis://127.0.0.1:6379"
            } else {
                "rediss://127.0.0.1:6379"
            },
        ),
        (
            "CAREBOOK_JWKS_URL",
            "https://127.0.0.1:8081/.well-known/jwks.json",
        ),
    ];
    vars.extend_from_slice(extra);
    env(&vars)
}

#[test]
fn with_tls_required_a_plain_http_upstream_is_a_config_error_naming_it() {
    let certs = Certs::generate();
    let err = Config::load(tls_env(
        &certs,
        &[
            ("GATEWAY_UPSTREAMS_SCHEDULING", "http://10.0.0.1:8083"),
            (
                "GATEWAY_JWKS_URL",
                "http://127.0.0.1:8081/.well-known/jwks.json",
            ),
        ],
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("GATEWAY_UPSTREAMS_SCHEDULING"), "{err}");
    assert!(err.contains("https://"), "{err}");
    assert!(err.contains("JWKS_URL"), "{err}");
    assert!(!err.contains("GATEWAY_UPSTREAMS_IDENTITY"), "{err}");

    // Off, the same plain upstream is accepted (and an https:// one is not:
    // there is no CA to verify it against).
    let off = Config::load(tls_env(
        &certs,
        &[
            ("CAREBOOK_TLS", "off"),
            ("GATEWAY_UPSTREAMS_SCHEDULING", "http://10.0.0.1:8083"),
            (
                "GATEWAY_JWKS_URL",
                "http://127.0.0.1:8081/.well-known/jwks.json",
            ),
        ],
    ))
    .unwrap();
    assert!(off.tls.is_none());
    assert_eq!(off.upstreams["scheduling"], ["http://10.0.0.1:8083"]);
    let err = Config::load(tls_env(
        &certs,
        &[
            ("CAREBOOK_TLS", "off"),
            ("GATEWAY_UPSTREAMS_SCHEDULING", "https://10.0.0.1:8083"),
        ],
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("GATEWAY_UPSTREAMS_SCHEDULING"), "{err}");
}

#[test]
fn default_upstreams_follow_the_tls_mode() {
    let certs = Certs::generate();
    let on = Config::load(tls_env(&certs, &[])).unwrap();
    assert!(on.tls.is_some());
    assert!(on.auth.tls.is_some(), "the JWKS is fetched over mTLS");
    assert_eq!(on.upstreams["identity"], ["https://127.0.0.1:8081"]);
    assert_eq!(on.upstreams["portal"], ["https://127.0.0.1:8087"]);
    assert_eq!(on.upstreams["fhir"], ["https://127.0.0.1:8088"]);
    assert!(on.internal_bind.is_none() && on.public_tls.is_none());

    let off = Config::load(tls_env(
        &certs,
        &[
            ("CAREBOOK_TLS", "off"),
            (
                "CAREBOOK_JWKS_URL",
                "http://127.0.0.1:8081/.well-known/jwks.json",
            ),
        ],
    ))
    .unwrap();
    assert_eq!(off.upstreams["identity"], ["http://127.0.0.1:8081"]);
}

#[test]
fn tls_is_required_unless_turned_off_and_the_public_edge_has_its_own_names() {
    // Secure by default: no TLS files and no CAREBOOK_TLS=off is an error.
    let err = Config::load(env(&[
        ("CAREBOOK_REDIS_URL", "redis://127.0.0.1:6379"),
        (
            "CAREBOOK_JWKS_URL",
            "https://127.0.0.1:8081/.well-known/jwks.json",
        ),
    ]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("CAREBOOK_TLS_DIR"), "{err}");

    let certs = Certs::generate();
    let err = Config::load(tls_env(
        &certs,
        &[("GATEWAY_PUBLIC_TLS_CERT_FILE", "/etc/edge/cert.pem")],
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("GATEWAY_PUBLIC_TLS_KEY_FILE"), "{err}");
    // Redis in plain text is refused too.
    let err = Config::load(tls_env(
        &certs,
        &[("GATEWAY_REDIS_URL", "redis://127.0.0.1:6379")],
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("GATEWAY_REDIS_URL must be rediss://"), "{err}");
    let cfg = Config::load(tls_env(
        &certs,
        &[
            ("GATEWAY_PUBLIC_TLS_CERT_FILE", "/etc/edge/cert.pem"),
            ("GATEWAY_PUBLIC_TLS_KEY_FILE", "/etc/edge/key.pem"),
            ("GATEWAY_INTERNAL_BIND", "127.0.0.1:8443"),
        ],
    ))
    .unwrap();
    assert_eq!(
        cfg.public_tls,
        Some(("/etc/edge/cert.pem".into(), "/etc/edge/key.pem".into()))
    );
    assert_eq!(
        cfg.internal_bind,
        Some(SocketAddr::from(([127, 0, 0, 1], 8443)))
    );
    // The internal identity is the platform's `GATEWAY_TLS_*`, from the CA dir here.
    assert_eq!(cfg.tls.unwrap().files().cert, certs.dir.join("gateway.pem"));
}

#[tokio::test]
async fn a_replica_found_by_name_is_verified_by_that_name_and_spoken_to_in_http2_if_it_offers_it() {
    let certs = Certs::generate();
    let redis = PrivateRedis::start_tls(platform::testing::reserved_port(), &certs.dir).await;
    // The services' own listener offers http/1.1 only; the other offers h2 too.
    let h1 =
        support::Upstream::start_tls("h1", ServerTls::Mutual(certs.identity("billing")), false)
            .await;
    let h2 =
        support::Upstream::start_tls("h2", ServerTls::Mutual(certs.identity("scheduling")), true)
            .await;
    let vars = [
        ("CAREBOOK_TLS_DIR", certs.dir.to_str().unwrap().to_owned()),
        (
            "GATEWAY_ROUTES",
            "/api/v1/h1=h1:public,/api/v1/h2=h2:public".to_owned(),
        ),
        // Names, not addresses: each certificate carries `localhost`.
        (
            "GATEWAY_UPSTREAMS_H1",
            format!("https://localhost:{}", h1.port()),
        ),
        (
            "GATEWAY_UPSTREAMS_H2",
            format!("https://localhost:{}", h2.port()),
        ),
        (
            "GATEWAY_JWKS_URL",
            "https://127.0.0.1:9/.well-known/jwks.json".to_owned(),
        ),
        ("GATEWAY_REDIS_URL", redis.url()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let config = Config::load(env(&vars)).unwrap();
    let dns = Arc::new(support::FakeDns::default());
    dns.set("localhost", &["127.0.0.1"]);
    let (gw, _stop) = support::start_with(&config, dns).await;

    for (path, replica, version) in [
        ("/api/v1/h1/x", "h1", "HTTP/1.1"),
        ("/api/v1/h2/x", "h2", "HTTP/2.0"),
    ] {
        let r = reqwest::get(format!("http://{gw}{path}")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["replica"], replica);
        assert_eq!(body["version"], version, "{path}");
        assert_eq!(
            body["host"].as_str().unwrap().split(':').next(),
            Some("localhost")
        );
    }
    let pool = support::pool(gw, "h2").await;
    assert_eq!(pool["replicas"], 1, "{pool}");
}

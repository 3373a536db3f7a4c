//! TLS between our processes, against real sockets on 127.0.0.1, with
//! certificates made here by rcgen (an internal CA and a rogue one): the mTLS
//! port refuses strangers before the router sees them, a renewed certificate
//! applies without a restart, the JWKS comes only from a server of our CA, and
//! a client with TLS never speaks plaintext.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Redirect},
    routing::get,
    Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ed25519_dalek::{pkcs8::EncodePrivateKey, SigningKey};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{encode, jwk::JwkSet, Algorithm, EncodingKey, Header};
use platform::{
    auth::{Claims, Role, TokenError, Verifier},
    config::{AuthConfig, CommonConfig, Env, DEFAULT_AUDIENCE, DEFAULT_ISSUER},
    shutdown::CancellationToken,
    testing::eventually,
    tls::{http_client, ServerTls, TlsFiles, TlsIdentity},
};
use rand::rngs::OsRng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{
    rustls::{self, AlertDescription, ClientConfig, RootCertStore},
    TlsAcceptor, TlsConnector,
};
use uuid::Uuid;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often `TlsIdentity::watch` looks at the files (`WATCH_EVERY` in tls.rs).
const WATCH_EVERY: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

/// A certificate authority: its certificate as PEM and what signs with it.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// An ECDSA P-256 CA that may sign leaves only (as `carebook certs` makes it).
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names` (DNS names or IP addresses), usable as server and as
    /// client certificate, with its own key and the given serial number.
    fn issue(&self, cn: &str, names: &[&str], serial: u64) -> Leaf {
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(cn);
        params.subject_alt_names = names
            .iter()
            .map(|name| match name.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*name).try_into().unwrap()),
            })
            .collect();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from(serial));
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// One issued certificate and its private key.
#[derive(Clone)]
struct Leaf {
    der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

impl Leaf {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap()
    }
}

/// The names every test leaf answers to.
const LOCAL: [&str; 2] = ["localhost", "127.0.0.1"];

/// Our CA and a rogue one, and the files of the leaves they issue (in the
/// `TlsFiles::in_dir` layout: `ca.pem`, `<name>.pem`, `<name>-key.pem`), in a
/// directory of the test's own, deleted after.
struct Pki {
    dir: PathBuf,
    ca: Ca,
    rogue: Ca,
    serials: AtomicU64,
}

impl Pki {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("carebook-tls-{}", Uuid::new_v4()));
        let pki = Self {
            ca: Ca::new("Carebook test CA"),
            rogue: Ca::new("Rogue CA"),
            serials: AtomicU64::new(0x1000),
            dir,
        };
        std::fs::create_dir_all(pki.dir.join("rogue")).unwrap();
        std::fs::write(pki.dir.join("ca.pem"), &pki.ca.pem).unwrap();
        std::fs::write(pki.dir.join("rogue").join("ca.pem"), &pki.rogue.pem).unwrap();
        pki
    }

    fn serial(&self) -> u64 {
        self.serials.fetch_add(1, Ordering::SeqCst)
    }

    /// A fresh leaf from our CA for 127.0.0.1 and localhost.
    fn leaf(&self, name: &str) -> Leaf {
        self.ca.issue(name, &LOCAL, self.serial())
    }

    /// A fresh leaf from the rogue CA for the same names.
    fn rogue_leaf(&self, name: &str) -> Leaf {
        self.rogue.issue(name, &LOCAL, self.serial())
    }

    fn files(&self, name: &str) -> TlsFiles {
        TlsFiles::in_dir(&self.dir, name)
    }

    /// Write `leaf` as `name`'s certificate and key (over any earlier ones).
    fn install(&self, name: &str, leaf: &Leaf) -> TlsFiles {
        let files = self.files(name);
        std::fs::write(&files.cert, &leaf.cert_pem).unwrap();
        std::fs::write(&files.key, &leaf.key_pem).unwrap();
        files
    }

    /// `name`'s identity from a fresh leaf of our CA, and that leaf.
    fn identity(&self, name: &str) -> (Arc<TlsIdentity>, Leaf) {
        let leaf = self.leaf(name);
        let identity = TlsIdentity::load(self.install(name, &leaf)).unwrap();
        (identity, leaf)
    }

    /// Files of a leaf of the rogue CA (its own `ca.pem` beside them).
    fn rogue_files(&self, name: &str) -> TlsFiles {
        let leaf = self.rogue_leaf(name);
        let files = TlsFiles::in_dir(&self.dir.join("rogue"), name);
        std::fs::write(&files.cert, &leaf.cert_pem).unwrap();
        std::fs::write(&files.key, &leaf.key_pem).unwrap();
        files
    }

    /// Roots with our CA only.
    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca.pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        roots
    }

    /// A client that trusts our CA but shows no certificate.
    fn client_without_certificate(&self) -> ClientConfig {
        client_builder()
            .with_root_certificates(self.roots())
            .with_no_client_auth()
    }

    /// A client that trusts our CA and shows `leaf` (of whichever CA).
    fn client_showing(&self, leaf: &Leaf) -> ClientConfig {
        client_builder()
            .with_root_certificates(self.roots())
            .with_client_auth_cert(vec![leaf.der.clone()], leaf.key())
            .unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client_builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(platform::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
}

/// Replace `name`'s certificate and key with `leaf`, as a renewal does. The
/// identity notices a change by the files' modification times, so the write
/// is repeated until the clock the filesystem stamps with has moved on.
fn renew(pki: &Pki, name: &str, leaf: &Leaf) {
    let files = pki.files(name);
    let before = modified(&files.cert);
    loop {
        pki.install(name, leaf);
        if modified(&files.cert) != before {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

// ---------------------------------------------------------------------------
// Servers and connections
// ---------------------------------------------------------------------------

/// `router` served by `platform::http::serve_with_tls` on an ephemeral port of
/// 127.0.0.1, counting the requests that reach the router; stops when dropped.
struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    stop: CancellationToken,
}

impl Server {
    async fn start(router: Router, tls: Option<ServerTls>) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let router = router.layer(middleware::from_fn(
            move |req: axum::extract::Request, next: Next| {
                counter.fetch_add(1, Ordering::SeqCst);
                next.run(req)
            },
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(platform::http::serve_with_tls(
            listener,
            router,
            stop.clone(),
            tls,
        ));
        Self { addr, hits, stop }
    }

    /// Requests that reached the router.
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn hello() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

/// An HTTP/1.1 connection over TLS, opened by hand so the test sees what the
/// handshake gave: the server's certificate and the protocol ALPN agreed on.
struct Conn {
    server_cert: CertificateDer<'static>,
    alpn: Option<Vec<u8>>,
    http: SendRequest<Body>,
}

impl Conn {
    async fn open(addr: SocketAddr, config: ClientConfig) -> Result<Self, BoxError> {
        let tcp = TcpStream::connect(addr).await?;
        let tls = TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost")?, tcp)
            .await?;
        let (_, session) = tls.get_ref();
        let server_cert = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .cloned()
            .ok_or("the server showed no certificate")?;
        let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
        let (http, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            server_cert,
            alpn,
            http,
        })
    }

    /// GET `path` on this connection: the status and the body.
    async fn get(&mut self, path: &str) -> Result<(StatusCode, String), BoxError> {
        let request = axum::http::Request::get(path)
            .header(header::HOST, "localhost")
            .body(Body::empty())?;
        let response = self.http.send_request(request).await?;
        let status = response.status();
        let body = axum::body::to_bytes(Body::new(response.into_body()), 1 << 20).await?;
        Ok((status, String::from_utf8(body.to_vec())?))
    }
}

/// Connect with `config` and wait for the server's verdict: the TLS error the
/// client gets when the server refuses it. (In TLS 1.3 the client finishes its
/// half of the handshake before the server has judged its certificate, so the
/// refusal arrives as an alert on the first read. Nothing is sent, so the
/// server's close is a clean one and the alert is not lost to a reset.)
async fn refusal(addr: SocketAddr, config: ClientConfig) -> rustls::Error {
    let attempt = async {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
        let mut tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    match tokio::time::timeout(Duration::from_secs(3), attempt).await {
        Err(_) => panic!("the server accepted the client (it waits for a request)"),
        Ok(Ok(answer)) => panic!(
            "the server closed without an alert: {:?}",
            String::from_utf8_lossy(&answer)
        ),
        Ok(Err(e)) => e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned()
            .unwrap_or_else(|| panic!("not a TLS refusal: {e}")),
    }
}

/// Accept one TLS connection on `listener` with `identity`'s server side,
/// answer its request with 204, and give the certificate the client showed.
/// Sessions are not resumed, so every handshake is a full one: a resumed
/// session would carry the certificate shown when it began.
async fn client_certificate_seen(
    listener: &TcpListener,
    identity: &Arc<TlsIdentity>,
) -> CertificateDer<'static> {
    let mut config = (*identity.server_config()).clone();
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    let (tcp, _) = listener.accept().await.unwrap();
    let mut tls = TlsAcceptor::from(Arc::new(config))
        .accept(tcp)
        .await
        .unwrap();
    let shown = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let mut request = Vec::new();
    while !request.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.unwrap();
        request.push(byte[0]);
    }
    tls.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    tls.shutdown().await.unwrap();
    shown
}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

const KID: &str = "key-tls-test";

/// The identity service's side: an Ed25519 key published under `KID`.
struct TokenIssuer {
    key: SigningKey,
}

impl TokenIssuer {
    fn new() -> Self {
        Self {
            key: SigningKey::generate(&mut OsRng),
        }
    }

    /// The JWKS the identity service publishes.
    fn jwks(&self) -> JwkSet {
        serde_json::from_value(serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(self.key.verifying_key().to_bytes()),
                "kid": KID,
                "alg": "EdDSA",
                "use": "sig",
            }]
        }))
        .unwrap()
    }

    /// A patient's access token, valid for ten minutes.
    fn token(&self) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: Uuid::new_v4(),
            role: Role::Patient,
            iss: DEFAULT_ISSUER.to_owned(),
            aud: DEFAULT_AUDIENCE.to_owned(),
            exp: now + 600,
            iat: now,
            jti: Uuid::new_v4(),
            patient_id: Some(Uuid::new_v4()),
            provider_id: None,
            scope: None,
        };
        let der = self.key.to_pkcs8_der().unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(KID.to_owned());
        encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
    }

    /// The identity service's key endpoint.
    fn router(&self) -> Router {
        let jwks = self.jwks();
        Router::new().route(
            JWKS_PATH,
            get(move || {
                let jwks = jwks.clone();
                async move { Json(jwks) }
            }),
        )
    }
}

const JWKS_PATH: &str = "/.well-known/jwks.json";

/// A verifier as every service builds it from its configuration.
fn verifier(jwks_url: String, tls: &Arc<TlsIdentity>) -> Arc<Verifier> {
    Verifier::from_config(&AuthConfig {
        jwks_url,
        issuer: DEFAULT_ISSUER.to_owned(),
        audience: DEFAULT_AUDIENCE.to_owned(),
        tls: Some(tls.clone()),
        revocations: None,
        jwks: Default::default(),
    })
}

// ---------------------------------------------------------------------------
// 1. The mTLS port
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_mtls_port_serves_only_clients_with_a_certificate_from_the_ca() {
    let pki = Pki::new();
    let (scheduling, scheduling_leaf) = pki.identity("scheduling");
    let server = Server::start(hello(), Some(ServerTls::Mutual(scheduling))).await;

    // No certificate: TLS 1.3 says one is required.
    assert_eq!(
        refusal(server.addr, pki.client_without_certificate()).await,
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired)
    );
    // A certificate for the right names, from another CA: unknown issuer.
    let stranger = pki.rogue_leaf("portal");
    assert_eq!(
        refusal(server.addr, pki.client_showing(&stranger)).await,
        rustls::Error::AlertReceived(AlertDescription::UnknownCA)
    );
    // No TLS at all.
    let plain = reqwest::Client::new()
        .get(server.url("http", "/hello"))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    assert_eq!(server.hits(), 0, "a refused client reached the router");

    // Another service of ours, with its identity's client side.
    let (portal, _) = pki.identity("portal");
    let mut conn = Conn::open(server.addr, portal.client_config().unwrap())
        .await
        .unwrap();
    assert_eq!(conn.server_cert, scheduling_leaf.der);
    assert_eq!(
        conn.get("/hello").await.unwrap(),
        (StatusCode::OK, "hello".to_owned())
    );
    // And through the HTTP client every service uses (by IP address: the
    // certificate names 127.0.0.1 too).
    let response = http_client(Some(&portal), Duration::from_secs(5))
        .unwrap()
        .get(server.url("https", "/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.hits(), 2);
}

/// `serve_with_tls` speaks HTTP/1.1 only, so the mTLS port must not agree to
/// anything else: a client offering h2 first (curl, Go, gRPC) that got h2
/// would send an HTTP/2 preface to an HTTP/1.1 server and fail.
#[tokio::test]
async fn the_mtls_port_agrees_only_to_the_http_version_it_speaks() {
    let pki = Pki::new();
    let (scheduling, _) = pki.identity("scheduling");
    let server = Server::start(hello(), Some(ServerTls::Mutual(scheduling))).await;
    let (portal, _) = pki.identity("portal");
    let mut offering_h2 = portal.client_config().unwrap();
    offering_h2.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    let mut conn = Conn::open(server.addr, offering_h2).await.unwrap();

    assert_eq!(conn.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(conn.get("/hello").await.unwrap().0, StatusCode::OK);
}

// ---------------------------------------------------------------------------
// 2. Renewal without a restart
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_reloaded_certificate_serves_new_connections_while_open_ones_carry_on() {
    let pki = Pki::new();
    let (scheduling, first) = pki.identity("scheduling");
    let server = Server::start(hello(), Some(ServerTls::Mutual(scheduling.clone()))).await;
    let (portal, _) = pki.identity("portal");
    let mut before = Conn::open(server.addr, portal.client_config().unwrap())
        .await
        .unwrap();
    assert_eq!(before.server_cert, first.der);

    let renewed = pki.leaf("scheduling");
    assert_ne!(renewed.der, first.der);
    renew(&pki, "scheduling", &renewed);
    assert!(scheduling.reload().unwrap(), "the new files are taken");
    assert!(!scheduling.reload().unwrap(), "nothing changed since");

    let mut after = Conn::open(server.addr, portal.client_config().unwrap())
        .await
        .unwrap();
    assert_eq!(after.server_cert, renewed.der);
    assert_eq!(after.get("/hello").await.unwrap().0, StatusCode::OK);
    // The connection opened before the renewal keeps its session.
    assert_eq!(before.get("/hello").await.unwrap().0, StatusCode::OK);
    assert_eq!(server.hits(), 2);
}

/// What a failed renewal can leave in the files (given them and another leaf).
type Breakage = fn(&TlsFiles, &Leaf);

#[tokio::test]
async fn a_broken_replacement_keeps_the_previous_certificate_in_use() {
    let pki = Pki::new();
    let (scheduling, good) = pki.identity("scheduling");
    let server = Server::start(hello(), Some(ServerTls::Mutual(scheduling.clone()))).await;
    let (portal, _) = pki.identity("portal");
    let files = pki.files("scheduling");
    let other = pki.leaf("scheduling");

    let broken: [(&str, Breakage); 3] = [
        ("a certificate file that is not PEM", |files, _| {
            std::fs::write(&files.cert, "not a certificate").unwrap()
        }),
        (
            "a certificate without its key (the key not written yet)",
            |files, other| std::fs::write(&files.cert, &other.cert_pem).unwrap(),
        ),
        ("a missing key file", |files, _| {
            std::fs::remove_file(&files.key).unwrap()
        }),
    ];
    for (what, replace) in broken {
        renew(&pki, "scheduling", &good);
        assert!(scheduling.reload().unwrap(), "{what}: the good files back");
        let before = modified(&files.cert);
        replace(&files, &other);
        while modified(&files.cert) == before && files.key.exists() {
            std::thread::sleep(Duration::from_millis(2));
            replace(&files, &other);
        }

        let error = scheduling.reload().unwrap_err();

        let mut conn = Conn::open(server.addr, portal.client_config().unwrap())
            .await
            .unwrap_or_else(|e| panic!("{what} ({error}): {e}"));
        assert_eq!(conn.server_cert, good.der, "{what}");
        assert_eq!(conn.get("/hello").await.unwrap().0, StatusCode::OK);
        // Still broken: still an error, still the previous material.
        assert!(scheduling.reload().is_err(), "{what}");
    }
}

#[tokio::test]
async fn the_watcher_takes_a_renewed_certificate_within_its_interval() {
    let pki = Pki::new();
    let (scheduling, _) = pki.identity("scheduling");
    let server = Server::start(hello(), Some(ServerTls::Mutual(scheduling.clone()))).await;
    let (portal, _) = pki.identity("portal");
    let stop = CancellationToken::new();
    let watcher = tokio::spawn(scheduling.clone().watch(stop.clone()));

    let renewed = pki.leaf("scheduling");
    renew(&pki, "scheduling", &renewed);
    let renewed_at = Instant::now();

    eventually(
        WATCH_EVERY + Duration::from_secs(2),
        "the renewed certificate",
        || {
            let config = portal.client_config().unwrap();
            let renewed = renewed.der.clone();
            async move {
                let conn = Conn::open(server.addr, config).await.ok()?;
                (conn.server_cert == renewed).then_some(())
            }
        },
    )
    .await;
    assert!(renewed_at.elapsed() <= WATCH_EVERY + Duration::from_secs(2));
    stop.cancel();
    watcher.await.unwrap();
}

/// Signals the test process itself: nextest runs each test in a process of its
/// own (under `cargo test` the signal also reaches the other tests' watchers,
/// which only makes them reload early).
#[tokio::test]
async fn sighup_makes_the_watcher_reload_at_once() {
    // Our own handler first: from here on SIGHUP cannot end the test process,
    // whether or not the watcher has registered its handler yet.
    let _guard = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let pki = Pki::new();
    let (scheduling, _) = pki.identity("scheduling");
    let server = Server::start(hello(), Some(ServerTls::Mutual(scheduling.clone()))).await;
    let (portal, _) = pki.identity("portal");
    let stop = CancellationToken::new();
    let started = Instant::now();
    let watcher = tokio::spawn(scheduling.clone().watch(stop.clone()));

    let renewed = pki.leaf("scheduling");
    renew(&pki, "scheduling", &renewed);
    // Well before the timer's first tick, only the signal can explain a reload.
    eventually(WATCH_EVERY / 2, "a reload on SIGHUP", || {
        let config = portal.client_config().unwrap();
        let renewed = renewed.der.clone();
        async move {
            let sent = std::process::Command::new("kill")
                .args(["-HUP", &std::process::id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            tokio::time::sleep(Duration::from_millis(50)).await;
            let conn = Conn::open(server.addr, config).await.ok()?;
            (conn.server_cert == renewed).then_some(())
        }
    })
    .await;
    assert!(started.elapsed() < WATCH_EVERY);
    stop.cancel();
    watcher.await.unwrap();
}

/// The client side follows renewals too: a client built once presents, on its
/// next full handshake, the certificate in use now, not the one it was built
/// with. (A session resumed from before the renewal still stands for the old
/// certificate, which is as valid as it was: renewal is not revocation.)
#[tokio::test]
async fn a_client_built_before_a_renewal_presents_the_renewed_certificate() {
    let pki = Pki::new();
    let (scheduling, _) = pki.identity("scheduling");
    let (portal, first) = pki.identity("portal");
    let client = http_client(Some(&portal), Duration::from_secs(5)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());

    let (shown, response) = tokio::join!(
        client_certificate_seen(&listener, &scheduling),
        client.get(&url).send()
    );
    assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(shown, first.der);

    let renewed = pki.leaf("portal");
    renew(&pki, "portal", &renewed);
    assert!(portal.reload().unwrap());
    let (shown, response) = tokio::join!(
        client_certificate_seen(&listener, &scheduling),
        client.get(&url).send()
    );
    assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(shown, renewed.der);
}

// ---------------------------------------------------------------------------
// 3. The JWKS comes from a server of our CA only
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_jwks_from_a_server_our_ca_did_not_certify_is_refused() {
    let pki = Pki::new();
    let issuer = TokenIssuer::new();
    let token = issuer.token();
    let (gateway, _) = pki.identity("gateway");

    // A certificate for 127.0.0.1 from the rogue CA; no client certificate asked,
    // so our verifier's refusal of the server is the only thing in the way.
    let rogue = pki.rogue_files("identity");
    let acceptor = platform::http::tls_acceptor(&rogue.cert, &rogue.key).unwrap();
    let impostor = Server::start(issuer.router(), Some(ServerTls::Fixed(acceptor))).await;
    assert_eq!(
        verifier(impostor.url("https", JWKS_PATH), &gateway)
            .verify(&token)
            .await,
        Err(TokenError::KeysUnavailable)
    );
    assert_eq!(impostor.hits(), 0);

    // A certificate from our CA, but for another host than the URL's.
    let elsewhere = pki
        .ca
        .issue("identity", &["identity.elsewhere.test"], pki.serial());
    let files = pki.install("misnamed", &elsewhere);
    let acceptor = platform::http::tls_acceptor(&files.cert, &files.key).unwrap();
    let misnamed = Server::start(issuer.router(), Some(ServerTls::Fixed(acceptor))).await;
    assert_eq!(
        verifier(misnamed.url("https", JWKS_PATH), &gateway)
            .verify(&token)
            .await,
        Err(TokenError::KeysUnavailable)
    );
    assert_eq!(misnamed.hits(), 0);
}

#[tokio::test]
async fn the_same_jwks_from_the_identity_service_of_our_ca_is_used() {
    let pki = Pki::new();
    let issuer = TokenIssuer::new();
    let (identity, _) = pki.identity("identity");
    let (gateway, _) = pki.identity("gateway");
    // As the identity service serves it: on its mTLS port.
    let server = Server::start(issuer.router(), Some(ServerTls::Mutual(identity))).await;

    let claims = verifier(server.url("https", JWKS_PATH), &gateway)
        .verify(&issuer.token())
        .await
        .unwrap();

    assert_eq!(claims.role, Role::Patient);
    assert_eq!(server.hits(), 1);
}

// ---------------------------------------------------------------------------
// 4. No plaintext with TLS on
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_client_with_tls_never_sends_a_request_in_plaintext() {
    let pki = Pki::new();
    let issuer = TokenIssuer::new();
    let (gateway, _) = pki.identity("gateway");
    let plain = Server::start(issuer.router().merge(hello()), None).await;
    // The plain server answers a client without TLS.
    let control = http_client(None, Duration::from_secs(5))
        .unwrap()
        .get(plain.url("http", "/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(control.status(), StatusCode::OK);

    let refused = http_client(Some(&gateway), Duration::from_secs(5))
        .unwrap()
        .get(plain.url("http", "/hello"))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");
    // Nor is a JWKS fetched over http:// (config refuses such a URL; this is
    // the same promise one layer down).
    assert_eq!(
        verifier(plain.url("http", JWKS_PATH), &gateway)
            .verify(&issuer.token())
            .await,
        Err(TokenError::KeysUnavailable)
    );
    assert_eq!(plain.hits(), 1, "only the client without TLS got through");
}

/// A redirect is a URL the configuration never saw: a JWKS server of ours
/// sending the client to http:// must not lead it to plaintext keys.
#[tokio::test]
async fn a_jwks_redirect_to_plain_http_is_not_followed() {
    let pki = Pki::new();
    let issuer = TokenIssuer::new();
    let (identity, _) = pki.identity("identity");
    let (gateway, _) = pki.identity("gateway");
    let plain = Server::start(issuer.router(), None).await;
    let target = plain.url("http", JWKS_PATH);
    let redirecting = Router::new().route(
        JWKS_PATH,
        get(move || {
            let target = target.clone();
            async move { Redirect::temporary(&target).into_response() }
        }),
    );
    let server = Server::start(redirecting, Some(ServerTls::Mutual(identity))).await;

    let result = verifier(server.url("https", JWKS_PATH), &gateway)
        .verify(&issuer.token())
        .await;

    assert_eq!(result, Err(TokenError::KeysUnavailable));
    assert_eq!(server.hits(), 1);
    assert_eq!(
        plain.hits(),
        0,
        "the client followed the redirect to http://"
    );
}

/// Settings for the identity service with the development layout of real
/// certificate files in `pki`'s directory.
fn env_with_certificates(pki: &Pki, pairs: &[(&str, &str)]) -> Env {
    let mut vars: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.insert(
        "CAREBOOK_TLS_DIR".into(),
        pki.dir.to_str().unwrap().to_owned(),
    );
    Env::from_map("identity", vars)
}

#[test]
fn with_certificates_in_place_plaintext_urls_are_refused_without_repeating_them() {
    let pki = Pki::new();
    pki.identity("identity");
    let mut env = env_with_certificates(
        &pki,
        &[
            (
                "IDENTITY_DATABASE_URL",
                "postgres://u:secret@db:5432/carebook_identity?sslmode=require",
            ),
            ("CAREBOOK_REDIS_URL", "redis://:secret@cache:6379"),
            ("CAREBOOK_AMQP_URL", "amqp://u:secret@mq:5672/%2f"),
            ("CAREBOOK_JWKS_URL", "http://identity/.well-known/jwks.json"),
        ],
    );

    let config = CommonConfig::load(&mut env, 8081);

    assert!(config.tls.is_some(), "the certificate files were usable");
    let errors = env.finish().unwrap_err().0;
    let text = errors.join("\n");
    assert!(text.contains("sslmode=require"), "{text}");
    assert!(text.contains("REDIS_URL must be rediss://"), "{text}");
    assert!(text.contains("AMQP_URL must be amqps://"), "{text}");
    assert!(text.contains("JWKS_URL must be https://"), "{text}");
    assert_eq!(errors.len(), 4, "{text}");
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn the_auth_settings_alone_refuse_a_plaintext_jwks_url_when_tls_is_on() {
    let pki = Pki::new();
    let (gateway, _) = pki.identity("gateway");
    for url in [
        "http://identity:8081/.well-known/jwks.json",
        "identity:8081",
    ] {
        let mut env = env_with_certificates(&pki, &[("CAREBOOK_JWKS_URL", url)]);
        AuthConfig::load(&mut env, Some(gateway.clone()));
        let text = env.finish().unwrap_err().to_string();
        assert!(text.contains("JWKS_URL must be https://"), "{url}: {text}");
    }
    let mut env = env_with_certificates(
        &pki,
        &[(
            "CAREBOOK_JWKS_URL",
            "https://identity:8081/.well-known/jwks.json",
        )],
    );
    let config = AuthConfig::load(&mut env, Some(gateway));
    env.finish().unwrap();
    assert!(config.tls.is_some());
}

#[test]
fn with_certificates_in_place_tls_urls_load_and_the_database_is_verified() {
    let pki = Pki::new();
    pki.identity("identity");
    let mut env = env_with_certificates(
        &pki,
        &[
            ("CAREBOOK_POSTGRES_URL", "postgres://u:pw@db:5432"),
            ("CAREBOOK_REDIS_URL", "rediss://:pw@cache:6379"),
            ("CAREBOOK_AMQP_URL", "amqps://u:pw@mq:5671/%2f"),
            (
                "CAREBOOK_JWKS_URL",
                "https://identity/.well-known/jwks.json",
            ),
        ],
    );

    let config = CommonConfig::load(&mut env, 8081);

    env.finish().unwrap();
    let files = pki.files("identity");
    assert_eq!(config.tls.as_ref().unwrap().files(), &files);
    assert!(config.auth.tls.is_some());
    assert_eq!(
        config.database_url,
        format!(
            "postgres://u:pw@db:5432/carebook_identity?sslmode=verify-full&sslrootcert={}",
            files.ca.display()
        )
    );
}

#[test]
fn a_certificate_that_does_not_match_its_key_is_a_config_error_naming_both_files() {
    let pki = Pki::new();
    pki.identity("identity");
    let files = pki.files("identity");
    std::fs::write(&files.key, pki.leaf("identity").key_pem).unwrap();
    let mut env = env_with_certificates(&pki, &[]);

    assert!(platform::config::load_tls(&mut env).is_none());

    let text = env.finish().unwrap_err().to_string();
    assert!(
        text.contains(&files.cert.display().to_string())
            && text.contains(&files.key.display().to_string()),
        "{text}"
    );
}

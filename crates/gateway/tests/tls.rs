//! TLS termination at the gateway, with a throwaway self-signed certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::{net::SocketAddr, path::Path, process::Command, sync::Arc, time::Duration};

use gateway::Config;
use platform::config::{AuthConfig, DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use rustls_pki_types::{pem::PemObject, CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

mod support;

fn self_signed(dir: &Path) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("openssl runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[tokio::test]
async fn the_gateway_terminates_tls_offers_http2_and_sends_hsts() {
    let dir = std::env::temp_dir().join(format!("carebook-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    self_signed(&dir);
    let config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        admin_bind: None,
        internal_bind: None,
        routes: gateway::domain::routing::RouteTable::new(Vec::new()),
        upstreams: Default::default(),
        upstream: Default::default(),
        limits: Default::default(),
        auth_fallback: Duration::from_secs(300),
        openapi_refresh: Duration::from_secs(60),
        redis_url: platform::testing::redis_url(),
        redis_prefix: "carebook-test:tls:".to_owned(),
        auth: AuthConfig {
            jwks_url: "http://127.0.0.1:9/jwks".to_owned(),
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            tls: None,
            revocations: None,
            jwks: Default::default(),
        },
        trusted_proxies: Vec::new(),
        api_quota: gateway::domain::gcra::Quota {
            limit: 10,
            window_ms: 1000,
        },
        auth_quota: gateway::domain::gcra::Quota {
            limit: 10,
            window_ms: 1000,
        },
        cors_origins: Vec::new(),
        max_body_bytes: 1024,
        rate_limiting: true,
        default_timeout: Duration::from_secs(1),
        health_interval: Duration::from_secs(1),
        public_tls: Some((dir.join("cert.pem"), dir.join("key.pem"))),
        tls: None,
        docs_dir: None,
    };
    let (addr, _stop) = support::start(&config).await;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("cert.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client.clone()));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{response}"
    );

    // A client that offers h2 gets it (ALPN), and speaks HTTP/2 to the gateway.
    let mut h2_client = client;
    h2_client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(h2_client))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::get("https://localhost/healthz")
        .body(http_body_util::Empty::<axum::body::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("strict-transport-security"));

    // Plain HTTP on the TLS port gets nothing useful.
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    std::fs::remove_dir_all(&dir).unwrap();
}

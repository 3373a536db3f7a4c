//! Upstream pools: the replicas of each service, their health, and how many
//! requests each is serving. Active checks poll `/healthz`; a connection
//! failure ejects a replica at once (passive), until a check finds it healthy.
//! Also the client requests are forwarded with: over mTLS when the gateway
//! has a TLS identity.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::body::Body;
use hyper::{http::uri::Scheme, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use platform::tls::{TlsError, TlsIdentity};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::domain::balance::{choose, Candidate};

/// How requests reach the replicas.
pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, Body>;

/// The client to the replicas. With `tls`, HTTPS only: each replica's
/// certificate must come from the internal CA and carry the host of its URL
/// (`127.0.0.1` in development), and the gateway's own certificate is shown
/// (the services' ports require it). Without, plain HTTP; an `https://` URL
/// (config refuses them then) would find no CA it trusts, never plaintext.
pub fn client(tls: Option<&Arc<TlsIdentity>>) -> Result<UpstreamClient, TlsError> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(2)));
    // The TLS layer decides which schemes go through.
    http.enforce_http(false);
    let connector = match tls {
        Some(identity) => HttpsConnectorBuilder::new()
            .with_tls_config(without_alpn(identity.client_config()?))
            .https_only(),
        None => HttpsConnectorBuilder::new()
            .with_tls_config(trusting_nobody()?)
            .https_or_http(),
    }
    .enable_http1()
    .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(connector))
}

/// hyper-rustls sets ALPN from the protocols enabled on it, and panics on a
/// configuration that already names some; HTTP/1.1 is the default without.
fn without_alpn(mut config: ClientConfig) -> ClientConfig {
    config.alpn_protocols.clear();
    config
}

/// A TLS configuration no server satisfies: no trusted roots at all.
fn trusting_nobody() -> Result<ClientConfig, TlsError> {
    Ok(
        ClientConfig::builder_with_provider(platform::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Invalid(e.to_string()))?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth(),
    )
}

/// One replica of a service.
#[derive(Debug)]
pub struct Replica {
    /// `https://host:port` (`http://` when TLS is off).
    pub base: String,
    pub scheme: Scheme,
    pub authority: hyper::http::uri::Authority,
    healthy: AtomicBool,
    in_flight: AtomicUsize,
}

impl Replica {
    fn new(base: &str) -> Option<Self> {
        let uri = base.parse::<Uri>().ok()?;
        Some(Self {
            base: base.to_owned(),
            scheme: uri.scheme()?.clone(),
            authority: uri.authority()?.clone(),
            // Optimistic until the first check: a fresh gateway serves at once.
            healthy: AtomicBool::new(true),
            in_flight: AtomicUsize::new(0),
        })
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Take this replica out of rotation (a connection to it failed).
    pub fn eject(&self) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(replica = %self.base, "replica ejected");
            metrics::counter!("gateway_replica_ejections_total", "replica" => self.base.clone())
                .increment(1);
        }
    }

    fn set_healthy(&self, healthy: bool) {
        let was = self.healthy.swap(healthy, Ordering::Relaxed);
        if healthy && !was {
            tracing::info!(replica = %self.base, "replica back in rotation");
        } else if !healthy && was {
            tracing::warn!(replica = %self.base, "replica failed its health check");
        }
    }
}

/// Counts a request against a replica while it is in flight.
pub struct InFlight(pub Arc<Replica>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The replicas of one service.
#[derive(Debug)]
pub struct Pool {
    pub service: String,
    replicas: Vec<Arc<Replica>>,
    next: AtomicUsize,
}

impl Pool {
    pub fn new(service: &str, urls: &[String]) -> Self {
        Self {
            service: service.to_owned(),
            replicas: urls
                .iter()
                .filter_map(|u| Replica::new(u))
                .map(Arc::new)
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    pub fn replicas(&self) -> &[Arc<Replica>] {
        &self.replicas
    }

    pub fn has_healthy(&self) -> bool {
        self.replicas.iter().any(|r| r.is_healthy())
    }

    /// Pick a healthy replica not in `exclude`, least in flight first.
    pub fn acquire(&self, exclude: &[Arc<Replica>]) -> Option<InFlight> {
        let candidates: Vec<Candidate> = self
            .replicas
            .iter()
            .map(|r| Candidate {
                available: r.is_healthy() && !exclude.iter().any(|e| Arc::ptr_eq(e, r)),
                in_flight: r.in_flight.load(Ordering::Relaxed),
            })
            .collect();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let i = choose(&candidates, start)?;
        let replica = self.replicas[i].clone();
        replica.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(InFlight(replica))
    }

    /// Poll every replica's `/healthz` until cancelled.
    pub async fn check_health(
        self: Arc<Self>,
        client: reqwest::Client,
        every: Duration,
        cancel: platform::shutdown::CancellationToken,
    ) {
        loop {
            for replica in &self.replicas {
                let ok = client
                    .get(format!("{}/healthz", replica.base))
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                replica.set_healthy(ok);
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

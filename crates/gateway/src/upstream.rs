//! Upstream pools: the replicas of each service, their health, and how many
//! requests each is serving. Active checks poll each replica's `/readyz`
//! (rise/fall thresholds); answers of proxied requests feed passive outlier
//! ejection ([`crate::domain::outlier`]). When every replica of a pool is out,
//! all of them take traffic again (panic mode) rather than none.
//!
//! Each replica has its own client, pinned to its address: a replica found by
//! DNS is reached at its IP while TLS verifies, and the `Host` header carries,
//! the name of the URL. Idle connections to the replicas close after a few
//! seconds, before the services' own idle timeout (10 s) closes them under a
//! request. HTTP/2 is used where the replica's TLS offers it (ALPN), HTTP/1.1
//! otherwise.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex, OnceLock, RwLock,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::body::{Body, Bytes};
use http_body_util::{BodyExt, Limited};
use hyper::{
    http::uri::{Authority, Scheme},
    StatusCode, Uri,
};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{
        connect::{dns::Name, HttpConnector},
        Client, ResponseFuture,
    },
    rt::{TokioExecutor, TokioTimer},
};
use platform::tls::{TlsError, TlsIdentity};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::domain::{
    balance::{pick, Candidate, Pick},
    discovery::Target,
    outlier::{self, Change, Health, Outcome, Policy},
    retry::RetryBudget,
};

/// How requests reach one replica.
pub type UpstreamClient = Client<HttpsConnector<HttpConnector<Pinned>>, Body>;

/// Milliseconds on a monotonic clock (health and budgets only compare them).
pub(crate) fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// A "resolver" that answers every name with one address: the replica's.
#[derive(Clone, Copy, Debug)]
pub struct Pinned(IpAddr);

impl tower::Service<Name> for Pinned {
    type Response = std::iter::Once<SocketAddr>;
    type Error = io::Error;
    type Future = std::future::Ready<Result<Self::Response, io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        // The connector puts the URL's port in.
        std::future::ready(Ok(std::iter::once(SocketAddr::new(self.0, 0))))
    }
}

/// What the replicas' clients are made from.
#[derive(Clone)]
pub struct Connector {
    tls: ClientConfig,
    https_only: bool,
    idle_timeout: Duration,
}

impl Connector {
    /// With `tls`, HTTPS only: each replica's certificate must come from the
    /// internal CA and carry the host of its URL, and the gateway's own
    /// certificate is shown (the services' ports require it). Without, plain
    /// HTTP; an `https://` URL (config refuses them then) would find no CA it
    /// trusts, never plaintext.
    pub fn new(tls: Option<&Arc<TlsIdentity>>, idle_timeout: Duration) -> Result<Self, TlsError> {
        let (tls, https_only) = match tls {
            Some(identity) => (without_alpn(identity.client_config()?), true),
            None => (trusting_nobody()?, false),
        };
        Ok(Self {
            tls,
            https_only,
            idle_timeout,
        })
    }

    fn client(&self, ip: IpAddr) -> UpstreamClient {
        let mut http = HttpConnector::new_with_resolver(Pinned(ip));
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(2)));
        // The TLS layer decides which schemes go through.
        http.enforce_http(false);
        let builder = HttpsConnectorBuilder::new().with_tls_config(self.tls.clone());
        let builder = if self.https_only {
            builder.https_only()
        } else {
            builder.https_or_http()
        };
        // ALPN offers h2 and http/1.1: whichever the replica picks.
        let connector = builder.enable_all_versions().wrap_connector(http);
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(self.idle_timeout)
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(256)
            .build(connector)
    }
}

/// hyper-rustls sets ALPN from the protocols enabled on it, and panics on a
/// configuration that already names some.
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

/// One configured upstream URL: a fixed replica, or a name standing for many.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub url: String,
    pub scheme: Scheme,
    pub authority: Authority,
    pub port: u16,
    pub target: Target,
}

impl Endpoint {
    fn parse(url: &str) -> Option<Self> {
        let uri = url.parse::<Uri>().ok()?;
        let scheme = uri.scheme()?.clone();
        let authority = uri.authority()?.clone();
        let port = authority
            .port_u16()
            .unwrap_or(if scheme == Scheme::HTTPS { 443 } else { 80 });
        Some(Self {
            url: url.to_owned(),
            target: Target::of_host(authority.host()),
            scheme,
            authority,
            port,
        })
    }
}

/// One replica of a service.
#[derive(Debug)]
pub struct Replica {
    /// The URL it was configured by: `https://host:port` (`http://` when TLS is off).
    pub base: String,
    /// Where connections go.
    pub addr: IpAddr,
    /// Found by resolving the URL's name (not an IP literal).
    pub discovered: bool,
    /// Index of its URL in the pool's list.
    pub(crate) endpoint: usize,
    scheme: Scheme,
    authority: Authority,
    client: UpstreamClient,
    health: Mutex<Health>,
    in_flight: AtomicUsize,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("https_only", &self.https_only)
            .finish_non_exhaustive()
    }
}

impl Replica {
    pub(crate) fn new(
        endpoint: usize,
        spec: &Endpoint,
        addr: IpAddr,
        connector: &Connector,
    ) -> Self {
        Self {
            base: spec.url.clone(),
            addr,
            discovered: matches!(spec.target, Target::Name(_)),
            endpoint,
            scheme: spec.scheme.clone(),
            authority: spec.authority.clone(),
            client: connector.client(addr),
            health: Mutex::new(Health::new()),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// How logs and metrics name it: its URL, and the address when found by DNS.
    pub fn label(&self) -> String {
        if self.discovered {
            format!("{} ({})", self.base, self.addr)
        } else {
            self.base.clone()
        }
    }

    /// `path_and_query` on this replica (by its URL's name).
    pub fn uri(&self, path_and_query: &str) -> Option<Uri> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .ok()
    }

    /// Send a request to this replica.
    pub fn request(&self, request: hyper::Request<Body>) -> ResponseFuture {
        self.client.request(request)
    }

    pub fn health(&self) -> Health {
        *self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_available(&self) -> bool {
        self.health().is_available(now_ms())
    }

    /// GET `path`: its status and at most `limit` bytes of body, within `timeout`.
    pub async fn fetch(
        &self,
        path: &str,
        timeout: Duration,
        limit: usize,
    ) -> Option<(StatusCode, Bytes)> {
        let request = hyper::Request::get(self.uri(path)?)
            .body(Body::empty())
            .ok()?;
        let fetched = async {
            let response = self.request(request).await.ok()?;
            let status = response.status();
            let body = Limited::new(response.into_body(), limit)
                .collect()
                .await
                .ok()?
                .to_bytes();
            Some((status, body))
        };
        tokio::time::timeout(timeout, fetched).await.ok().flatten()
    }

    fn update(&self, service: &str, f: impl FnOnce(Health) -> (Health, Change)) {
        let change = {
            let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
            let (next, change) = f(*health);
            *health = next;
            change
        };
        let replica = self.label();
        match change {
            Change::None => {}
            Change::Ready => tracing::info!(%service, %replica, "replica ready: back in rotation"),
            Change::Unready => {
                tracing::warn!(%service, %replica, "replica failed its readiness checks")
            }
            Change::Refused => {
                tracing::warn!(%service, %replica, "replica refused a connection: out of rotation until its checks pass")
            }
            Change::Ejected { for_ms } => {
                tracing::warn!(%service, %replica, seconds = for_ms / 1000, "replica ejected after consecutive failures");
                metrics::counter!("gateway_replica_ejections_total", "service" => service.to_owned())
                    .increment(1);
            }
        }
    }
}

/// A request counted against a replica (and its pool) while it waits for the
/// replica's answer.
pub struct InFlight {
    pool: Arc<Pool>,
    replica: Arc<Replica>,
}

impl InFlight {
    pub fn replica(&self) -> &Arc<Replica> {
        &self.replica
    }

    /// Feed the request's outcome to passive outlier detection.
    pub fn observe(&self, outcome: Outcome) {
        self.pool.observe(&self.replica, outcome);
    }

    /// The replica refused the connection: out of rotation until its checks pass.
    pub fn refused(&self) {
        self.replica.update(&self.pool.service, |h| h.refused());
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.replica.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.pool.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A pool's state for `/readyz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PoolStatus {
    /// Ready and not ejected.
    pub healthy: usize,
    pub ejected: usize,
    pub replicas: usize,
    /// No replica is available, so all take traffic.
    pub panic: bool,
}

/// The replicas of one service.
#[derive(Debug)]
pub struct Pool {
    pub service: String,
    pub(crate) endpoints: Vec<Endpoint>,
    pub(crate) replicas: RwLock<Arc<Vec<Arc<Replica>>>>,
    pub(crate) connector: Connector,
    policy: Policy,
    next: AtomicUsize,
    in_flight: AtomicUsize,
    budget: Mutex<RetryBudget>,
    panicking: AtomicBool,
}

impl Pool {
    /// A pool of `urls`: IP literals are replicas at once; names get theirs
    /// when resolved ([`Pool::discover`]).
    pub fn new(service: &str, urls: &[String], connector: Connector, policy: Policy) -> Self {
        let endpoints: Vec<Endpoint> = urls.iter().filter_map(|u| Endpoint::parse(u)).collect();
        let replicas = endpoints
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e.target {
                Target::Literal(ip) => Some(Arc::new(Replica::new(i, e, ip, &connector))),
                Target::Name(_) => None,
            })
            .collect();
        Self {
            service: service.to_owned(),
            endpoints,
            replicas: RwLock::new(Arc::new(replicas)),
            connector,
            policy,
            next: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            budget: Mutex::new(RetryBudget::default()),
            panicking: AtomicBool::new(false),
        }
    }

    /// The replicas now (new requests go only to these; a replica that left
    /// lives on while requests to it are in flight).
    pub fn replicas(&self) -> Arc<Vec<Arc<Replica>>> {
        self.replicas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_replicas(&self, replicas: Vec<Arc<Replica>>) {
        *self.replicas.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(replicas);
    }

    /// Requests waiting on this pool's replicas.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> PoolStatus {
        let now = now_ms();
        let replicas = self.replicas();
        let health: Vec<Health> = replicas.iter().map(|r| r.health()).collect();
        let healthy = health.iter().filter(|h| h.is_available(now)).count();
        PoolStatus {
            healthy,
            ejected: health.iter().filter(|h| h.is_ejected(now)).count(),
            replicas: replicas.len(),
            panic: healthy == 0 && !replicas.is_empty(),
        }
    }

    /// Pick a replica not in `exclude`, least in flight first; with no
    /// replica available, any (panic mode).
    pub fn acquire(self: &Arc<Self>, exclude: &[Arc<Replica>]) -> Option<InFlight> {
        let now = now_ms();
        let replicas = self.replicas();
        let candidates: Vec<Candidate> = replicas
            .iter()
            .map(|r| Candidate {
                available: r.health().is_available(now),
                excluded: exclude.iter().any(|e| Arc::ptr_eq(e, r)),
                in_flight: r.in_flight.load(Ordering::Relaxed),
            })
            .collect();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let chosen = pick(&candidates, start)?;
        match chosen {
            Pick::Panic(_) => {
                if !self.panicking.swap(true, Ordering::Relaxed) {
                    tracing::error!(service = %self.service, "no replica is healthy: routing to all of them (panic mode)");
                }
                metrics::counter!("gateway_panic_routed_total", "service" => self.service.clone())
                    .increment(1);
            }
            Pick::Healthy(_) => {
                if self.panicking.swap(false, Ordering::Relaxed) {
                    tracing::info!(service = %self.service, "a replica is healthy again: panic mode over");
                }
            }
        }
        let replica = replicas[chosen.index()].clone();
        replica.in_flight.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            pool: self.clone(),
            replica,
        })
    }

    fn observe(&self, replica: &Arc<Replica>, outcome: Outcome) {
        let now = now_ms();
        let replicas = self.replicas();
        let ejected = replicas
            .iter()
            .filter(|r| !Arc::ptr_eq(r, replica) && r.health().is_ejected(now))
            .count();
        let may = outlier::may_eject(ejected, replicas.len(), self.policy.max_ejection_percent);
        let policy = self.policy;
        replica.update(&self.service, |h| h.observe(outcome, now, may, &policy));
    }

    /// Count one proxied request towards the retry budget.
    pub fn count_request(&self) {
        self.budget
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .request(now_ms());
    }

    /// Whether a retry fits the budget (counted if so).
    pub fn try_retry(&self) -> bool {
        self.budget
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_retry(now_ms())
    }

    /// Check every replica's `/readyz` every `every` until cancelled.
    pub async fn check_health(
        self: Arc<Self>,
        every: Duration,
        cancel: platform::shutdown::CancellationToken,
    ) {
        let policy = self.policy;
        loop {
            let replicas = self.replicas();
            let service = self.service.as_str();
            let checks = replicas.iter().map(|replica| async move {
                let passed = replica
                    .fetch("/readyz", Duration::from_secs(1), 64 * 1024)
                    .await
                    .is_some_and(|(status, _)| status.is_success());
                replica.update(service, |h| h.check(passed, &policy));
            });
            futures_util::future::join_all(checks).await;
            let status = self.status();
            metrics::gauge!("gateway_upstream_replicas", "service" => self.service.clone(), "state" => "healthy")
                .set(status.healthy as f64);
            metrics::gauge!("gateway_upstream_replicas", "service" => self.service.clone(), "state" => "all")
                .set(status.replicas as f64);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

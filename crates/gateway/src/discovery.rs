//! Endpoint discovery: an upstream URL whose host is a name (a Kubernetes
//! headless Service, `https://scheduling.carebook.svc:8083`) is resolved every
//! `GATEWAY_DNS_REFRESH_MS` to all its A/AAAA records, each one a replica.
//! Replicas that appear join the pool; replicas that disappear get no new
//! requests, and the ones in flight finish on the connection they have.

use std::{future::Future, io, net::IpAddr, pin::Pin, sync::Arc, time::Duration};

use crate::{
    domain::discovery::{reconcile, Target},
    upstream::{Pool, Replica},
};

/// How long one resolution may take before the previous answer stands.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// A resolution in progress.
pub type Resolving<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Turns an upstream's host name into the addresses of its replicas. The
/// system resolver in production; tests give a name the addresses they want.
pub trait Resolve: Send + Sync + 'static {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> Resolving<'a>;
}

/// `getaddrinfo`, as every other client of the process resolves (and so
/// `/etc/hosts` and the cluster's search domains apply).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> Resolving<'a> {
        Box::pin(async move {
            let mut ips: Vec<IpAddr> = tokio::net::lookup_host((host, port))
                .await?
                .map(|addr| addr.ip())
                .collect();
            ips.sort();
            ips.dedup();
            Ok(ips)
        })
    }
}

impl Pool {
    /// Whether any of its URLs is a name to follow.
    pub fn has_names(&self) -> bool {
        self.endpoints
            .iter()
            .any(|e| matches!(e.target, Target::Name(_)))
    }

    /// Resolve every name once and reconcile the replicas with the answers.
    /// A failed or empty answer keeps the replicas of that name as they are.
    pub async fn discover(&self, resolver: &dyn Resolve) {
        let mut replicas: Vec<Arc<Replica>> = self.replicas().as_ref().clone();
        let mut changed = false;
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            let Target::Name(host) = &endpoint.target else {
                continue;
            };
            let answer =
                tokio::time::timeout(RESOLVE_TIMEOUT, resolver.resolve(host, endpoint.port)).await;
            let resolved = match answer {
                Ok(Ok(ips)) if !ips.is_empty() => ips,
                Ok(Ok(_)) => {
                    tracing::warn!(service = %self.service, %host, "no address for the upstream name; keeping its replicas");
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::warn!(service = %self.service, %host, error = %e, "resolving the upstream failed; keeping its replicas");
                    continue;
                }
                Err(_) => {
                    tracing::warn!(service = %self.service, %host, "resolving the upstream timed out; keeping its replicas");
                    continue;
                }
            };
            let current: Vec<IpAddr> = replicas
                .iter()
                .filter(|r| r.endpoint == i)
                .map(|r| r.addr)
                .collect();
            let change = reconcile(&current, &resolved);
            if change.is_empty() {
                continue;
            }
            changed = true;
            replicas.retain(|r| {
                let leaves = r.endpoint == i && change.left.contains(&r.addr);
                if leaves {
                    tracing::info!(service = %self.service, replica = %r.label(), "replica left DNS: draining");
                    metrics::counter!("gateway_replica_changes_total", "service" => self.service.clone(), "change" => "left")
                        .increment(1);
                }
                !leaves
            });
            for ip in change.joined {
                let replica = Replica::new(i, endpoint, ip, &self.connector);
                tracing::info!(service = %self.service, replica = %replica.label(), "replica joined");
                metrics::counter!("gateway_replica_changes_total", "service" => self.service.clone(), "change" => "joined")
                    .increment(1);
                replicas.push(Arc::new(replica));
            }
        }
        if changed {
            self.set_replicas(replicas);
        }
    }

    /// Re-resolve the pool's names every `every` until cancelled.
    pub async fn follow_dns(
        self: Arc<Self>,
        resolver: Arc<dyn Resolve>,
        every: Duration,
        cancel: platform::shutdown::CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            self.discover(resolver.as_ref()).await;
        }
    }
}

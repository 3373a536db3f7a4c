//! Upstream pools: the replicas of each service, their health, and how many
//! requests each is serving. Active checks poll `/healthz`; a connection
//! failure ejects a replica at once (passive), until a check finds it healthy.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use hyper::Uri;

use crate::domain::balance::{choose, Candidate};

/// One replica of a service.
#[derive(Debug)]
pub struct Replica {
    /// `http://host:port`.
    pub base: String,
    pub authority: hyper::http::uri::Authority,
    healthy: AtomicBool,
    in_flight: AtomicUsize,
}

impl Replica {
    fn new(base: &str) -> Option<Self> {
        let authority = base.parse::<Uri>().ok()?.authority()?.clone();
        Some(Self {
            base: base.to_owned(),
            authority,
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

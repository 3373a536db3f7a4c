//! Running a service: its router plus the background workers (outbox relay,
//! consumers) that live and stop with it.

use std::{future::Future, net::SocketAddr, pin::Pin, time::Duration};

use axum::Router;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

type Worker = Box<dyn FnOnce(CancellationToken) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A built service, ready to serve.
pub struct Service {
    pub name: &'static str,
    pub router: Router,
    workers: Vec<Worker>,
    /// Closed last, after the workers stopped, so no message is cut off mid-flight.
    broker: Option<crate::events::Broker>,
    tls: Option<crate::tls::ServerTls>,
}

/// How long workers get to finish the message in hand after the server stopped.
const WORKER_GRACE: Duration = Duration::from_secs(10);

impl Service {
    pub fn new(name: &'static str, router: Router) -> Self {
        Self {
            name,
            router,
            workers: Vec::new(),
            broker: None,
            tls: None,
        }
    }

    /// Terminate TLS on this service's port.
    pub fn with_tls(mut self, tls: crate::tls::ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Serve only to clients with a certificate from the internal CA (mTLS),
    /// when this process has a TLS identity; also watch its files for renewal.
    pub fn secured(self, tls: Option<&std::sync::Arc<crate::tls::TlsIdentity>>) -> Self {
        match tls {
            Some(identity) => {
                let watched = identity.clone();
                self.with_tls(crate::tls::ServerTls::Mutual(identity.clone()))
                    .with_worker(move |cancel| watched.watch(cancel))
            }
            None => self,
        }
    }

    /// The broker connection to close cleanly on shutdown.
    pub fn with_broker(mut self, broker: crate::events::Broker) -> Self {
        self.broker = Some(broker);
        self
    }

    /// Add a background worker; it must return once the token is cancelled.
    pub fn with_worker<F, Fut>(mut self, worker: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.workers
            .push(Box::new(move |token| Box::pin(worker(token))));
        self
    }

    /// Serve on `listener` until `cancel`: stop accepting, drain requests, then
    /// let workers finish their current message.
    ///
    /// A worker that panics stops the whole service with an error: a replica
    /// that answers HTTP but no longer relays or consumes would hold up work
    /// silently, while a process that exits is restarted by whatever supervises
    /// it. A worker may also return early when its job is done (a cache that
    /// connected).
    pub async fn run(
        self,
        listener: TcpListener,
        cancel: CancellationToken,
    ) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        tracing::info!(service = self.name, %addr, "listening");
        let mut workers = JoinSet::new();
        for worker in self.workers {
            workers.spawn(worker(cancel.clone()));
        }
        let serve = crate::http::serve_with_tls(listener, self.router, cancel.clone(), self.tls);
        tokio::pin!(serve);
        let mut worker_died = false;
        let served = loop {
            tokio::select! {
                served = &mut serve => break served,
                Some(Err(ended)) = workers.join_next(), if !worker_died => {
                    if ended.is_panic() {
                        tracing::error!(service = self.name, "a background worker panicked; stopping the service");
                        worker_died = true;
                        cancel.cancel();
                    }
                }
            }
        };
        cancel.cancel();
        let drain = async { while workers.join_next().await.is_some() {} };
        if tokio::time::timeout(WORKER_GRACE, drain).await.is_err() {
            tracing::warn!(service = self.name, "workers did not stop in time");
        }
        if let Some(broker) = &self.broker {
            broker.close().await;
        }
        tracing::info!(service = self.name, "stopped");
        if worker_died {
            return Err(std::io::Error::other("a background worker panicked"));
        }
        served
    }

    /// Bind `addr` and run.
    pub async fn bind_and_run(
        self,
        addr: SocketAddr,
        cancel: CancellationToken,
    ) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        self.run(listener, cancel).await
    }
}

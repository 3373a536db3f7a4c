//! The gateway's listeners: HTTP/1.1 and HTTP/2 on every port (ALPN `h2`
//! under TLS; prior knowledge, h2c, on plain ports), WebSocket upgrades, a cap
//! on open connections (excess ones are closed at once), and the slow-client
//! limits: the first bytes and the request head must arrive within the header
//! read timeout (request bodies have their own, in the proxy). Graceful: on
//! shutdown it stops accepting and lets requests in flight finish.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::Router;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use platform::{shutdown::CancellationToken, tls::ServerTls};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpListener,
    sync::Semaphore,
    time::Sleep,
};
use tokio_rustls::TlsAcceptor;
use tower::Service as _;

/// Request line plus headers, at most (larger ones get 431).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may take to finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Streams one HTTP/2 connection may have open at once.
const MAX_STREAMS: u32 = 256;
/// HTTP/2 pings find dead peers on idle connections.
const H2_KEEPALIVE: Duration = Duration::from_secs(30);
const H2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// The HTTP/2 connection preface; a connection starting otherwise is HTTP/1.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How one listener treats its connections.
#[derive(Clone)]
pub struct Listening {
    /// TLS terminated here, if any (ALPN offers h2 and http/1.1).
    pub tls: Option<ServerTls>,
    /// Open connections, when capped (shared by the listeners it covers).
    pub connections: Option<Arc<Semaphore>>,
    pub header_read_timeout: Duration,
}

/// The public edge's TLS from PEM files, offering HTTP/2 and HTTP/1.1.
pub fn public_tls(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor, String> {
    let acceptor = platform::http::tls_acceptor(cert, key)?;
    Ok(with_h2(acceptor.config()))
}

fn with_h2(config: &Arc<tokio_rustls::rustls::ServerConfig>) -> TlsAcceptor {
    let mut config = config.as_ref().clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

/// The acceptor for the next connection: a renewed certificate applies to it.
fn acceptor(tls: &ServerTls) -> TlsAcceptor {
    match tls {
        ServerTls::Fixed(acceptor) => acceptor.clone(),
        // The platform's mTLS configuration names http/1.1 only.
        ServerTls::Mutual(identity) => with_h2(&identity.server_config()),
    }
}

/// Serve `router` on `listener` until `cancel`, then drain.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    cancel: CancellationToken,
    listening: Listening,
) -> io::Result<()> {
    // Peer addresses reach handlers (the gateway keys rate limits on them).
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = match &listening.connections {
            None => None,
            Some(open) => match open.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    // Closed before a byte is read: cheap for us, clear to the client.
                    metrics::counter!("gateway_connections_refused_total").increment(1);
                    drop(stream);
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = match make_service.call(peer).await {
            Ok(s) => s,
            Err(never) => match never {},
        };
        let service = TowerToHyperService::new(service);
        let watcher = graceful.watcher();
        let acceptor = listening.tls.as_ref().map(acceptor);
        let header_timeout = listening.header_read_timeout;
        // The handshake runs on the connection's own task: a slow client never
        // holds up the accept loop.
        tokio::spawn(async move {
            let _permit = permit;
            metrics::gauge!("gateway_open_connections").increment(1.0);
            let result = match acceptor {
                None => {
                    let io = TokioIo::new(FirstBytes::new(stream, header_timeout));
                    let http = builder(header_timeout);
                    watcher
                        .watch(http.serve_connection_with_upgrades(io, service))
                        .await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => {
                            let io = TokioIo::new(FirstBytes::new(tls, header_timeout));
                            let http = builder(header_timeout);
                            watcher
                                .watch(http.serve_connection_with_upgrades(io, service))
                                .await
                        }
                        Ok(Err(e)) => {
                            // A client without a certificate from our CA ends here.
                            tracing::debug!(error = %e, "TLS handshake failed");
                            metrics::counter!("tls_handshake_failures_total").increment(1);
                            Ok(())
                        }
                        Err(_) => Ok(()),
                    }
                }
            };
            metrics::gauge!("gateway_open_connections").decrement(1.0);
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish before the drain timeout");
    }
    Ok(())
}

/// HTTP/1.1 or HTTP/2, whichever the connection starts with.
fn builder(header_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .keep_alive_interval(H2_KEEPALIVE)
        .keep_alive_timeout(H2_KEEPALIVE_TIMEOUT);
    builder
}

/// Reads that must start within a deadline: until the connection shows which
/// HTTP version it speaks (the HTTP/2 preface, or a byte that departs from
/// it), a read past the deadline fails. From there on, HTTP/1's own header
/// read timeout and HTTP/2's pings take over.
struct FirstBytes<I> {
    io: I,
    /// Bytes of the preface matched so far.
    matched: usize,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<I> FirstBytes<I> {
    fn new(io: I, within: Duration) -> Self {
        Self {
            io,
            matched: 0,
            deadline: Some(Box::pin(tokio::time::sleep(within))),
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for FirstBytes<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(deadline) = this.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no request within the header read timeout",
                )));
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if this.deadline.is_some() {
            for byte in &buf.filled()[before..] {
                if H2_PREFACE.get(this.matched) == Some(byte) {
                    this.matched += 1;
                } else {
                    // HTTP/1: decided.
                    this.deadline = None;
                    break;
                }
            }
            if this.matched >= H2_PREFACE.len() {
                this.deadline = None;
            }
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for FirstBytes<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

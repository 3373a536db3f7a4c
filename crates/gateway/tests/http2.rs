//! The protocols the gateway speaks with clients: HTTP/2 with prior knowledge
//! (h2c) on its plain port, and WebSocket upgrades passed through as tunnels.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use axum::body::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{body::Incoming, header, Request, Response, StatusCode, Version};
use hyper_util::{
    client::legacy::Client,
    rt::{TokioExecutor, TokioIo},
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;
use support::{config, start, Upstream};

#[tokio::test]
async fn clients_with_prior_knowledge_are_answered_over_http2() {
    let echo = Upstream::start("echo").await;
    let (gw, _stop) = start(&config(
        &["/api/v1/echo=echo:public"],
        &[("echo", vec![echo.url()])],
    ))
    .await;
    // What `curl --http2-prior-knowledge http://…/healthz` does.
    let h2c: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let r = h2c
        .get(format!("http://{gw}/healthz").parse().unwrap())
        .await
        .unwrap();
    assert_eq!((r.version(), r.status()), (Version::HTTP_2, StatusCode::OK));
    let live: Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(live["status"], "ok");

    // Proxied on over HTTP/1.1, all the service speaks, by its name.
    let r = h2c
        .get(format!("http://{gw}/api/v1/echo/x").parse().unwrap())
        .await
        .unwrap();
    assert_eq!((r.version(), r.status()), (Version::HTTP_2, StatusCode::OK));
    let body: Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["version"], "HTTP/1.1");
    assert_eq!(body["host"], echo.addr.to_string());
}

/// A WebSocket-ish upstream: switches protocols on `Upgrade`, then sends back
/// every byte it gets; plain requests (readiness) get 200.
async fn upgrading_echo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = hyper::service::service_fn(|mut req: Request<Incoming>| async move {
                if !req.headers().contains_key(header::UPGRADE) {
                    return Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()));
                }
                let upgrade = hyper::upgrade::on(&mut req);
                tokio::spawn(async move {
                    let upgraded = TokioIo::new(upgrade.await.unwrap());
                    let (mut read, mut write) = tokio::io::split(upgraded);
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
                let mut response = Response::new(Empty::<Bytes>::new());
                *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                response
                    .headers_mut()
                    .insert(header::UPGRADE, "websocket".parse().unwrap());
                response
                    .headers_mut()
                    .insert(header::CONNECTION, "upgrade".parse().unwrap());
                Ok(response)
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    addr
}

#[tokio::test]
async fn websocket_upgrades_become_a_tunnel_to_the_replica() {
    let upstream = upgrading_echo().await;
    let (gw, _stop) = start(&config(
        &["/ws=chat:public"],
        &[("chat", vec![format!("http://{upstream}")])],
    ))
    .await;

    let mut conn = tokio::net::TcpStream::connect(gw).await.unwrap();
    conn.write_all(
        b"GET /ws/room HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "closed early: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");

    for message in [&b"hello through the gateway"[..], b"and again"] {
        conn.write_all(message).await.unwrap();
        let mut echoed = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(5), conn.read_exact(&mut echoed))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(echoed, message);
    }
}

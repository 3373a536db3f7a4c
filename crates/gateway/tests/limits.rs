//! What the gateway refuses to hold on to: slow request bodies, oversized
//! bodies and unlisted methods per route, connections beyond its cap,
//! requests beyond an upstream's concurrency cap, floods of bad tokens; and
//! how it keys clients (IPv6 per /64) and caches the OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::{
    net::SocketAddr,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use gateway::domain::gcra::Quota;
use platform::testing::{assert_problem, eventually};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

mod support;
use support::{config, start, Upstream};

/// Send `head`, then the body one byte a second; what the gateway answers
/// (everything until it closes the connection, or 6 s) and when.
async fn trickle(gw: SocketAddr, head: &str, body: &'static [u8]) -> (String, Duration) {
    let stream = TcpStream::connect(gw).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        for byte in body {
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(6), read.read_to_end(&mut answer)).await;
    let took = started.elapsed();
    writer.abort();
    (String::from_utf8_lossy(&answer).into_owned(), took)
}

#[tokio::test]
async fn a_client_sending_its_body_a_byte_a_second_is_cut_off_within_the_body_timeout() {
    let echo = Upstream::start("echo").await;
    let mut cfg = config(&["/api/v1/echo=echo:public"], &[("echo", vec![echo.url()])]);
    cfg.limits.body_read_timeout = Duration::from_millis(1500);
    let (gw, _stop) = start(&cfg).await;

    // A body small enough to be read whole before it is sent on...
    let head = "POST /api/v1/echo/x HTTP/1.1\r\nHost: gw\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n";
    let (answer, took) = trickle(gw, head, &[b'x'; 100]).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("https://carebook.dev/problems/request-timeout"),
        "{answer}"
    );
    assert!(took < Duration::from_millis(3000), "cut off after {took:?}");
    assert_eq!(echo.hits(), 0, "nothing reached the service");

    // ...and one streamed to the service as it comes (chunked).
    let head = "POST /api/v1/echo/x HTTP/1.1\r\nHost: gw\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (answer, took) = trickle(
        gw,
        head,
        b"1\r\nx\r\n1\r\nx\r\n1\r\nx\r\n1\r\nx\r\n1\r\nx\r\n0\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < Duration::from_millis(3000), "cut off after {took:?}");

    // A body that arrives in time goes through.
    let r = reqwest::Client::new()
        .post(format!("http://{gw}/api/v1/echo/x"))
        .body("on time")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["body_bytes"], 7);
}

#[tokio::test]
async fn a_client_that_stalls_before_its_request_head_is_complete_is_cut_off() {
    let mut cfg = config(&[], &[]);
    cfg.limits.header_read_timeout = Duration::from_secs(1);
    let (gw, _stop) = start(&cfg).await;
    for (what, sent) in [
        ("nothing", &b""[..]),
        ("part of the HTTP/2 preface", b"PRI * HTTP/2.0\r\n"),
        (
            "part of an HTTP/1.1 head",
            b"GET /healthz HTTP/1.1\r\nHost: gw\r\n",
        ),
    ] {
        let mut conn = TcpStream::connect(gw).await.unwrap();
        conn.write_all(sent).await.unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut answer)).await;
        assert!(closed.is_ok(), "{what}: still open");
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "{what}: closed after {:?}",
            started.elapsed()
        );
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{what}: {answer}"
        );
    }
}

#[tokio::test]
async fn routes_limit_their_body_size_and_methods() {
    let echo = Upstream::start("echo").await;
    let cfg = config(
        &[
            "/api/v1/echo=echo:public",
            "/api/v1/echo/small=echo:public:max_body=10:methods=GET,POST",
        ],
        &[("echo", vec![echo.url()])],
    );
    let (gw, _stop) = start(&cfg).await;
    let http = reqwest::Client::new();
    let url = format!("http://{gw}/api/v1/echo/small");

    let r = http.post(&url).body("0123456789").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http.post(&url).body("0123456789+").send().await.unwrap();
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
    let r = http.put(&url).body("{}").send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET, POST, HEAD");
    assert_problem(r, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
    assert_eq!(
        http.head(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    // Other routes keep the gateway's defaults.
    let r = http
        .put(format!("http://{gw}/api/v1/echo/other"))
        .body("x".repeat(1000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(echo.hits(), 4, "refused requests never reached the service");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let echo = Upstream::start("echo").await;
    let mut cfg = config(&["/api/v1/echo=echo:public"], &[("echo", vec![echo.url()])]);
    cfg.limits.max_connections = 2;
    let (gw, _stop) = start(&cfg).await;

    let first = TcpStream::connect(gw).await.unwrap();
    let _second = TcpStream::connect(gw).await.unwrap();
    let mut third = TcpStream::connect(gw).await.unwrap();
    let started = Instant::now();
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), third.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the excess connection was not closed");
    assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
    assert!(started.elapsed() < Duration::from_secs(1));

    // A freed slot takes the next connection.
    drop(first);
    eventually(
        Duration::from_secs(3),
        "a connection to be served",
        || async {
            let r = reqwest::get(format!("http://{gw}/healthz")).await.ok()?;
            (r.status() == StatusCode::OK).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn requests_beyond_an_upstreams_concurrency_cap_get_503_with_retry_after() {
    let echo = Upstream::start("echo").await;
    let mut cfg = config(&["/api/v1/echo=echo:public"], &[("echo", vec![echo.url()])]);
    cfg.upstream.max_in_flight = 2;
    let (gw, _stop) = start(&cfg).await;

    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(reqwest::get(format!("http://{gw}/api/v1/echo/slow"))))
        .collect();
    eventually(
        Duration::from_secs(2),
        "both slow requests upstream",
        || async { (echo.hits() == 2).then_some(()) },
    )
    .await;
    let r = reqwest::get(format!("http://{gw}/api/v1/echo/x"))
        .await
        .unwrap();
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "upstream-overloaded").await;
    for request in slow {
        assert_eq!(request.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    let r = reqwest::get(format!("http://{gw}/api/v1/echo/x"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "room again once they finished");
}

#[tokio::test]
async fn bad_tokens_count_against_the_clients_address() {
    let echo = Upstream::start("echo").await;
    let mut cfg = config(&["/api/v1/echo=echo"], &[("echo", vec![echo.url()])]);
    cfg.api_quota = Quota {
        limit: 3,
        window_ms: 60_000,
    };
    cfg.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let (gw, _stop) = start(&cfg).await;
    let http = reqwest::Client::new();
    let from = |ip: &'static str, token: Option<&'static str>| {
        let mut r = http
            .get(format!("http://{gw}/api/v1/echo/x"))
            .header("x-forwarded-for", ip);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    let mut statuses = Vec::new();
    for token in [Some("garbage"), Some("not.a.jwt"), None, Some("garbage")] {
        statuses.push(from("198.51.100.7", token).await);
    }
    assert_eq!(statuses, [401, 401, 401, 429], "like anonymous traffic");
    assert_eq!(from("198.51.100.7", Some("garbage")).await, 429);
    assert_eq!(
        from("198.51.100.8", Some("garbage")).await,
        401,
        "another address"
    );
    assert_eq!(echo.hits(), 0);
}

/// Sign-ins through the portal, as its API client sends them: the chain it
/// received (the browser, as the gateway named it on the way in) plus its
/// own peer (the gateway); answered statuses per browser.
async fn portal_sign_ins(trusted: &[&str], browsers: &[&'static str]) -> Vec<u16> {
    let identity = Upstream::start("identity").await;
    let mut cfg = config(
        &["/api/v1/auth=identity"],
        &[("identity", vec![identity.url()])],
    );
    cfg.auth_quota = Quota {
        limit: 2,
        window_ms: 60_000,
    };
    cfg.trusted_proxies = trusted.iter().map(|n| n.parse().unwrap()).collect();
    let (gw, _stop) = start(&cfg).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for browser in browsers {
        let r = http
            .post(format!("http://{gw}/api/v1/auth/login"))
            .header("x-forwarded-for", format!("{browser}, 127.0.0.1"))
            .json(&serde_json::json!({"email": "p@example.org", "password": "x"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn browsers_behind_a_trusted_portal_each_get_their_own_sign_in_quota() {
    let statuses = portal_sign_ins(
        &["127.0.0.0/8"],
        &[
            "198.51.100.1",
            "198.51.100.1",
            "198.51.100.1",
            "198.51.100.2",
        ],
    )
    .await;
    assert_eq!(statuses, [200, 200, 429, 200]);
}

#[tokio::test]
async fn a_portal_that_is_not_a_trusted_proxy_shares_one_sign_in_quota() {
    let statuses = portal_sign_ins(&[], &["198.51.100.1", "198.51.100.2", "198.51.100.3"]).await;
    assert_eq!(
        statuses,
        [200, 200, 429],
        "the forwarded address is ignored"
    );
}

#[tokio::test]
async fn ipv6_clients_share_a_limit_per_64() {
    let echo = Upstream::start("echo").await;
    let mut cfg = config(&["/api/v1/echo=echo:public"], &[("echo", vec![echo.url()])]);
    cfg.api_quota = Quota {
        limit: 3,
        window_ms: 60_000,
    };
    cfg.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let (gw, _stop) = start(&cfg).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for ip in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:ffff:ffff:ffff:3",
        "2001:db8:1:2::4",
        "2001:db8:1:3::1",
    ] {
        let r = http
            .get(format!("http://{gw}/api/v1/echo/x"))
            .header("x-forwarded-for", ip)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 200]);
}

#[tokio::test]
async fn the_openapi_document_is_served_from_a_cache_and_outlives_its_source() {
    let echo = Upstream::start("echo").await;
    let cfg = config(&["/api/v1/echo=echo:public"], &[("echo", vec![echo.url()])]);
    let (gw, _stop) = start(&cfg).await;
    for _ in 0..5 {
        let doc: Value = reqwest::get(format!("http://{gw}/openapi.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            doc["paths"]["/api/v1/echo/things"]["get"].is_object(),
            "{doc}"
        );
    }
    assert_eq!(
        echo.openapi_hits.load(Ordering::SeqCst),
        1,
        "fetched once, at start"
    );

    echo.stop();
    let doc: Value = reqwest::get(format!("http://{gw}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["paths"]["/api/v1/echo/things"].is_object(),
        "stale beats none"
    );
}

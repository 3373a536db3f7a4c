//! How the gateway keeps routing while replicas come, go and fail: endpoint
//! discovery by DNS, readiness checks, passive outlier ejection, panic mode,
//! and safe retries within a budget. Small upstreams stand in for services.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::{
    collections::HashSet,
    net::{IpAddr, SocketAddr},
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use platform::testing::eventually;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;
use support::{config, pool, start, start_with, FakeDns, Upstream};

const ECHO: &[&str] = &["/api/v1/echo=echo:public"];

async fn get(gw: SocketAddr, path: &str) -> (StatusCode, Value) {
    let r = reqwest::get(format!("http://{gw}{path}")).await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn urls(upstreams: &[&Upstream]) -> Vec<String> {
    upstreams.iter().map(|u| u.url()).collect()
}

#[tokio::test]
async fn replicas_behind_a_name_follow_its_addresses_and_leavers_finish_their_requests() {
    let replicas = Upstream::on_one_port(&["a", "b", "c"]).await;
    let (a, b, c) = (&replicas[0], &replicas[1], &replicas[2]);
    let port = a.port();
    let dns = Arc::new(FakeDns::default());
    dns.set("echo.test", &["127.0.0.1", "127.0.0.2"]);
    let cfg = config(ECHO, &[("echo", vec![format!("http://echo.test:{port}")])]);
    let (gw, _stop) = start_with(&cfg, dns.clone()).await;

    // Each address is a replica; each is asked by the name.
    let mut seen = HashSet::new();
    for _ in 0..10 {
        let (status, body) = get(gw, "/api/v1/echo/x").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["host"], format!("echo.test:{port}"));
        seen.insert(body["replica"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, HashSet::from(["a".to_owned(), "b".to_owned()]));
    assert_eq!(pool(gw, "echo").await["replicas"], 2);

    // A slow request is in flight on one of them when its address leaves DNS
    // (and c's appears): it still finishes there, without an error.
    let (before_a, before_b) = (a.hits(), b.hits());
    let slow = tokio::spawn(get(gw, "/api/v1/echo/slow"));
    eventually(
        Duration::from_secs(2),
        "the slow request to arrive",
        || async { (a.hits() + b.hits() > before_a + before_b).then_some(()) },
    )
    .await;
    let (leaving, staying, staying_ip) = if a.hits() > before_a {
        (a, b, "127.0.0.2")
    } else {
        (b, a, "127.0.0.1")
    };
    dns.set("echo.test", &[staying_ip, "127.0.0.3"]);
    eventually(Duration::from_secs(3), "c to join", || async {
        let (_, body) = get(gw, "/api/v1/echo/x").await;
        (body["replica"] == "c").then_some(())
    })
    .await;
    let (status, body) = slow.await.unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "the drained replica finished its request"
    );
    assert_eq!(body["replica"], leaving.name);

    let left_hits = leaving.hits();
    let mut seen = HashSet::new();
    for _ in 0..12 {
        let (status, body) = get(gw, "/api/v1/echo/x").await;
        assert_eq!(status, StatusCode::OK);
        seen.insert(body["replica"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        seen,
        HashSet::from([staying.name.to_owned(), "c".to_owned()])
    );
    assert_eq!(
        leaving.hits(),
        left_hits,
        "no new request reached the replica that left"
    );
    assert_eq!(pool(gw, "echo").await["replicas"], 2);
    assert!(c.hits() > 0);

    // A resolver failure keeps the replicas there are.
    dns.remove("echo.test");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pool(gw, "echo").await["replicas"], 2);
    assert_eq!(get(gw, "/api/v1/echo/x").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_system_resolver_makes_a_replica_of_every_address_of_a_name() {
    // `localhost` is 127.0.0.1, and ::1 too where the hosts file says so.
    let mut ips: Vec<IpAddr> = tokio::net::lookup_host(("localhost", 0))
        .await
        .unwrap()
        .map(|a| a.ip())
        .collect();
    ips.sort();
    ips.dedup();
    let names = ["first", "second", "third", "fourth"];
    let replicas = Upstream::at(&ips, &names[..ips.len()]).await;
    let url = format!("http://localhost:{}", replicas[0].port());
    let (gw, _stop) = start(&config(ECHO, &[("echo", vec![url])])).await;

    assert_eq!(pool(gw, "echo").await["replicas"], ips.len());
    let mut seen = HashSet::new();
    for _ in 0..(4 * ips.len()) {
        let (status, body) = get(gw, "/api/v1/echo/x").await;
        assert_eq!(status, StatusCode::OK);
        seen.insert(body["replica"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), ips.len(), "every address served: {seen:?}");
}

#[tokio::test]
async fn a_replica_failing_its_readiness_checks_leaves_after_fall_and_returns_after_rise() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let (gw, _stop) = start(&config(ECHO, &[("echo", urls(&[&a, &b]))])).await;

    // /healthz still answers: only /readyz says b cannot serve.
    b.ready.store(false, Ordering::SeqCst);
    eventually(Duration::from_secs(3), "b out of rotation", || async {
        (pool(gw, "echo").await["healthy"] == 1).then_some(())
    })
    .await;
    let b_hits = b.hits();
    for _ in 0..10 {
        let (status, body) = get(gw, "/api/v1/echo/x").await;
        assert_eq!(
            (status, body["replica"].as_str()),
            (StatusCode::OK, Some("a"))
        );
    }
    assert_eq!(b.hits(), b_hits);

    b.ready.store(true, Ordering::SeqCst);
    eventually(Duration::from_secs(3), "b back in rotation", || async {
        (pool(gw, "echo").await["healthy"] == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn consecutive_server_errors_eject_a_replica_for_a_while() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    b.status.store(500, Ordering::SeqCst);
    let mut cfg = config(ECHO, &[("echo", urls(&[&a, &b]))]);
    cfg.upstream.health.consecutive_failures = 3;
    cfg.upstream.health.base_ejection_ms = 1_000;
    let (gw, _stop) = start(&cfg).await;

    let mut errors = 0;
    for _ in 0..20 {
        let (status, _) = get(gw, "/api/v1/echo/x").await;
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            errors += 1;
        }
    }
    // A 500 is the service's answer (not retried), and the third in a row ejects b.
    assert_eq!((errors, b.hits()), (3, 3));
    let status = pool(gw, "echo").await;
    assert_eq!(
        (&status["ejected"], &status["healthy"]),
        (&Value::from(1), &Value::from(1)),
        "{status}"
    );

    // Its time served, it takes requests again.
    b.status.store(200, Ordering::SeqCst);
    eventually(
        Duration::from_secs(3),
        "b back after its ejection",
        || async {
            let (_, body) = get(gw, "/api/v1/echo/x").await;
            (body["replica"] == "b").then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn at_most_half_a_pool_is_ejected_and_a_pool_with_no_healthy_replica_still_serves() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    a.status.store(500, Ordering::SeqCst);
    b.status.store(500, Ordering::SeqCst);
    let mut cfg = config(ECHO, &[("echo", urls(&[&a, &b]))]);
    cfg.upstream.health.consecutive_failures = 2;
    let (gw, _stop) = start(&cfg).await;
    for _ in 0..20 {
        get(gw, "/api/v1/echo/x").await;
    }
    let status = pool(gw, "echo").await;
    assert_eq!(status["ejected"], 1, "one of two, not both: {status}");
    assert_eq!(a.hits() + b.hits(), 20);

    // Both fail their readiness checks: panic mode routes to both rather than none.
    a.status.store(200, Ordering::SeqCst);
    b.status.store(200, Ordering::SeqCst);
    a.ready.store(false, Ordering::SeqCst);
    b.ready.store(false, Ordering::SeqCst);
    eventually(Duration::from_secs(3), "the pool in panic mode", || async {
        (pool(gw, "echo").await["panic"] == true).then_some(())
    })
    .await;
    for _ in 0..4 {
        assert_eq!(get(gw, "/api/v1/echo/x").await.0, StatusCode::OK);
    }
    let metrics = reqwest::get(format!("http://{gw}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("gateway_panic_routed_total"), "{metrics}");
}

/// An upstream that answers its readiness checks but closes the connection
/// on every other request without answering.
async fn resetter() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 || !buf[..n].starts_with(b"GET /readyz") {
                        return;
                    }
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if conn.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn safe_requests_are_retried_once_on_another_replica() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    a.status.store(503, Ordering::SeqCst);
    let (reset, _task) = resetter().await;
    let mut cfg = config(
        &["/api/v1/echo=echo:public", "/api/v1/reset=reset:public"],
        &[
            ("echo", urls(&[&a, &b])),
            ("reset", vec![format!("http://{reset}"), b.url()]),
        ],
    );
    // Keep every replica in the pool: this is about retries, not ejection.
    cfg.upstream.health.consecutive_failures = 1_000;
    let (gw, _stop) = start(&cfg).await;
    let http = reqwest::Client::new();

    // GET, HEAD, OPTIONS and requests with an Idempotency-Key: a 503 from a goes to b.
    for _ in 0..4 {
        let (status, body) = get(gw, "/api/v1/echo/x").await;
        assert_eq!(
            (status, body["replica"].as_str()),
            (StatusCode::OK, Some("b"))
        );
        let r = http
            .post(format!("http://{gw}/api/v1/echo/bookings"))
            .header("idempotency-key", "k-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert!(a.hits() > 0, "a was asked first some of the time");

    // A POST without one is the service's answer: never sent twice.
    let (a_before, b_before) = (a.hits(), b.hits());
    let mut unavailable = 0;
    for _ in 0..6 {
        let r = http
            .post(format!("http://{gw}/api/v1/echo/bookings"))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            unavailable += 1;
        }
    }
    assert_eq!(
        a.hits() + b.hits() - a_before - b_before,
        6,
        "each POST sent once"
    );
    assert_eq!(unavailable, a.hits() - a_before);
    assert!(unavailable > 0);

    // A reset connection: the GET is retried, the POST answered 502.
    let mut statuses = HashSet::new();
    for _ in 0..6 {
        let (status, _) = get(gw, "/api/v1/reset/x").await;
        assert_eq!(status, StatusCode::OK);
        let r = http
            .post(format!("http://{gw}/api/v1/reset/x"))
            .body("{}")
            .send()
            .await
            .unwrap();
        statuses.insert(r.status());
    }
    assert!(statuses.contains(&StatusCode::BAD_GATEWAY), "{statuses:?}");
}

#[tokio::test]
async fn retries_stop_when_the_budget_is_spent() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    a.status.store(503, Ordering::SeqCst);
    b.status.store(503, Ordering::SeqCst);
    let mut cfg = config(ECHO, &[("echo", urls(&[&a, &b]))]);
    cfg.upstream.health.consecutive_failures = 1_000;
    let (gw, _stop) = start(&cfg).await;
    let requests = 60;
    for _ in 0..requests {
        assert_eq!(
            get(gw, "/api/v1/echo/x").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    let retries = a.hits() + b.hits() - requests;
    // 10 at least, then a fifth of the requests: never one retry per request.
    assert!(retries >= 10, "{retries} retries");
    assert!(
        retries <= 10 + requests / 5,
        "{retries} retries for {requests} requests"
    );
}

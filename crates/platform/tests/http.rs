//! The HTTP shell: graceful shutdown drains in-flight requests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use axum::{routing::get, Router};
use platform::service::Service;

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_ones() {
    let router = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            "done"
        }),
    );
    let (addr, cancel) = platform::testing::spawn(Service::new("slow", router)).await;
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .get(format!("http://{addr}/slow"))
                .send()
                .await?
                .text()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    cancel.cancel();
    let body = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(body, "done");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = reqwest::Client::new()
        .get(format!("http://{addr}/slow"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err(), "no new connections after shutdown");
}

/// Run `service` on an ephemeral port; the result of `run` once it returns.
async fn run_until_stopped(
    service: Service,
    cancel: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), service.run(listener, cancel))
        .await
        .expect("the service stops")
}

#[tokio::test]
async fn a_worker_that_panics_stops_the_service_with_an_error() {
    let cancel = tokio_util::sync::CancellationToken::new();
    let service = Service::new("half-dead", Router::new())
        .with_worker(|cancel| async move { cancel.cancelled().await })
        .with_worker(|_| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            panic!("a bug in a consumer");
        });
    let result = run_until_stopped(service, cancel.clone()).await;
    assert!(result.is_err(), "{result:?}");
    assert!(cancel.is_cancelled(), "the other workers were told to stop");
}

#[tokio::test]
async fn workers_that_finish_their_job_or_end_on_cancel_are_a_clean_stop() {
    let cancel = tokio_util::sync::CancellationToken::new();
    let service = Service::new("clean", Router::new())
        .with_worker(|_| async {}) // done at once, like a cache that connected
        .with_worker(|cancel| async move { cancel.cancelled().await });
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.cancel();
    });
    let result = run_until_stopped(service, cancel).await;
    assert!(result.is_ok(), "{result:?}");
}

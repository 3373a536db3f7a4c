//! The HTTP shell: graceful shutdown drains in-flight requests.

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

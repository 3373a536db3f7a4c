//! The operational surface every service shares.

use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = app
        .insert_provider("Dr. Vogel", "Family medicine", "")
        .await;
    app.get_ok(&format!("/api/v1/providers/{id}"), &app.staff())
        .await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("route=\"/api/v1/providers/{id}\""),
        "{metrics}"
    );
    assert!(metrics.contains("cache_requests_total"), "{metrics}");
    let openapi: serde_json::Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/providers",
        "/api/v1/providers/{id}",
        "/api/v1/patients/me",
        "/api/v1/patients/me/preferred-provider",
        "/api/v1/patients/{id}",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} documented");
    }
}

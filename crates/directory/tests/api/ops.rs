//! The operational surface every service shares.

use platform::{auth::Role, testing::Anonymous};
use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let app = spawn_app().await;
    let r = app.get(&Anonymous, "/healthz").await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get(&Anonymous, "/readyz").await;
    assert_eq!(r.status(), StatusCode::OK);
    let id = app
        .insert_provider("Dr. Vogel", "Family medicine", "")
        .await;
    app.get_ok(&app.user(Role::Staff), &format!("/api/v1/providers/{id}"))
        .await;
    let metrics = app.get(&Anonymous, "/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("route=\"/api/v1/providers/{id}\""),
        "{metrics}"
    );
    assert!(metrics.contains("cache_requests_total"), "{metrics}");
    let openapi = app.get_ok(&Anonymous, "/openapi.json").await;
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

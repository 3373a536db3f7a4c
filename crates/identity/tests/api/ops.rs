//! The operational surface every service shares.

use platform::testing::{assert_problem, Anonymous};
use reqwest::{Method, StatusCode};

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let app = spawn_app().await;
    assert_eq!(
        app.get(&Anonymous, "/healthz").await.status(),
        StatusCode::OK
    );
    let ready = app.get(&Anonymous, "/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    app.register("paula@example.org").await;
    let metrics = app.get(&Anonymous, "/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/api/v1/auth/register\""));
    let openapi: serde_json::Value = app
        .get(&Anonymous, "/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"]["/api/v1/auth/login"]["post"].is_object());
    for (path, method) in [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/verify-email", "post"),
        ("/api/v1/auth/verify-email/resend", "post"),
        ("/api/v1/auth/password-reset", "post"),
        ("/api/v1/auth/password-reset/confirm", "post"),
        ("/api/v1/auth/password", "post"),
        ("/api/v1/auth/sessions", "get"),
        ("/api/v1/auth/sessions", "delete"),
        ("/api/v1/auth/sessions/{id}", "delete"),
        ("/api/v1/auth/mfa/totp", "post"),
        ("/api/v1/auth/mfa/totp", "delete"),
        ("/api/v1/auth/mfa/totp/confirm", "post"),
        ("/api/v1/auth/mfa/verify", "post"),
        ("/api/v1/admin/users", "get"),
        ("/api/v1/admin/users", "post"),
        ("/api/v1/admin/users/{id}/disable", "post"),
        ("/api/v1/admin/users/{id}/enable", "post"),
    ] {
        assert!(
            openapi["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    let register = &openapi["paths"]["/api/v1/auth/register"]["post"]["responses"];
    assert!(register["202"].is_object() && register.get("201").is_none());
    let login = &openapi["paths"]["/api/v1/auth/login"]["post"]["responses"];
    for status in ["200", "401", "403", "429"] {
        assert!(login[status].is_object(), "login documents {status}");
    }
    assert!(openapi["components"]["schemas"]["LoginOutcome"]["oneOf"].is_array());
    assert_eq!(
        openapi["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let app = spawn_app().await;
    let r = app.get(&Anonymous, "/healthz").await;
    assert!(!r.headers()["x-request-id"].is_empty());
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = app
        .request(Method::GET, "/healthz", &Anonymous)
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    let r = app.get(&Anonymous, "/api/v1/nope").await;
    assert_problem(r, StatusCode::NOT_FOUND, "not-found").await;
    let r = app.delete(&Anonymous, "/api/v1/auth/login").await;
    assert_problem(r, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
}

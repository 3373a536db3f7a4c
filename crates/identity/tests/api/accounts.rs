use platform::testing::{assert_problem, Anonymous};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn registering_creates_a_patient_account() {
    let app = spawn_app().await;
    let r = app.register("  Paula@Example.org ").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["email"], "paula@example.org");
    assert_eq!(body["role"], "patient");
    assert_eq!(body["patient_id"], body["id"]);
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
}

#[tokio::test]
async fn registering_the_same_email_twice_conflicts() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("paula@example.org").await.status(),
        StatusCode::CREATED
    );
    assert_problem(
        app.register("PAULA@example.org").await,
        StatusCode::CONFLICT,
        "email-taken",
    )
    .await;
    assert_eq!(app.user_count().await, 1);
}

#[tokio::test]
async fn patients_cannot_register_as_providers() {
    let app = spawn_app().await;
    let r = app
        .post(&Anonymous, "/api/v1/auth/register", &json!({"email": "x@example.org", "password": PASSWORD, "name": "X", "role": "provider"}))
        .await;
    assert_problem(r, StatusCode::FORBIDDEN, "role-requires-admin").await;
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn bad_registrations_are_rejected_and_nothing_is_stored() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD, "name": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
        ),
        (
            json!({"email": "x@example.org", "password": "short", "name": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak-password",
        ),
        (
            json!({"email": "x@example.org", "password": "password123456", "name": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak-password",
        ),
        (
            json!({"email": "x@example.org", "password": PASSWORD, "name": "   "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
        ),
        (
            json!({"email": "x@example.org", "password": 42, "name": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
        ),
        (
            json!({"email": "x@example.org", "password": PASSWORD, "name": "X", "is_admin": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
        ),
        (
            json!({"email": "x@example.org", "password": PASSWORD, "name": "X", "role": "superuser"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
        ),
    ];
    for (body, status, kind) in cases {
        let r = app.post(&Anonymous, "/api/v1/auth/register", &body).await;
        assert_problem(r, status, kind).await;
    }
    let malformed = app
        .request(Method::POST, "/api/v1/auth/register", &Anonymous)
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, StatusCode::BAD_REQUEST, "malformed-json").await;
    let no_type = app
        .request(Method::POST, "/api/v1/auth/register", &Anonymous)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(
        no_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
    let huge = json!({"email": "x@example.org", "password": PASSWORD, "name": "x".repeat(200_000)});
    assert_problem(
        app.post(&Anonymous, "/api/v1/auth/register", &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
    )
    .await;
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn admins_create_providers_and_others_cannot() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = json!({"email": "dr@example.org", "password": PASSWORD, "name": "Dr. Who", "role": "provider"});
    let r = app.post(&admin, "/api/v1/admin/users", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(created["provider_id"], created["id"]);

    let login: serde_json::Value = app
        .login("dr@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let me: serde_json::Value = app
        .get(login["access_token"].as_str().unwrap(), "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "provider");
    assert_eq!(me["provider_id"], created["id"]);

    let patient = app.patient_tokens("p@example.org").await;
    let token = patient["access_token"].as_str().unwrap();
    let body =
        json!({"email": "evil@example.org", "password": PASSWORD, "name": "Evil", "role": "admin"});
    assert_problem(
        app.post(token, "/api/v1/admin/users", &body).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(&Anonymous, "/api/v1/admin/users", &body).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

//! Resetting a forgotten password and changing a known one.

use contracts::identity::PasswordChanged;
use platform::testing::{assert_problem, Anonymous};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, PASSWORD};

const NEW_PASSWORD: &str = "an entirely new passphrase";

async fn request_reset(app: &crate::helpers::TestApp, email: &str) -> Value {
    let r = app
        .post(
            &Anonymous,
            "/api/v1/auth/password-reset",
            &json!({"email": email}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    r.json().await.unwrap()
}

async fn confirm(app: &crate::helpers::TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post(
        &Anonymous,
        "/api/v1/auth/password-reset/confirm",
        &json!({"token": token, "new_password": password}),
    )
    .await
}

#[tokio::test]
async fn a_reset_is_asked_for_with_the_same_answer_whether_or_not_the_account_exists() {
    let app = spawn_app().await;
    app.patient_tokens("paula@example.org").await;
    let known = request_reset(&app, "paula@example.org").await;
    let unknown = request_reset(&app, "ghost@example.org").await;
    assert_eq!(known, unknown);
    assert_eq!(known, json!({"status": "reset_sent"}));
    assert_eq!(app.links_made("password_reset", None).await, 1);
    let sent = app.reset_link("paula@example.org", 0).await;
    assert_eq!(sent.user_id, app.user_id("paula@example.org").await);
    assert_eq!(sent.name, "Test Patient");
    let minutes = (sent.expires_at - app.clock.now()).num_minutes();
    assert!((29..=30).contains(&minutes), "{minutes}");
}

#[tokio::test]
async fn a_reset_sets_the_password_ends_every_session_and_is_announced() {
    let app = spawn_app().await;
    let before = app.patient_tokens("paula@example.org").await;
    request_reset(&app, "paula@example.org").await;
    let token = app.reset_token("paula@example.org").await;
    assert_eq!(
        confirm(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        app.login("paula@example.org", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    assert_eq!(
        app.login("paula@example.org", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.refresh(&before["refresh_token"]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let changed = app.published::<PasswordChanged>().await;
    assert_eq!(changed.len(), 1);
    assert!(changed[0].by_reset);
    assert_eq!(changed[0].email, "paula@example.org");
    // Single use.
    assert_problem(
        confirm(&app, &token, "yet another passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid-token",
    )
    .await;
}

#[tokio::test]
async fn a_reset_verifies_the_address() {
    let app = spawn_app().await;
    app.register("paula@example.org").await;
    request_reset(&app, "paula@example.org").await;
    let token = app.reset_token("paula@example.org").await;
    assert_eq!(
        confirm(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.login("paula@example.org", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_weak_password_keeps_the_link_and_an_old_link_is_refused() {
    let app = spawn_app().await;
    app.patient_tokens("paula@example.org").await;
    request_reset(&app, "paula@example.org").await;
    let token = app.reset_token("paula@example.org").await;
    let problem = assert_problem(
        confirm(&app, &token, "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak-password",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "new_password");
    app.clock.advance(chrono::Duration::minutes(31));
    assert_problem(
        confirm(&app, &token, NEW_PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "invalid-token",
    )
    .await;
    assert_problem(
        confirm(&app, "made-up", NEW_PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "invalid-token",
    )
    .await;
}

#[tokio::test]
async fn a_disabled_account_gets_no_reset_link() {
    let app = spawn_app().await;
    app.patient_tokens("paula@example.org").await;
    sqlx::query("UPDATE users SET disabled_at = now()")
        .execute(&app.db)
        .await
        .unwrap();
    request_reset(&app, "paula@example.org").await;
    assert_eq!(app.links_made("password_reset", None).await, 0);
}

#[tokio::test]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let other = app.patient_tokens("paula@example.org").await;
    let mine: Value = app
        .login("paula@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let token = mine["access_token"].as_str().unwrap();
    let r = app
        .post(
            token,
            "/api/v1/auth/password",
            &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.refresh(&other["refresh_token"]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&mine["refresh_token"]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("paula@example.org", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("paula@example.org", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    let changed = app.published::<PasswordChanged>().await;
    assert_eq!(changed.len(), 1);
    assert!(!changed[0].by_reset);
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing_and_counts_as_a_failure() {
    let app = spawn_app().await;
    let pair = app.patient_tokens("paula@example.org").await;
    let token = pair["access_token"].as_str().unwrap();
    let wrong = json!({"current_password": "not my password", "new_password": NEW_PASSWORD});
    for _ in 0..5 {
        assert_problem(
            app.post(token, "/api/v1/auth/password", &wrong).await,
            StatusCode::FORBIDDEN,
            "invalid-current-password",
        )
        .await;
    }
    let right = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    assert_problem(
        app.post(token, "/api/v1/auth/password", &right).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
    )
    .await;
    assert_problem(
        app.post(
            token,
            "/api/v1/auth/password",
            &json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
    )
    .await;
    assert!(app.published::<PasswordChanged>().await.is_empty());
    assert_problem(
        app.post(&Anonymous, "/api/v1/auth/password", &right).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn a_weak_new_password_is_refused() {
    let app = spawn_app().await;
    let pair = app.patient_tokens("paula@example.org").await;
    let problem = assert_problem(
        app.post(
            pair["access_token"].as_str().unwrap(),
            "/api/v1/auth/password",
            &json!({"current_password": PASSWORD, "new_password": "password123456"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak-password",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "new_password");
}

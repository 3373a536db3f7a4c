//! Confirming an address: the emailed link, login before it, new links.

use platform::testing::{assert_problem, Anonymous};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn an_unverified_account_gets_email_unverified_only_with_the_right_password() {
    let app = spawn_app().await;
    app.register("paula@example.org").await;
    assert_problem(
        app.login("paula@example.org", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "email-unverified",
    )
    .await;
    // Without the password, nothing about the account shows.
    let wrong = assert_problem(
        app.login("paula@example.org", "not the password!").await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    let unknown = assert_problem(
        app.login("nobody@example.org", "not the password!").await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn the_emailed_link_verifies_the_address_once() {
    let app = spawn_app().await;
    app.register("paula@example.org").await;
    let token = app.verification_token("paula@example.org").await;
    let r = app
        .post(
            &Anonymous,
            "/api/v1/auth/verify-email",
            &json!({"token": token}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"verified": true}));
    let tokens: Value = app
        .login("paula@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let me = app
        .get_ok(tokens["access_token"].as_str().unwrap(), "/api/v1/auth/me")
        .await;
    assert_eq!(me["verified"], true);
    assert_eq!(me["mfa_enabled"], false);
    // Single use.
    assert_problem(
        app.post(
            &Anonymous,
            "/api/v1/auth/verify-email",
            &json!({"token": token}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid-token",
    )
    .await;
}

#[tokio::test]
async fn unknown_and_expired_links_are_refused() {
    let app = spawn_app().await;
    assert_problem(
        app.post(
            &Anonymous,
            "/api/v1/auth/verify-email",
            &json!({"token": "not-a-token"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid-token",
    )
    .await;
    app.register("paula@example.org").await;
    let token = app.verification_token("paula@example.org").await;
    app.clock.advance(chrono::Duration::hours(24));
    assert_problem(
        app.post(
            &Anonymous,
            "/api/v1/auth/verify-email",
            &json!({"token": token}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid-token",
    )
    .await;
    assert_problem(
        app.login("paula@example.org", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "email-unverified",
    )
    .await;
}

#[tokio::test]
async fn a_new_link_is_sent_on_request_at_a_bounded_rate_and_the_answer_never_varies() {
    let app = spawn_app().await;
    app.register("paula@example.org").await;
    app.patient_tokens("verified@example.org").await;
    let resend = |email: &'static str| {
        let app = &app;
        async move {
            let r = app
                .post(
                    &Anonymous,
                    "/api/v1/auth/verify-email/resend",
                    &json!({"email": email}),
                )
                .await;
            assert_eq!(r.status(), StatusCode::ACCEPTED);
            r.json::<Value>().await.unwrap()
        }
    };
    let links = || app.links_made("verify_email", Some("paula@example.org"));
    // Too soon after the registration's own link.
    assert_eq!(
        resend("paula@example.org").await,
        json!({"status": "verification_sent"})
    );
    assert_eq!(links().await, 1);
    app.clock.advance(chrono::Duration::seconds(61));
    resend("paula@example.org").await;
    assert_eq!(links().await, 2);
    // The newest link works.
    let token = app.verification_link("paula@example.org", 1).await.token;
    let r = app
        .post(
            &Anonymous,
            "/api/v1/auth/verify-email",
            &json!({"token": token}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Verified, unknown and malformed-but-valid addresses: the same answer, nothing sent.
    app.clock.advance(chrono::Duration::seconds(61));
    for email in [
        "paula@example.org",
        "verified@example.org",
        "ghost@example.org",
    ] {
        assert_eq!(resend(email).await, json!({"status": "verification_sent"}));
    }
    assert_eq!(app.links_made("verify_email", None).await, 3);
    assert_problem(
        app.post(
            &Anonymous,
            "/api/v1/auth/verify-email/resend",
            &json!({"email": "not-an-email"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
}

#[tokio::test]
async fn at_most_five_links_an_hour_reach_one_address() {
    let app = spawn_app().await;
    app.register("paula@example.org").await;
    for _ in 0..10 {
        app.clock.advance(chrono::Duration::seconds(61));
        app.post(
            &Anonymous,
            "/api/v1/auth/verify-email/resend",
            &json!({"email": "paula@example.org"}),
        )
        .await;
    }
    assert_eq!(app.links_made("verify_email", None).await, 5);
}

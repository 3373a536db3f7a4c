use platform::testing::{assert_problem, Anonymous};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn login_returns_a_token_pair_that_opens_me() {
    let app = spawn_app().await;
    let tokens = app.patient_tokens("paula@example.org").await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 600);
    let me = app
        .get(tokens["access_token"].as_str().unwrap(), "/api/v1/auth/me")
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], "paula@example.org");
    assert_eq!(me["role"], "patient");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_indistinguishable() {
    let app = spawn_app().await;
    app.register("paula@example.org").await;
    let wrong = assert_problem(
        app.login("paula@example.org", "not the password!").await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    let unknown = assert_problem(
        app.login("nobody@example.org", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn repeated_failures_lock_the_email_even_for_the_right_password() {
    let app = spawn_app().await;
    app.register("paula@example.org").await;
    for _ in 0..5 {
        assert_eq!(
            app.login("paula@example.org", "guess guess guess")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app.login("paula@example.org", PASSWORD).await;
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "login-locked").await;
    // Unknown emails lock the same way: the lock says nothing about existence.
    for _ in 0..5 {
        app.login("ghost@example.org", "guess guess guess").await;
    }
    assert_problem(
        app.login("ghost@example.org", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "login-locked",
    )
    .await;
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT email_key FROM login_throttle")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(stored
        .iter()
        .all(|k| !String::from_utf8_lossy(k).contains("example.org")));
}

#[tokio::test]
async fn refresh_rotates_and_the_old_token_stops_working() {
    let app = spawn_app().await;
    let first = app.patient_tokens("paula@example.org").await;
    let r = app
        .post(
            &Anonymous,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let second: Value = r.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        app.get(second["access_token"].as_str().unwrap(), "/api/v1/auth/me")
            .await
            .status(),
        StatusCode::OK
    );
    let third = app
        .post(
            &Anonymous,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": second["refresh_token"]}),
        )
        .await;
    assert_eq!(third.status(), StatusCode::OK);
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    let first = app.patient_tokens("paula@example.org").await;
    let second: Value = app
        .post(
            &Anonymous,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": first["refresh_token"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    // An attacker replays the stolen first token...
    let replay = app
        .post(
            &Anonymous,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_problem(replay, StatusCode::UNAUTHORIZED, "refresh-token-reused").await;
    // ...and the legitimate holder's newer token is dead too.
    let legit = app
        .post(
            &Anonymous,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": second["refresh_token"]}),
        )
        .await;
    assert_eq!(legit.status(), StatusCode::UNAUTHORIZED);
    // Another login of the same user is a different family and unaffected.
    let other: Value = app
        .login("paula@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let r = app
        .post(
            &Anonymous,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": other["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_let_at_most_one_through() {
    let app = spawn_app().await;
    let first = app.patient_tokens("paula@example.org").await;
    let body = json!({"refresh_token": first["refresh_token"]});
    let attempts = (0..8).map(|_| app.post(&Anonymous, "/api/v1/auth/refresh", &body));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    let tokens = app.patient_tokens("paula@example.org").await;
    let body = json!({"refresh_token": tokens["refresh_token"]});
    assert_eq!(
        app.post(&Anonymous, "/api/v1/auth/logout", &body)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.post(&Anonymous, "/api/v1/auth/logout", &body)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.post(&Anonymous, "/api/v1/auth/refresh", &body)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

//! Login, refresh, logout, and the caller's view of their own sessions.

use std::time::Duration;

use platform::testing::{assert_problem, Anonymous};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{claims_of, spawn_app, spawn_app_with, PASSWORD};

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

#[tokio::test]
async fn access_tokens_name_their_session_and_refresh_keeps_it() {
    let app = spawn_app().await;
    let first = app.patient_tokens("paula@example.org").await;
    let sid = claims_of(first["access_token"].as_str().unwrap())["sid"].clone();
    assert!(sid.is_string(), "{sid}");
    let second: Value = app
        .refresh(&first["refresh_token"])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        claims_of(second["access_token"].as_str().unwrap())["sid"],
        sid
    );
    let other: Value = app
        .login("paula@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(
        claims_of(other["access_token"].as_str().unwrap())["sid"],
        sid
    );
}

#[tokio::test]
async fn the_session_list_shows_the_callers_usable_sessions_and_which_is_current() {
    let app = spawn_app().await;
    let first = app.patient_tokens("paula@example.org").await;
    let r = app
        .request(reqwest::Method::POST, "/api/v1/auth/login", &Anonymous)
        .header("user-agent", "Carebook-Test/1.0")
        .header("x-forwarded-for", "198.51.100.23")
        .json(&json!({"email": "paula@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let second: Value = r.json().await.unwrap();
    let token = second["access_token"].as_str().unwrap();
    let list = app.get_ok(token, "/api/v1/auth/sessions").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    let current: Vec<&Value> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], claims_of(token)["sid"]);
    assert_eq!(current[0]["user_agent"], "Carebook-Test/1.0");
    // Only the network, never the address itself.
    assert_eq!(current[0]["network"], "198.51.100.0/24");
    let created: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(current[0]["created_at"].clone()).unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(current[0]["expires_at"].clone()).unwrap();
    assert_eq!((expires - created).num_days(), 30);
    // A logged-out session is gone from the list; another user sees only theirs.
    app.post(
        &Anonymous,
        "/api/v1/auth/logout",
        &json!({"refresh_token": first["refresh_token"]}),
    )
    .await;
    let list = app.get_ok(token, "/api/v1/auth/sessions").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let other = app.patient_tokens("pedro@example.org").await;
    let list = app
        .get_ok(
            other["access_token"].as_str().unwrap(),
            "/api/v1/auth/sessions",
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_user_ends_one_of_their_sessions_but_not_someone_elses() {
    let app = spawn_app().await;
    let first = app.patient_tokens("paula@example.org").await;
    let second: Value = app
        .login("paula@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let token = second["access_token"].as_str().unwrap();
    let first_sid = claims_of(first["access_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let stranger = app.patient_tokens("mallory@example.org").await;
    assert_problem(
        app.delete(
            stranger["access_token"].as_str().unwrap(),
            &format!("/api/v1/auth/sessions/{first_sid}"),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_eq!(
        app.refresh(&first["refresh_token"]).await.status(),
        StatusCode::OK,
        "a stranger's attempt changed nothing"
    );
    // The rotated token is the one to present now; end the session instead.
    let r = app
        .delete(token, &format!("/api/v1/auth/sessions/{first_sid}"))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let list = app.get_ok(token, "/api/v1/auth/sessions").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_problem(
        app.delete(
            token,
            &format!("/api/v1/auth/sessions/{}", uuid::Uuid::now_v7()),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn ending_all_other_sessions_keeps_the_current_one_unless_all_is_asked() {
    let app = spawn_app().await;
    let a = app.patient_tokens("paula@example.org").await;
    let b: Value = app
        .login("paula@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let c: Value = app
        .login("paula@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let token = c["access_token"].as_str().unwrap();
    assert_eq!(
        app.delete(token, "/api/v1/auth/sessions").await.status(),
        StatusCode::NO_CONTENT
    );
    for gone in [&a, &b] {
        assert_eq!(
            app.refresh(&gone["refresh_token"]).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let c2 = app.refresh(&c["refresh_token"]).await;
    assert_eq!(c2.status(), StatusCode::OK);
    let c2: Value = c2.json().await.unwrap();
    let token = c2["access_token"].as_str().unwrap();
    assert_eq!(
        app.delete(token, "/api/v1/auth/sessions?all=true")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.refresh(&c2["refresh_token"]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_problem(
        app.delete(token, "/api/v1/auth/sessions?all=maybe").await,
        StatusCode::BAD_REQUEST,
        "invalid-query",
    )
    .await;
}

#[tokio::test]
async fn a_session_ends_thirty_days_after_login_however_often_it_is_refreshed() {
    // Refresh tokens that would outlive the session: only its end stops it.
    let app = spawn_app_with(|config, _| {
        config.refresh_ttl = Duration::from_secs(60 * 24 * 3600);
    })
    .await;
    let mut pair = app.patient_tokens("paula@example.org").await;
    for _ in 0..3 {
        app.clock.advance(chrono::Duration::days(9));
        let r = app.refresh(&pair["refresh_token"]).await;
        assert_eq!(r.status(), StatusCode::OK);
        pair = r.json().await.unwrap();
    }
    // Day 27 so far; day 30 and a minute is past the end.
    app.clock
        .advance(chrono::Duration::days(3) + chrono::Duration::minutes(1));
    let r = app.refresh(&pair["refresh_token"]).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "session-expired").await;
    let revoked: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT revoked_at FROM sessions")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(revoked.is_some(), "the family is revoked at its end");
    // A new login starts a new 30 days.
    let fresh: Value = app
        .login("paula@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.refresh(&fresh["refresh_token"]).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_session_length_is_configurable() {
    let app = spawn_app_with(|config, policy| {
        config.refresh_ttl = Duration::from_secs(60 * 24 * 3600);
        policy.session_max = chrono::Duration::days(2);
    })
    .await;
    let pair = app.patient_tokens("paula@example.org").await;
    app.clock.advance(chrono::Duration::days(2));
    assert_problem(
        app.refresh(&pair["refresh_token"]).await,
        StatusCode::UNAUTHORIZED,
        "session-expired",
    )
    .await;
}

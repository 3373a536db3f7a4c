//! The second factor: enrolment, sign-in with a code or a recovery code,
//! turning it off, and the admin who must have it.

use platform::testing::{assert_problem, Anonymous};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{claims_of, spawn_app, totp_at, TestApp, ADMIN_TOTP, PASSWORD};

/// Enrol the holder of `token` and confirm; the secret and the recovery codes.
async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let r = app.post(token, "/api/v1/auth/mfa/totp", &json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let enrolment: Value = r.json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32);
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Carebook%3A"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")));
    assert!(uri.contains("algorithm=SHA1&digits=6&period=30"));
    let r = app
        .post(
            token,
            "/api/v1/auth/mfa/totp/confirm",
            &json!({"code": app.next_code(&secret)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let codes: Value = r.json().await.unwrap();
    let codes: Vec<String> = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn password_step(app: &TestApp, email: &str) -> Value {
    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn verify(app: &TestApp, step: &Value, code: &str) -> reqwest::Response {
    app.post(
        &Anonymous,
        "/api/v1/auth/mfa/verify",
        &json!({"mfa_token": step["mfa_token"], "code": code}),
    )
    .await
}

#[tokio::test]
async fn with_totp_on_login_asks_for_a_code_and_the_code_gives_the_tokens() {
    let app = spawn_app().await;
    let pair = app.patient_tokens("paula@example.org").await;
    let (secret, _) = enrol(&app, pair["access_token"].as_str().unwrap()).await;
    let step = password_step(&app, "paula@example.org").await;
    assert_eq!(step["mfa_required"], true);
    assert_eq!(step["enrolment_required"], false);
    assert_eq!(step["expires_in"], 300);
    assert!(step.get("access_token").is_none());
    let r = verify(&app, &step, &app.next_code(&secret)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    assert!(claims_of(tokens["access_token"].as_str().unwrap())["sid"].is_string());
    let me = app
        .get_ok(tokens["access_token"].as_str().unwrap(), "/api/v1/auth/me")
        .await;
    assert_eq!(me["mfa_enabled"], true);
    // The step token is single use.
    assert_problem(
        verify(&app, &step, &app.next_code(&secret)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-mfa-token",
    )
    .await;
    // The secret is never shown again, and stays in identity's database only.
    let stored: Option<String> = sqlx::query_scalar("SELECT totp_secret FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(secret.as_str()));
}

#[tokio::test]
async fn a_code_is_accepted_one_step_either_way_once_and_never_stale() {
    let app = spawn_app().await;
    let pair = app.patient_tokens("paula@example.org").await;
    let (secret, _) = enrol(&app, pair["access_token"].as_str().unwrap()).await;
    app.clock.advance(chrono::Duration::seconds(300));
    // Mid-step, so the server's "now" is in the same step as the test's.
    let into_step = app.clock.now().timestamp().rem_euclid(30);
    app.clock
        .advance(chrono::Duration::seconds((15 - into_step).rem_euclid(30)));
    let now = app.clock.now().timestamp();
    // The previous step's code still works (a slow typist)...
    let step = password_step(&app, "paula@example.org").await;
    assert_eq!(
        verify(&app, &step, &totp_at(&secret, now - 30))
            .await
            .status(),
        StatusCode::OK
    );
    // ...but not again, nor an older one, nor one two steps ahead.
    let step = password_step(&app, "paula@example.org").await;
    for code in [
        totp_at(&secret, now - 30),
        totp_at(&secret, now - 60),
        totp_at(&secret, now + 60),
    ] {
        assert_problem(
            verify(&app, &step, &code).await,
            StatusCode::UNAUTHORIZED,
            "invalid-mfa-code",
        )
        .await;
    }
    assert_eq!(
        verify(&app, &step, &totp_at(&secret, now + 30))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_codes_count_as_failed_sign_ins() {
    let app = spawn_app().await;
    let pair = app.patient_tokens("paula@example.org").await;
    let (secret, _) = enrol(&app, pair["access_token"].as_str().unwrap()).await;
    let step = password_step(&app, "paula@example.org").await;
    for _ in 0..5 {
        assert_problem(
            verify(&app, &step, "000000").await,
            StatusCode::UNAUTHORIZED,
            "invalid-mfa-code",
        )
        .await;
    }
    // (Without moving the clock: the first wait is 30 seconds.)
    let code = totp_at(&secret, app.clock.now().timestamp() + 30);
    assert_problem(
        verify(&app, &step, &code).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
    )
    .await;
    // Logging in again with the password does not reset the count.
    assert_problem(
        app.login("paula@example.org", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
    )
    .await;
}

#[tokio::test]
async fn each_recovery_code_signs_in_once() {
    let app = spawn_app().await;
    let pair = app.patient_tokens("paula@example.org").await;
    let (_, codes) = enrol(&app, pair["access_token"].as_str().unwrap()).await;
    let step = password_step(&app, "paula@example.org").await;
    // Typed loosely: upper case, spaces.
    let typed = format!(" {} ", codes[3].to_uppercase());
    assert_eq!(verify(&app, &step, &typed).await.status(), StatusCode::OK);
    let step = password_step(&app, "paula@example.org").await;
    assert_problem(
        verify(&app, &step, &codes[3]).await,
        StatusCode::UNAUTHORIZED,
        "invalid-mfa-code",
    )
    .await;
    assert_eq!(
        verify(&app, &step, &codes[4]).await.status(),
        StatusCode::OK
    );
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT code_hash FROM recovery_codes")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 10);
    assert!(hashes.iter().all(|h| h.len() == 32));
}

#[tokio::test]
async fn the_step_token_expires_after_five_minutes() {
    let app = spawn_app().await;
    let pair = app.patient_tokens("paula@example.org").await;
    let (secret, _) = enrol(&app, pair["access_token"].as_str().unwrap()).await;
    let step = password_step(&app, "paula@example.org").await;
    app.clock.advance(chrono::Duration::seconds(301));
    assert_problem(
        verify(&app, &step, &app.next_code(&secret)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-mfa-token",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_first_code_does_not_turn_totp_on() {
    let app = spawn_app().await;
    let pair = app.patient_tokens("paula@example.org").await;
    let token = pair["access_token"].as_str().unwrap();
    assert_problem(
        app.post(
            token,
            "/api/v1/auth/mfa/totp/confirm",
            &json!({"code": "123456"}),
        )
        .await,
        StatusCode::CONFLICT,
        "mfa-not-enabled",
    )
    .await;
    let r = app.post(token, "/api/v1/auth/mfa/totp", &json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_problem(
        app.post(
            token,
            "/api/v1/auth/mfa/totp/confirm",
            &json!({"code": "12345x"}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid-mfa-code",
    )
    .await;
    // Still a plain login.
    let login = password_step(&app, "paula@example.org").await;
    assert!(login["access_token"].is_string());
}

#[tokio::test]
async fn a_patient_turns_totp_off_with_a_code() {
    let app = spawn_app().await;
    let pair = app.patient_tokens("paula@example.org").await;
    let token = pair["access_token"].as_str().unwrap();
    let (secret, _) = enrol(&app, token).await;
    assert_problem(
        app.post(token, "/api/v1/auth/mfa/totp", &json!({})).await,
        StatusCode::CONFLICT,
        "mfa-already-enabled",
    )
    .await;
    assert_problem(
        app.delete_with(token, "/api/v1/auth/mfa/totp", &json!({"code": "000000"}))
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid-mfa-code",
    )
    .await;
    let r = app
        .delete_with(
            token,
            "/api/v1/auth/mfa/totp",
            &json!({"code": app.next_code(&secret)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let login = password_step(&app, "paula@example.org").await;
    assert!(login["access_token"].is_string());
    assert_problem(
        app.delete_with(token, "/api/v1/auth/mfa/totp", &json!({"code": "000000"}))
            .await,
        StatusCode::CONFLICT,
        "mfa-not-enabled",
    )
    .await;
}

#[tokio::test]
async fn an_admin_signs_in_with_totp_and_cannot_turn_it_off() {
    let app = spawn_app().await;
    app.insert_user("root@example.org", "admin", Some(ADMIN_TOTP))
        .await;
    let step = password_step(&app, "root@example.org").await;
    assert_eq!(step["mfa_required"], true);
    assert_eq!(step["enrolment_required"], false);
    let r = verify(&app, &step, &app.next_code(ADMIN_TOTP)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims_of(token)["role"], "admin");
    assert_problem(
        app.delete_with(
            token,
            "/api/v1/auth/mfa/totp",
            &json!({"code": app.next_code(ADMIN_TOTP)}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "mfa-required",
    )
    .await;
}

#[tokio::test]
async fn an_admin_without_totp_enrols_with_the_login_step_token_before_signing_in() {
    let app = spawn_app().await;
    app.insert_user("new-admin@example.org", "admin", None)
        .await;
    let step = password_step(&app, "new-admin@example.org").await;
    assert_eq!(step["mfa_required"], true);
    assert_eq!(step["enrolment_required"], true);
    assert!(step.get("access_token").is_none());
    // Verifying is not possible before enrolling.
    assert_problem(
        verify(&app, &step, "123456").await,
        StatusCode::FORBIDDEN,
        "mfa-enrolment-required",
    )
    .await;
    // The step token enrols (no access token exists yet)...
    let r = app
        .post(
            &Anonymous,
            "/api/v1/auth/mfa/totp",
            &json!({"mfa_token": step["mfa_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let secret = r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            &Anonymous,
            "/api/v1/auth/mfa/totp/confirm",
            &json!({"mfa_token": step["mfa_token"], "code": app.next_code(&secret)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // ...and then completes the sign-in with the next code.
    let r = verify(&app, &step, &app.next_code(&secret)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(
        claims_of(tokens["access_token"].as_str().unwrap())["role"],
        "admin"
    );
    // Now enrolled, the used step token enrols nothing more.
    assert_problem(
        app.post(
            &Anonymous,
            "/api/v1/auth/mfa/totp",
            &json!({"mfa_token": step["mfa_token"]}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid-mfa-token",
    )
    .await;
}

#[tokio::test]
async fn enrolling_needs_an_access_token_or_a_step_token() {
    let app = spawn_app().await;
    assert_problem(
        app.post(&Anonymous, "/api/v1/auth/mfa/totp", &json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let r = app
        .request(reqwest::Method::POST, "/api/v1/auth/mfa/totp", &Anonymous)
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_problem(
        app.post(
            &Anonymous,
            "/api/v1/auth/mfa/totp",
            &json!({"mfa_token": "made-up"}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid-mfa-token",
    )
    .await;
    // An access token enrols with no body at all.
    let pair = app.patient_tokens("paula@example.org").await;
    let r = app
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/mfa/totp",
            pair["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

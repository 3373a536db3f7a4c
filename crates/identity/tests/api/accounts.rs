//! Registration without enumeration, and accounts administrators create.

use contracts::identity::{RegistrationAttempted, UserRegistered};
use platform::testing::{assert_problem, Anonymous};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn registering_creates_an_unverified_patient_account() {
    let app = spawn_app().await;
    let r = app.register("  Paula@Example.org ").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, json!({"status": "verification_sent"}));
    let (stored, role, verified): (String, String, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT password_hash, role, email_verified_at FROM users WHERE email = 'paula@example.org'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert_eq!(role, "patient");
    assert_eq!(verified, None);
    // user.registered as ever (the other services need the account at once),
    // and a verification link valid for 24 hours.
    let registered = app.published::<UserRegistered>().await;
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].email, "paula@example.org");
    assert_eq!(app.links_made("verify_email", None).await, 1);
    let link = app.verification_link("paula@example.org", 0).await;
    assert_eq!(link.user_id, registered[0].user_id);
    assert_eq!(link.name, "Test Patient");
    assert_eq!(link.token.len(), 43);
    let minutes = (link.expires_at - app.clock.now()).num_minutes();
    assert!((23 * 60..=24 * 60).contains(&minutes), "{minutes}");
    // Only the token's hash is kept.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM account_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_ne!(stored, link.token.as_bytes());
    assert_eq!(stored.len(), 32);
}

#[tokio::test]
async fn registering_an_existing_email_is_indistinguishable_from_a_new_one() {
    let app = spawn_app().await;
    let fresh = app.register("paula@example.org").await;
    let again = app.register("PAULA@example.org").await;
    assert_eq!(fresh.status(), StatusCode::ACCEPTED);
    assert_eq!(again.status(), fresh.status());
    let headers = |r: &reqwest::Response| {
        let mut h: Vec<(String, String)> = r
            .headers()
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id"))
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        h.sort();
        h
    };
    assert_eq!(headers(&again), headers(&fresh));
    assert_eq!(again.text().await.unwrap(), fresh.text().await.unwrap());
    // Nothing changed for the account; its holder is told someone tried.
    assert_eq!(app.user_count().await, 1);
    assert_eq!(app.links_made("verify_email", None).await, 1);
    assert_eq!(app.published::<UserRegistered>().await.len(), 1);
    let attempted = app.published::<RegistrationAttempted>().await;
    assert_eq!(attempted.len(), 1);
    assert_eq!(attempted[0].email, "paula@example.org");
    assert_eq!(attempted[0].name, "Test Patient");
    assert_eq!(attempted[0].user_id, app.user_id("paula@example.org").await);
}

#[tokio::test]
async fn registering_an_existing_email_changes_nothing_even_with_another_password_and_name() {
    let app = spawn_app().await;
    app.patient_tokens("paula@example.org").await;
    let r = app
        .post(
            &Anonymous,
            "/api/v1/auth/register",
            &json!({"email": "paula@example.org", "password": "another long passphrase", "name": "Mallory"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        app.login("paula@example.org", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_problem(
        app.login("paula@example.org", "another long passphrase")
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    let name: String = sqlx::query_scalar("SELECT name FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(name, "Test Patient");
}

#[tokio::test]
async fn the_browsers_time_zone_is_passed_on_in_user_registered() {
    let app = spawn_app().await;
    let r = app
        .post(
            &Anonymous,
            "/api/v1/auth/register",
            &json!({"email": "paula@example.org", "password": PASSWORD, "name": "Paula", "time_zone": " America/New_York "}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({"status": "verification_sent"})
    );
    app.register("no-zone@example.org").await;
    let registered = app.published::<UserRegistered>().await;
    let zone_of = |email: &str| {
        registered
            .iter()
            .find(|e| e.email == email)
            .map(|e| e.time_zone.clone())
    };
    assert_eq!(
        zone_of("paula@example.org"),
        Some(Some("America/New_York".to_owned()))
    );
    assert_eq!(zone_of("no-zone@example.org"), Some(None));
}

#[tokio::test]
async fn an_unknown_time_zone_is_refused_whether_or_not_the_address_has_an_account() {
    let app = spawn_app().await;
    app.register("paula@example.org").await;
    for email in ["paula@example.org", "new@example.org"] {
        let body = json!({"email": email, "password": PASSWORD, "name": "Paula", "time_zone": "Mars/Olympus_Mons"});
        let problem = assert_problem(
            app.post(&Anonymous, "/api/v1/auth/register", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "time_zone");
    }
    // Nothing stored, nothing announced beyond the first registration.
    assert_eq!(app.user_count().await, 1);
    assert_eq!(app.published::<UserRegistered>().await.len(), 1);
    assert!(app.published::<RegistrationAttempted>().await.is_empty());
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
async fn admins_create_verified_accounts_of_any_role_and_others_cannot() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = json!({"email": "dr@example.org", "password": PASSWORD, "name": "Dr. Who", "role": "provider"});
    let r = app.post(&admin, "/api/v1/admin/users", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(created["provider_id"], created["id"]);
    assert_eq!(created["verified"], true);
    // The admin vouches for the address: no link is sent, login works at once.
    assert_eq!(app.links_made("verify_email", None).await, 0);

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

    // An optional time zone is checked and passed on.
    let zoned = json!({"email": "nurse@example.org", "password": PASSWORD, "name": "Nurse", "role": "staff", "time_zone": "Europe/Berlin"});
    assert_eq!(
        app.post(&admin, "/api/v1/admin/users", &zoned)
            .await
            .status(),
        StatusCode::CREATED
    );
    let registered = app.published::<UserRegistered>().await;
    let nurse = registered
        .iter()
        .find(|e| e.email == "nurse@example.org")
        .unwrap();
    assert_eq!(nurse.time_zone.as_deref(), Some("Europe/Berlin"));
    let bad = json!({"email": "x@example.org", "password": PASSWORD, "name": "X", "role": "staff", "time_zone": "Berlin"});
    assert_problem(
        app.post(&admin, "/api/v1/admin/users", &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;

    assert_problem(
        app.post(&admin, "/api/v1/admin/users", &body).await,
        StatusCode::CONFLICT,
        "email-taken",
    )
    .await;

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

//! The demo clinic's accounts: verified, the admin with TOTP of a fixed secret.

use std::time::Duration;

use identity::{Config, SigningKeys};
use platform::demo::{DEMO_PASSWORD, DEMO_USERS};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, ADMIN_TOTP};

#[tokio::test]
async fn the_demo_seed_makes_verified_accounts_and_an_admin_with_totp() {
    let app = spawn_app().await;
    let config = Config {
        common: app.backing.config.clone(),
        signing_keys_dir: "unused-in-tests".into(),
        access_ttl: Duration::from_secs(600),
        refresh_ttl: Duration::from_secs(3600),
        hash_concurrency: 2,
    };
    let keys = SigningKeys::from_pems([("test", app.key_pem.clone())]).unwrap();
    let (state, broker) = identity::connect(&config, keys).await.unwrap();
    assert_eq!(
        identity::seed::demo_users(&state, ADMIN_TOTP)
            .await
            .unwrap(),
        DEMO_USERS.len()
    );
    // Idempotent.
    assert_eq!(
        identity::seed::demo_users(&state, ADMIN_TOTP)
            .await
            .unwrap(),
        0
    );
    assert!(identity::seed::demo_users(&state, "not base32!")
        .await
        .is_err());
    broker.close().await;
    let unverified: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE email_verified_at IS NULL")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(unverified, 0);

    let patient = app
        .login("patient1@demo.carebook.test", DEMO_PASSWORD)
        .await;
    assert_eq!(patient.status(), StatusCode::OK);
    assert!(patient.json::<Value>().await.unwrap()["access_token"].is_string());
    let step: Value = app
        .login("admin@demo.carebook.test", DEMO_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(step["mfa_required"], true);
    assert_eq!(step["enrolment_required"], false);
    let r = app
        .post(
            &platform::testing::Anonymous,
            "/api/v1/auth/mfa/verify",
            &json!({"mfa_token": step["mfa_token"], "code": app.next_code(ADMIN_TOTP)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

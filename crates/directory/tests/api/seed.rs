//! The demo clinic's profiles.

use contracts::{
    directory::{PatientUpdated, ProviderUpdated},
    Event,
};
use platform::{auth::Role, demo::DEMO_USERS};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_demo_seed_is_idempotent_and_completes_registered_profiles() {
    let app = spawn_app().await;
    let lena = &DEMO_USERS[2];
    // Lena registered already: the directory made her a default profile.
    sqlx::query(
        "INSERT INTO providers (id, name, specialty, time_zone) VALUES ($1, $2, 'General practice', 'UTC')",
    )
    .bind(lena.id)
    .bind(lena.name)
    .execute(&app.db)
    .await
    .unwrap();
    let (state, broker) = directory::connect_with_verifier(&app.config, app.keys.verifier())
        .await
        .unwrap();

    assert_eq!(directory::seed::demo(&state).await.unwrap(), 5);
    assert_eq!(
        directory::seed::demo(&state).await.unwrap(),
        0,
        "idempotent"
    );
    broker.close().await;

    let zones: Vec<(String, String, String)> =
        sqlx::query_as("SELECT name, specialty, time_zone FROM providers ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    let expected: Vec<(String, String, String)> = [
        ("Dr. Lena Vogel", "Family medicine", "Europe/Berlin"),
        ("Dr. Marcus Reed", "Cardiology", "America/New_York"),
        ("Dr. Priya Nair", "Dermatology", "Asia/Kolkata"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(zones, expected);
    let paula = &DEMO_USERS[5];
    let profile = app
        .get_ok(
            &app.user(Role::Staff),
            &format!("/api/v1/patients/{}", paula.id),
        )
        .await;
    assert_eq!(profile["email"], paula.email);
    assert_eq!(profile["preferred_provider_id"], json!(lena.id));
    assert!(profile["insurance"]["payer"].is_string());
    assert_eq!(app.outbox(ProviderUpdated::TYPE).await.len(), 3);
    assert_eq!(app.outbox(PatientUpdated::TYPE).await.len(), 2);
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(unsent, 0, "the seed publishes its events");
}

#[tokio::test]
async fn the_demo_seed_leaves_an_edited_profile_alone() {
    let app = spawn_app().await;
    let lena = &DEMO_USERS[2];
    sqlx::query(
        "INSERT INTO providers (id, name, specialty, time_zone, version) VALUES ($1, $2, 'Sports medicine', 'Europe/Vienna', 2)",
    )
    .bind(lena.id)
    .bind(lena.name)
    .execute(&app.db)
    .await
    .unwrap();
    let (state, broker) = directory::connect_with_verifier(&app.config, app.keys.verifier())
        .await
        .unwrap();
    assert_eq!(directory::seed::demo(&state).await.unwrap(), 4);
    broker.close().await;
    let (specialty, zone): (String, String) =
        sqlx::query_as("SELECT specialty, time_zone FROM providers WHERE id = $1")
            .bind(lena.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (specialty.as_str(), zone.as_str()),
        ("Sports medicine", "Europe/Vienna")
    );
}

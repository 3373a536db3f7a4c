//! Every change leaves through the outbox with its event, in the same
//! transaction; a refused change leaves nothing.

use contracts::{
    directory::{PatientUpdated, ProviderUpdated},
    Event,
};
use platform::{
    auth::Role,
    testing::{eventually, WAIT},
};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn changes_are_written_to_the_outbox_and_relayed() {
    let app = spawn_app().await;
    let provider = app
        .insert_provider("Dr. Vogel", "Family medicine", "")
        .await;
    let paula = app.patient("Paula").await;

    let r = app
        .put(
            &app.user(Role::Staff),
            &format!("/api/v1/providers/{provider}"),
            &json!({"name": "Dr. Lena Vogel", "specialty": "Family medicine",
                "time_zone": "Europe/Berlin", "accepting_new_patients": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .put(&paula, "/api/v1/patients/me", &json!({"name": "Paula P."}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .put(
            &paula,
            "/api/v1/patients/me/preferred-provider",
            &json!({"provider_id": provider}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let rows: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT event_type, payload FROM outbox ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    let types: Vec<_> = rows.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            ProviderUpdated::TYPE,
            PatientUpdated::TYPE,
            PatientUpdated::TYPE
        ]
    );
    assert_eq!(rows[0].1["data"]["time_zone"], "Europe/Berlin");
    assert_eq!(rows[2].1["data"]["preferred_provider_id"], json!(provider));

    eventually(WAIT, "every event relayed", || async {
        let unsent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(&app.db)
                .await
                .ok()?;
        (unsent == 0).then_some(())
    })
    .await;
}

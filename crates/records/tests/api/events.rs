//! Events: patients and care relationships arrive from other services;
//! notable accesses leave as `record.accessed`, ids only.

use platform::{auth::Role, events::Envelope, testing::eventually};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, notes, spawn_app, WAIT};

#[tokio::test]
async fn registered_patients_become_known_so_unknown_ones_are_told_apart() {
    let app = spawn_app().await;
    let admin = app.user(Role::Admin);
    let newcomer = app.user(Role::Patient);
    let log = format!("/api/v1/patients/{}/records/access-log", newcomer.id);
    assert_problem(
        app.get(&admin, &log).await,
        StatusCode::NOT_FOUND,
        "patient-not-found",
    )
    .await;
    let registered = Envelope::new(
        "user.registered",
        1,
        "identity",
        &json!({"user_id": newcomer.id, "role": "patient", "name": "New Patient", "email": "new@example.org"}),
    )
    .unwrap();
    app.publish(&registered).await;
    app.publish(&registered).await; // redelivered: applied once
    let db = app.db.clone();
    eventually(WAIT, "the patient", || {
        let db = db.clone();
        async move {
            records::store::care::patient_exists(&db, newcomer.id)
                .await
                .ok()
                .filter(|x| *x)
        }
    })
    .await;
    assert_eq!(app.get(&admin, &log).await.status(), StatusCode::OK);
    // A provider registering is no patient.
    let provider = app.user(Role::Provider);
    let event = Envelope::new("user.registered", 1, "identity", &json!({"user_id": provider.id, "role": "provider", "name": "Dr. X", "email": "x@example.org"})).unwrap();
    app.publish(&event).await;
    let processed = app.db.clone();
    eventually(WAIT, "both events", || {
        let db = processed.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM processed_events WHERE consumer = 'records.patients'",
            )
            .fetch_one(&db)
            .await
            .ok()?;
            (n == 2).then_some(())
        }
    })
    .await;
    assert!(!records::store::care::patient_exists(&app.db, provider.id)
        .await
        .unwrap());
}

#[tokio::test]
async fn break_glass_access_is_published_as_record_accessed_with_ids_only() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (carer, _) = app.provider_caring_for(&patient).await;
    let note = app.note(&carer, patient.id, "Sensitive history.").await;
    app.get(&carer, &notes(patient.id)).await;
    // Ordinary access publishes nothing.
    assert!(app.outbox("record.accessed").await.is_empty());

    let emergency = app.user(Role::Provider);
    let r = app
        .post(
            &emergency,
            &format!("/api/v1/patients/{}/records/break-glass", patient.id),
            &json!({"reason": "anaphylaxis after unknown exposure"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let grant: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        app.get(&emergency, &notes(patient.id)).await.status(),
        StatusCode::OK
    );

    let events = app.outbox("record.accessed").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["source"], "records");
    assert_eq!(events[0]["data"]["action"], "break_glass");
    assert_eq!(events[0]["data"]["entry_ids"], json!([grant["id"]]));
    assert_eq!(events[1]["data"]["action"], "read");
    assert_eq!(events[1]["data"]["actor_id"], json!(emergency.id));
    assert_eq!(events[1]["data"]["patient_id"], json!(patient.id));
    assert_eq!(events[1]["data"]["entry_ids"], json!([note["id"]]));
    assert_eq!(events[1]["data"]["break_glass"], true);
    let text = serde_json::to_string(&events).unwrap();
    assert!(
        !text.contains("Sensitive") && !text.contains("anaphylaxis"),
        "{text}"
    );
    let db = app.db.clone();
    eventually(WAIT, "the relay to publish", || {
        let db = db.clone();
        async move {
            let unsent: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    .fetch_one(&db)
                    .await
                    .ok()?;
            (unsent == 0).then_some(())
        }
    })
    .await;
}

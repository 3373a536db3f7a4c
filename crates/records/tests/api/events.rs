//! Events: patients and care relationships arrive from other services;
//! notable accesses leave as `record.accessed`, ids only.

use contracts::records::RecordAccessed;
use platform::{
    auth::Role,
    events::Envelope,
    testing::{assert_problem, eventually, user_registered, WAIT},
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{notes, spawn_app};

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
    let registered = user_registered(newcomer.id, Role::Patient, "New Patient");
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
    let event = user_registered(provider.id, Role::Provider, "Dr. X");
    app.deliver(&event).await;
    // Both events applied, the redelivered one not a second time.
    let processed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM processed_events WHERE consumer = 'records.patients'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(processed, 2);
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

    let outbox = app.outbox("record.accessed").await;
    let events: Vec<Envelope> = outbox
        .iter()
        .map(|e| serde_json::from_value(e.clone()).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].source, "records");
    let glass = events[0].decode::<RecordAccessed>().unwrap();
    assert_eq!(glass.action, "break_glass");
    assert_eq!(glass.entry_ids, [uuid(&grant["id"])]);
    let read = events[1].decode::<RecordAccessed>().unwrap();
    assert_eq!(read.action, "read");
    assert_eq!(read.actor_id, emergency.id);
    assert_eq!(read.patient_id, patient.id);
    assert_eq!(read.entry_ids, [uuid(&note["id"])]);
    assert!(read.break_glass);
    let text = serde_json::to_string(&outbox).unwrap();
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

fn uuid(id: &Value) -> Uuid {
    id.as_str().unwrap().parse().unwrap()
}

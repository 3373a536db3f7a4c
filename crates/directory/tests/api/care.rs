//! Care relationships from scheduling's appointment events, and the patient
//! summary they open to a provider: the patient's name, date of birth and
//! contact, never their address or insurance, and to no other provider.

use platform::{auth::Role, testing::eventually};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{appointment_event, assert_problem, spawn_app, TestApp, WAIT};

/// A patient with a full profile, written by the front desk.
async fn patient_with_details(app: &TestApp) -> Uuid {
    let id = app.insert_patient("Paula Patient").await;
    let r = app
        .put_as(
            &format!("/api/v1/patients/{id}"),
            &app.staff(),
            &json!({
                "name": "Paula Patient",
                "date_of_birth": "1988-04-12",
                "phone": "+49 30 1234-567",
                "address": {"line1": "Invalidenstraße 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
                "insurance": {"payer": "Demo Krankenkasse", "member_id": "A123456789"},
            }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    id
}

/// The summary `token` gets once the directory consumed what was published.
async fn summary_once_allowed(app: &TestApp, patient: Uuid, token: &str) -> Value {
    let path = format!("/api/v1/patients/{patient}/summary");
    eventually(WAIT, "the care relationship", || async {
        let r = app.get_as(&path, token).await;
        (r.status() == StatusCode::OK).then_some(())
    })
    .await;
    app.get_ok(&path, token).await
}

#[tokio::test]
async fn a_provider_reads_the_summary_of_a_patient_booked_with_them_and_nothing_more() {
    let app = spawn_app().await;
    let patient = patient_with_details(&app).await;
    let (provider, other_provider) = (Uuid::now_v7(), Uuid::now_v7());
    let token = app.token(Role::Provider, provider);
    let summary_path = format!("/api/v1/patients/{patient}/summary");

    // Before any appointment: refused, exactly as for a patient who does not exist.
    let r = app.get_as(&summary_path, &token).await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app
        .get_as(
            &format!("/api/v1/patients/{}/summary", Uuid::now_v7()),
            &token,
        )
        .await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;

    let appointment = Uuid::now_v7();
    app.publish(&appointment_event(
        "appointment.booked",
        appointment,
        patient,
        provider,
    ))
    .await;
    let summary = summary_once_allowed(&app, patient, &token).await;
    assert_eq!(
        summary,
        json!({
            "id": patient,
            "name": "Paula Patient",
            "email": format!("{}@example.org", patient.simple()),
            "date_of_birth": "1988-04-12",
            "phone": "+49 30 1234-567",
        }),
        "name, date of birth and contact; no address, insurance or preferences"
    );

    // The full profile stays the patient's and the front desk's.
    let r = app
        .get_as(&format!("/api/v1/patients/{patient}"), &token)
        .await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    // Another provider, and the provider for another patient, are still refused.
    let r = app
        .get_as(&summary_path, &app.token(Role::Provider, other_provider))
        .await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let someone_else = app.insert_patient("Someone Else").await;
    let r = app
        .get_as(&format!("/api/v1/patients/{someone_else}/summary"), &token)
        .await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;

    // A cancelled appointment was still an appointment: the relationship stays.
    app.publish(&appointment_event(
        "appointment.cancelled",
        appointment,
        patient,
        provider,
    ))
    .await;
    eventually(WAIT, "the cancellation consumed", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM processed_events WHERE consumer = 'directory.care'",
        )
        .fetch_one(&app.db)
        .await
        .ok()?;
        (n == 2).then_some(())
    })
    .await;
    assert_eq!(
        app.get_ok(&summary_path, &token).await["name"],
        "Paula Patient"
    );
}

#[tokio::test]
async fn the_summary_follows_profile_changes_and_a_missing_profile_is_404() {
    let app = spawn_app().await;
    let patient = patient_with_details(&app).await;
    let provider = Uuid::now_v7();
    let token = app.token(Role::Provider, provider);
    app.publish(&appointment_event(
        "appointment.booked",
        Uuid::now_v7(),
        patient,
        provider,
    ))
    .await;
    summary_once_allowed(&app, patient, &token).await;

    let r = app
        .put_as(
            &format!("/api/v1/patients/{patient}"),
            &app.staff(),
            &json!({"name": "Paula Renamed"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let summary = app
        .get_ok(&format!("/api/v1/patients/{patient}/summary"), &token)
        .await;
    assert_eq!(summary["name"], "Paula Renamed");
    assert_eq!(summary["date_of_birth"], Value::Null);

    // The appointment's event can arrive before the patient's profile does.
    let early = Uuid::now_v7();
    app.publish(&appointment_event(
        "appointment.booked",
        Uuid::now_v7(),
        early,
        provider,
    ))
    .await;
    let path = format!("/api/v1/patients/{early}/summary");
    eventually(WAIT, "the care relationship", || async {
        let r = app.get_as(&path, &token).await;
        (r.status() == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    let r = app.get_as(&path, &token).await;
    assert_problem(r, StatusCode::NOT_FOUND, "patient-not-found").await;
}

#[tokio::test]
async fn patients_read_their_own_summary_and_the_front_desk_any() {
    let app = spawn_app().await;
    let (a, a_token) = app.patient("Patient A").await;
    let (b, _) = app.patient("Patient B").await;
    let own = app
        .get_ok(&format!("/api/v1/patients/{a}/summary"), &a_token)
        .await;
    assert_eq!(own["name"], "Patient A");
    for target in [b, Uuid::now_v7()] {
        let r = app
            .get_as(&format!("/api/v1/patients/{target}/summary"), &a_token)
            .await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for token in [app.staff(), app.token(Role::Admin, Uuid::now_v7())] {
        let seen = app
            .get_ok(&format!("/api/v1/patients/{b}/summary"), &token)
            .await;
        assert_eq!(seen["name"], "Patient B");
        let r = app
            .get_as(
                &format!("/api/v1/patients/{}/summary", Uuid::now_v7()),
                &token,
            )
            .await;
        assert_problem(r, StatusCode::NOT_FOUND, "patient-not-found").await;
    }
}

#[tokio::test]
async fn each_pair_is_kept_once_whatever_events_repeat() {
    let app = spawn_app().await;
    let (patient, provider) = (app.insert_patient("Paula").await, Uuid::now_v7());
    let (first_id, sentinel_id, sentinel_patient) =
        (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    // The same event delivered twice, a second appointment of the same pair,
    // another change of the first, and another patient's booking (processed
    // last, so once it is there every earlier event was handled).
    let first = appointment_event("appointment.booked", first_id, patient, provider);
    let later = appointment_event("appointment.booked", Uuid::now_v7(), patient, provider);
    let moved = appointment_event("appointment.rescheduled", first_id, patient, provider);
    let sentinel = appointment_event(
        "appointment.booked",
        sentinel_id,
        sentinel_patient,
        provider,
    );
    for event in [&first, &first, &later, &moved, &sentinel] {
        app.publish(event).await;
    }
    eventually(WAIT, "every event consumed", || async {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM care_relationships WHERE patient_id = $1")
                .bind(sentinel_patient)
                .fetch_one(&app.db)
                .await
                .ok()?;
        (n == 1).then_some(())
    })
    .await;

    let rows: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        "SELECT provider_id, patient_id, first_appointment_id FROM care_relationships ORDER BY since",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            (provider, patient, first_id),
            (provider, sentinel_patient, sentinel_id),
        ]
    );
    let processed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM processed_events WHERE consumer = 'directory.care'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(processed, 4, "the repeated event is applied once");
}

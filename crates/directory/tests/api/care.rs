//! Care relationships from scheduling's appointment events, and the patient
//! summary they open to a provider: the patient's name, date of birth and
//! contact, never their address or insurance, and to no other provider.

use contracts::scheduling::{
    Appointment, AppointmentBooked, AppointmentCancelled, AppointmentRescheduled, AppointmentStatus,
};
use platform::{auth::Role, events::Envelope, testing::assert_problem};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{booking, spawn_app, TestApp};

/// A patient with a full profile, written by the front desk.
async fn patient_with_details(app: &TestApp) -> Uuid {
    let id = app.insert_patient("Paula Patient").await;
    let r = app
        .put(
            &app.user(Role::Staff),
            &format!("/api/v1/patients/{id}"),
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

/// `appointment.booked` for a new appointment of `patient` with `provider`.
fn booked(appointment_id: Uuid, patient: Uuid, provider: Uuid) -> Envelope {
    Envelope::of::<AppointmentBooked>(&booking(appointment_id, patient, provider)).unwrap()
}

#[tokio::test]
async fn a_provider_reads_the_summary_of_a_patient_booked_with_them_and_nothing_more() {
    let app = spawn_app().await;
    let patient = patient_with_details(&app).await;
    let provider = app.user(Role::Provider);
    let other_provider = app.user(Role::Provider);
    let summary_path = format!("/api/v1/patients/{patient}/summary");

    // Before any appointment: refused, exactly as for a patient who does not exist.
    let r = app.get(&provider, &summary_path).await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app
        .get(
            &provider,
            &format!("/api/v1/patients/{}/summary", Uuid::now_v7()),
        )
        .await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;

    let appointment = booking(Uuid::now_v7(), patient, provider.id);
    app.deliver(&Envelope::of::<AppointmentBooked>(&appointment).unwrap())
        .await;
    let summary = app.get_ok(&provider, &summary_path).await;
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
        .get(&provider, &format!("/api/v1/patients/{patient}"))
        .await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    // Another provider, and the provider for another patient, are still refused.
    let r = app.get(&other_provider, &summary_path).await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let someone_else = app.insert_patient("Someone Else").await;
    let r = app
        .get(
            &provider,
            &format!("/api/v1/patients/{someone_else}/summary"),
        )
        .await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;

    // A cancelled appointment was still an appointment: the relationship stays.
    let cancelled = Appointment {
        status: AppointmentStatus::Cancelled,
        version: 2,
        ..appointment
    };
    app.deliver(&Envelope::of::<AppointmentCancelled>(&cancelled).unwrap())
        .await;
    let processed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM processed_events WHERE consumer = 'directory.care'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(processed, 2);
    assert_eq!(
        app.get_ok(&provider, &summary_path).await["name"],
        "Paula Patient"
    );
}

#[tokio::test]
async fn the_summary_follows_profile_changes_and_a_missing_profile_is_404() {
    let app = spawn_app().await;
    let patient = patient_with_details(&app).await;
    let provider = app.user(Role::Provider);
    app.deliver(&booked(Uuid::now_v7(), patient, provider.id))
        .await;
    let summary_path = format!("/api/v1/patients/{patient}/summary");
    app.get_ok(&provider, &summary_path).await;

    let r = app
        .put(
            &app.user(Role::Staff),
            &format!("/api/v1/patients/{patient}"),
            &json!({"name": "Paula Renamed"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let summary = app.get_ok(&provider, &summary_path).await;
    assert_eq!(summary["name"], "Paula Renamed");
    assert_eq!(summary["date_of_birth"], Value::Null);

    // The appointment's event can arrive before the patient's profile does.
    let early = Uuid::now_v7();
    app.deliver(&booked(Uuid::now_v7(), early, provider.id))
        .await;
    let r = app
        .get(&provider, &format!("/api/v1/patients/{early}/summary"))
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "patient-not-found").await;
}

#[tokio::test]
async fn patients_read_their_own_summary_and_the_front_desk_any() {
    let app = spawn_app().await;
    let a = app.patient("Patient A").await;
    let b = app.patient("Patient B").await;
    let own = app
        .get_ok(&a, &format!("/api/v1/patients/{}/summary", a.id))
        .await;
    assert_eq!(own["name"], "Patient A");
    for target in [b.id, Uuid::now_v7()] {
        let r = app
            .get(&a, &format!("/api/v1/patients/{target}/summary"))
            .await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for desk in [app.user(Role::Staff), app.user(Role::Admin)] {
        let seen = app
            .get_ok(&desk, &format!("/api/v1/patients/{}/summary", b.id))
            .await;
        assert_eq!(seen["name"], "Patient B");
        let r = app
            .get(
                &desk,
                &format!("/api/v1/patients/{}/summary", Uuid::now_v7()),
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
    let first = booked(first_id, patient, provider);
    let later = booked(Uuid::now_v7(), patient, provider);
    let original = booking(first_id, patient, provider);
    let moved = Envelope::of::<AppointmentRescheduled>(&Appointment {
        start: original.start + chrono::Duration::hours(1),
        end: original.end + chrono::Duration::hours(1),
        previous_start: Some(original.start),
        previous_end: Some(original.end),
        version: 2,
        ..original.clone()
    })
    .unwrap();
    let sentinel = booked(sentinel_id, sentinel_patient, provider);
    for event in [&first, &first, &later, &moved] {
        app.publish(event).await;
    }
    app.deliver(&sentinel).await;

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

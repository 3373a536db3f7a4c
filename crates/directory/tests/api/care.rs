//! Care from scheduling's appointment events, and the patient summary it
//! opens to a provider: the patient's name, date of birth and contact, never
//! their address or insurance, to no other provider, and only inside the care
//! windows of their appointments together (`platform::care`): from 7 days
//! before a booking's start while it stays booked, 90 days after a completed
//! visit, closed at once by a cancellation or a no-show.

use chrono::{DateTime, Duration, Utc};
use contracts::{
    scheduling::{
        Appointment, AppointmentBooked, AppointmentCancelled, AppointmentCompleted,
        AppointmentNoShow, AppointmentRescheduled, AppointmentStatus,
    },
    Event,
};
use platform::{
    auth::Role,
    events::Envelope,
    testing::{assert_problem, User},
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{booking, booking_at, spawn_app, spawn_app_with, TestApp};

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

/// Event `E` announcing `appointment` moved to `status` (its next version),
/// as it occurred at `occurred_at`.
fn changed<E: Event<Payload = Appointment>>(
    appointment: &Appointment,
    status: AppointmentStatus,
    occurred_at: DateTime<Utc>,
) -> Envelope {
    let mut event = Envelope::of::<E>(&Appointment {
        status,
        version: appointment.version + 1,
        ..appointment.clone()
    })
    .unwrap();
    event.occurred_at = occurred_at;
    event
}

/// Read `patient`'s summary as `provider`: `true` when it opens, `false` on
/// the 403 every provider outside a care window gets.
async fn summary_opens(app: &TestApp, provider: &User, patient: Uuid) -> bool {
    let r = app
        .get(provider, &format!("/api/v1/patients/{patient}/summary"))
        .await;
    if r.status() == StatusCode::OK {
        return true;
    }
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    false
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

    // An event of another appointment, or another patient's, opens nothing here.
    app.deliver(&booked(Uuid::now_v7(), someone_else, other_provider.id))
        .await;
    assert!(!summary_opens(&app, &other_provider, patient).await);
}

#[tokio::test]
async fn a_booking_opens_the_summary_seven_days_before_its_start() {
    let app = spawn_app().await;
    let patient = app.insert_patient("Paula").await;
    let (soon, later) = (app.user(Role::Provider), app.user(Role::Provider));
    let now = Utc::now();
    for (provider, days) in [(&soon, 6), (&later, 8)] {
        let appointment = booking_at(
            Uuid::now_v7(),
            patient,
            provider.id,
            now + Duration::days(days),
        );
        app.deliver(&Envelope::of::<AppointmentBooked>(&appointment).unwrap())
            .await;
    }
    assert!(summary_opens(&app, &soon, patient).await, "6 days ahead");
    assert!(!summary_opens(&app, &later, patient).await, "8 days ahead");
    // The same 403 as for a patient who does not exist.
    assert!(!summary_opens(&app, &later, Uuid::now_v7()).await);
}

#[tokio::test]
async fn how_early_a_booking_opens_the_summary_is_configured() {
    let app = spawn_app_with(|c| c.care.opens_before = Duration::days(10)).await;
    let patient = app.insert_patient("Paula").await;
    let provider = app.user(Role::Provider);
    let appointment = booking_at(
        Uuid::now_v7(),
        patient,
        provider.id,
        Utc::now() + Duration::days(8),
    );
    app.deliver(&Envelope::of::<AppointmentBooked>(&appointment).unwrap())
        .await;
    assert!(summary_opens(&app, &provider, patient).await);
}

#[tokio::test]
async fn a_cancelled_booking_or_a_no_show_closes_the_summary_at_once() {
    let app = spawn_app().await;
    let patient = app.insert_patient("Paula").await;
    let (cancelling, missed) = (app.user(Role::Provider), app.user(Role::Provider));
    let cancelled = booking(Uuid::now_v7(), patient, cancelling.id);
    let no_show = booking_at(Uuid::now_v7(), patient, missed.id, Utc::now());
    for appointment in [&cancelled, &no_show] {
        app.deliver(&Envelope::of::<AppointmentBooked>(appointment).unwrap())
            .await;
    }
    assert!(summary_opens(&app, &cancelling, patient).await);
    assert!(summary_opens(&app, &missed, patient).await);

    app.deliver(&changed::<AppointmentCancelled>(
        &cancelled,
        AppointmentStatus::Cancelled,
        Utc::now(),
    ))
    .await;
    assert!(
        !summary_opens(&app, &cancelling, patient).await,
        "cancelled"
    );
    app.deliver(&changed::<AppointmentNoShow>(
        &no_show,
        AppointmentStatus::NoShow,
        Utc::now(),
    ))
    .await;
    assert!(!summary_opens(&app, &missed, patient).await, "no-show");

    let processed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM processed_events WHERE consumer = 'directory.care'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(processed, 4);
}

#[tokio::test]
async fn a_completed_visit_keeps_the_summary_open_ninety_days() {
    let app = spawn_app().await;
    let patient = app.insert_patient("Paula").await;
    let (recent, long_ago) = (app.user(Role::Provider), app.user(Role::Provider));
    let now = Utc::now();
    for (provider, days) in [(&recent, 89), (&long_ago, 91)] {
        let visit = booking_at(
            Uuid::now_v7(),
            patient,
            provider.id,
            now - Duration::days(days),
        );
        app.deliver(&changed::<AppointmentCompleted>(
            &visit,
            AppointmentStatus::Completed,
            now - Duration::days(days),
        ))
        .await;
    }
    assert!(
        summary_opens(&app, &recent, patient).await,
        "completed 89 days ago"
    );
    assert!(
        !summary_opens(&app, &long_ago, patient).await,
        "completed 91 days ago"
    );
}

#[tokio::test]
async fn an_older_event_arriving_after_a_newer_one_changes_nothing() {
    let app = spawn_app().await;
    let patient = app.insert_patient("Paula").await;
    let (cancelling, completed) = (app.user(Role::Provider), app.user(Role::Provider));

    // The cancellation (version 2) overtakes the booking (version 1).
    let appointment = booking(Uuid::now_v7(), patient, cancelling.id);
    app.deliver(&changed::<AppointmentCancelled>(
        &appointment,
        AppointmentStatus::Cancelled,
        Utc::now(),
    ))
    .await;
    app.deliver(&Envelope::of::<AppointmentBooked>(&appointment).unwrap())
        .await;
    assert!(!summary_opens(&app, &cancelling, patient).await);
    let row: (String, i32) =
        sqlx::query_as("SELECT status, version FROM care_visits WHERE appointment_id = $1")
            .bind(appointment.appointment_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(row, ("cancelled".to_owned(), 2));

    // A visit completed 91 days ago: a late copy of its completion, with a
    // newer moment but the same version, does not restart the follow-up.
    let visit = booking_at(
        Uuid::now_v7(),
        patient,
        completed.id,
        Utc::now() - Duration::days(91),
    );
    let done = changed::<AppointmentCompleted>(
        &visit,
        AppointmentStatus::Completed,
        Utc::now() - Duration::days(91),
    );
    app.deliver(&done).await;
    let mut again = done.clone();
    again.id = Uuid::now_v7();
    again.occurred_at = Utc::now();
    app.deliver(&again).await;
    assert!(!summary_opens(&app, &completed, patient).await);
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
async fn each_appointment_is_kept_once_at_its_newest_version() {
    let app = spawn_app().await;
    let (patient, provider) = (app.insert_patient("Paula").await, Uuid::now_v7());
    let (first_id, later_id, sentinel_id, sentinel_patient) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    // The same event delivered twice, a second appointment of the same pair,
    // another change of the first, and another patient's booking (processed
    // last, so once it is there every earlier event was handled).
    let first = booked(first_id, patient, provider);
    let later = booked(later_id, patient, provider);
    let original = booking(first_id, patient, provider);
    let moved_start = original.start + Duration::hours(1);
    let moved = Envelope::of::<AppointmentRescheduled>(&Appointment {
        start: moved_start,
        end: original.end + Duration::hours(1),
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

    let rows: Vec<(Uuid, Uuid, Uuid, String, i32)> = sqlx::query_as(
        "SELECT appointment_id, provider_id, patient_id, status, version FROM care_visits
         ORDER BY appointment_id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let booked_ = |id, patient, version| (id, provider, patient, "booked".to_owned(), version);
    let mut expected = [
        booked_(first_id, patient, 2),
        booked_(later_id, patient, 1),
        booked_(sentinel_id, sentinel_patient, 1),
    ];
    expected.sort();
    assert_eq!(rows, expected);
    let start: DateTime<Utc> =
        sqlx::query_scalar("SELECT starts_at FROM care_visits WHERE appointment_id = $1")
            .bind(first_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(start.timestamp_micros(), moved_start.timestamp_micros());
    let processed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM processed_events WHERE consumer = 'directory.care'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(processed, 4, "the repeated event is applied once");
}

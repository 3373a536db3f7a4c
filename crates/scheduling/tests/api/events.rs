use contracts::{
    directory::ProviderUpdated,
    scheduling::{AppointmentBooked, Mode},
    Event,
};
use platform::{
    auth::Role,
    events::Envelope,
    testing::{assert_problem, eventually, user_registered, WAIT},
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{eur, spawn_app, ten_am_local, Scheduling};

#[tokio::test]
async fn new_patients_and_provider_time_zones_arrive_by_events() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let newcomer = app.user(Role::Patient);
    let start = ten_am_local(chrono_tz::UTC, 3);
    // Unknown to scheduling until identity's event arrives.
    let staff = app.user(Role::Staff);
    let body = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": start, "patient_id": newcomer.id});
    assert_problem(
        app.post(&staff, "/api/v1/appointments", &body).await,
        StatusCode::NOT_FOUND,
        "patient-not-found",
    )
    .await;

    let registered = user_registered(newcomer.id, Role::Patient, "New Patient");
    app.publish(&registered).await;
    app.deliver(&registered).await; // redelivered: applied once
    assert!(
        scheduling::store::readmodel::patient_exists(&app.db, newcomer.id)
            .await
            .unwrap(),
        "the patient read model"
    );
    assert_eq!(
        app.book(&newcomer, &clinic, start).await.status(),
        StatusCode::CREATED
    );

    // The provider moves to New York: 10:00 UTC is no longer a working hour.
    let moved = Envelope::of::<ProviderUpdated>(&ProviderUpdated {
        provider_id: clinic.provider.id,
        name: "Dr. Test".into(),
        time_zone: "America/New_York".into(),
        specialty: "x".into(),
        accepting_new_patients: true,
    })
    .unwrap();
    app.deliver(&moved).await;
    let provider = scheduling::store::readmodel::provider(&app.db, clinic.provider.id)
        .await
        .unwrap()
        .expect("the provider is known");
    assert_eq!(provider.time_zone, "America/New_York");
    let processed: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(processed, 2);
}

#[tokio::test]
async fn a_booking_publishes_appointment_booked_with_what_others_need() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 3);
    let a: Value = app
        .book(&patient, &clinic, start)
        .await
        .json()
        .await
        .unwrap();
    let rows = app.outbox(AppointmentBooked::TYPE).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["source"], "scheduling");
    let e = &app.published::<AppointmentBooked>().await[0];
    assert_eq!(
        e.appointment_id,
        a["id"].as_str().unwrap().parse::<Uuid>().unwrap()
    );
    assert_eq!(e.patient_id, patient.id);
    assert_eq!(e.provider_id, clinic.provider.id);
    assert_eq!(e.appointment_type_id, clinic.type_id);
    assert_eq!(e.start, start);
    assert_eq!(e.time_zone, "Europe/Berlin");
    assert_eq!(e.price, eur(6000));
    assert_eq!(e.appointment_type_name, "Consultation");
    assert_eq!(e.mode, Mode::InPerson);
    assert_eq!(e.version, 1);
    assert_eq!(e.reminder_offsets_minutes, None, "the clinic's default");
    let db = &app.db;
    eventually(WAIT, "the relay to publish", || async move {
        let unsent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(db)
                .await
                .ok()?;
        (unsent == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_types_reminder_offsets_travel_with_its_appointments() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let therapy = crate::helpers::another_type(
        &app,
        &clinic,
        serde_json::json!({"name": "Therapy", "duration_minutes": 30,
            "reminder_offsets_minutes": [30, 2880, 30]}),
    )
    .await;
    let patient = app.patient().await;
    app.booked(&patient, &patient, &therapy, ten_am_local(clinic.tz, 4))
        .await;
    let e = &app.published::<AppointmentBooked>().await[0];
    assert_eq!(e.reminder_offsets_minutes, Some(vec![2880, 30]));
    let types = app
        .get_ok(
            &patient,
            &format!("/api/v1/providers/{}/appointment-types", clinic.provider.id),
        )
        .await;
    let listed: Vec<&Value> = types["items"].as_array().unwrap().iter().collect();
    assert!(listed
        .iter()
        .any(|t| t["reminder_offsets_minutes"] == serde_json::json!([2880, 30])));
    let path = format!("/api/v1/providers/{}/appointment-types", clinic.provider.id);
    let body = serde_json::json!({"name": "X", "duration_minutes": 30,
        "price": {"amount_minor": 100, "currency": "EUR"}, "mode": "in_person",
        "reminder_offsets_minutes": [1]});
    let r = app.post(&clinic.provider, &path, &body).await;
    platform::testing::assert_problem(
        r,
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
}

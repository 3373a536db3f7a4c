use chrono::Duration;
use platform::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, ten_am_local};

#[tokio::test]
async fn booking_a_free_slot_takes_it_off_the_list() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 3);
    let day = (start - Duration::hours(2), start + Duration::hours(3));
    let before = app.slots(&patient, &clinic, day.0, day.1).await;
    assert!(before.contains(&start));

    let r = app.book(&patient, &clinic, start).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["status"], "booked");
    assert_eq!(a["patient_id"], patient.id.to_string());
    assert_eq!(
        a["start"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
        start
    );

    let after = app.slots(&patient, &clinic, day.0, day.1).await;
    assert!(!after.contains(&start), "a booked slot never shows");
    // The 10-minute buffer after 10:00–10:30 also takes 10:30.
    assert!(!after.contains(&(start + Duration::minutes(30))));
    assert!(after.contains(&(start + Duration::minutes(60))));
}

#[tokio::test]
async fn booking_the_same_slot_twice_conflicts() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let (first, second) = (app.patient().await, app.patient().await);
    let start = ten_am_local(clinic.tz, 2);
    assert_eq!(
        app.book(&first, &clinic, start).await.status(),
        StatusCode::CREATED
    );
    assert_problem(
        app.book(&second, &clinic, start).await,
        StatusCode::CONFLICT,
        "slot-taken",
    )
    .await;
    // Overlapping through the buffer is a conflict too.
    assert_problem(
        app.book(&second, &clinic, start + Duration::minutes(30))
            .await,
        StatusCode::CONFLICT,
        "slot-taken",
    )
    .await;
}

#[tokio::test]
async fn concurrent_bookings_of_one_slot_have_exactly_one_winner() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::America::New_York).await;
    let start = ten_am_local(clinic.tz, 4);
    let mut patients = Vec::new();
    for _ in 0..16 {
        patients.push(app.patient().await);
    }
    let attempts = patients.iter().map(|p| app.book(p, &clinic, start));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let overlapping =
        scheduling::store::appointments::count_overlapping_active(&app.db, clinic.provider.id)
            .await
            .unwrap();
    assert_eq!(overlapping, 0);
}

#[tokio::test]
async fn a_retried_request_with_the_same_idempotency_key_gets_the_same_appointment() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 2);
    let body = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": start});
    let send = |b: Value| {
        app.client
            .post(app.url("/api/v1/appointments"))
            .bearer_auth(&patient.token)
            .header("Idempotency-Key", "retry-1")
            .json(&b)
            .send()
    };
    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send(body.clone()).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);

    let mut other = body.clone();
    other["start"] = json!(start + Duration::hours(1));
    assert_problem(
        send(other).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
    )
    .await;
}

#[tokio::test]
async fn a_patient_cannot_hold_two_overlapping_appointments() {
    let app = spawn_app().await;
    let (a, b) = (
        app.clinic(chrono_tz::UTC).await,
        app.clinic(chrono_tz::UTC).await,
    );
    let patient = app.patient().await;
    let start = ten_am_local(chrono_tz::UTC, 2);
    assert_eq!(
        app.book(&patient, &a, start).await.status(),
        StatusCode::CREATED
    );
    assert_problem(
        app.book(&patient, &b, start).await,
        StatusCode::CONFLICT,
        "patient-double-booked",
    )
    .await;
}

#[tokio::test]
async fn every_booking_rule_has_its_own_problem_and_nothing_is_written() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 2);
    let cases = [
        (
            start + Duration::minutes(7),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not-on-slot-grid",
        ),
        (
            start + Duration::hours(2) + Duration::minutes(30),
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside-availability",
        ),
        (
            start - Duration::days(10),
            StatusCode::UNPROCESSABLE_ENTITY,
            "start-in-past",
        ),
        (
            chrono::Utc::now() + Duration::minutes(30),
            StatusCode::UNPROCESSABLE_ENTITY,
            "inside-minimum-notice",
        ),
        (
            start + Duration::days(90),
            StatusCode::UNPROCESSABLE_ENTITY,
            "beyond-booking-horizon",
        ),
    ];
    for (at, status, kind) in cases {
        assert_problem(app.book(&patient, &clinic, at).await, status, kind).await;
    }
    let unknown_type = json!({"provider_id": clinic.provider.id, "appointment_type_id": uuid::Uuid::now_v7(), "start": start});
    assert_problem(
        app.post(&patient, "/api/v1/appointments", &unknown_type)
            .await,
        StatusCode::NOT_FOUND,
        "appointment-type-not-found",
    )
    .await;
    let malformed = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": "tomorrow at ten"});
    assert_problem(
        app.post(&patient, "/api/v1/appointments", &malformed).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-body",
    )
    .await;
    let r = app
        .client
        .get(app.url("/api/v1/appointments/not-a-uuid"))
        .bearer_auth(&patient.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-path").await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
    assert!(app.outbox("appointment.booked").await.is_empty());
}

#[tokio::test]
async fn patients_book_for_themselves_staff_for_anyone_providers_not_at_all() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let (me, someone_else) = (app.patient().await, app.patient().await);
    let start = ten_am_local(clinic.tz, 2);
    let for_other = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": start, "patient_id": someone_else.id});
    assert_problem(
        app.post(&me, "/api/v1/appointments", &for_other).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(&clinic.provider, "/api/v1/appointments", &for_other)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let staff = app.user(Role::Staff);
    let r = app.post(&staff, "/api/v1/appointments", &for_other).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["patient_id"], someone_else.id.to_string());
    let unknown_patient = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": start + Duration::hours(1), "patient_id": uuid::Uuid::now_v7()});
    assert_problem(
        app.post(&staff, "/api/v1/appointments", &unknown_patient)
            .await,
        StatusCode::NOT_FOUND,
        "patient-not-found",
    )
    .await;
}

use chrono::{DateTime, Duration, Utc};
use contracts::scheduling::{
    AppointmentBooked, HoldConverted, HoldCreated, HoldExpired, HoldReleased,
};
use platform::{
    auth::Role,
    testing::{assert_problem, eventually, WAIT},
};
use reqwest::StatusCode;
use scheduling::clock::Clock;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{another_type, spawn_app, ten_am_local, Scheduling};

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

fn id(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_held_slot_is_kept_for_ten_minutes_from_everyone_else() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let (holder, other) = (app.patient().await, app.patient().await);
    let start = ten_am_local(clinic.tz, 3);
    let day = (start - Duration::hours(2), start + Duration::hours(3));

    let r = app.hold(&holder, &clinic, start).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let hold: Value = r.json().await.unwrap();
    let left = time(&hold["expires_at"]) - app.clock.now();
    assert!(
        left > Duration::minutes(9) && left <= Duration::minutes(10),
        "10 minutes by default: {left}"
    );
    assert_eq!(hold["status"], "held");
    assert_eq!(time(&hold["start"]), start);

    // Nobody else can book or hold it, through its buffer either.
    assert_problem(
        app.book(&other, &clinic, start).await,
        StatusCode::CONFLICT,
        "slot-taken",
    )
    .await;
    let long = another_type(
        &app,
        &clinic,
        serde_json::json!({"name": "Long", "duration_minutes": 45}),
    )
    .await;
    assert_problem(
        app.book(&other, &long, start + Duration::minutes(30)).await,
        StatusCode::CONFLICT,
        "slot-taken",
    )
    .await;
    assert_problem(
        app.hold(&other, &clinic, start).await,
        StatusCode::CONFLICT,
        "slot-taken",
    )
    .await;
    // Nor move an appointment into it.
    let elsewhere = app
        .booked(&other, &other, &clinic, start + Duration::hours(4))
        .await;
    assert_problem(
        app.reschedule(&other, &elsewhere, None, &json!({"start": start}))
            .await,
        StatusCode::CONFLICT,
        "slot-taken",
    )
    .await;
    // It is not offered to anyone.
    let free = app.slots(&other, &clinic, day.0, day.1).await;
    assert!(!free.contains(&start), "a held slot never shows");
    assert!(free.contains(&(start + Duration::hours(1))));

    // The holder sees the countdown; others do not see the hold at all.
    let path = format!("/api/v1/holds/{}", id(&hold));
    let seen = app.get_ok(&holder, &path).await;
    assert_eq!(seen["expires_at"], hold["expires_at"]);
    assert_problem(
        app.get(&other, &path).await,
        StatusCode::NOT_FOUND,
        "hold-not-found",
    )
    .await;

    let created = app.published::<HoldCreated>().await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].hold_id, id(&hold));
    assert_eq!(created[0].patient_id, holder.id);
    assert_eq!(created[0].changed_by, Some(holder.id));
}

#[tokio::test]
async fn booking_with_the_hold_id_converts_the_hold_into_the_appointment() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let (holder, other) = (app.patient().await, app.patient().await);
    let start = ten_am_local(clinic.tz, 2);
    let hold: Value = app
        .hold(&holder, &clinic, start)
        .await
        .json()
        .await
        .unwrap();
    let hold_id = id(&hold);
    let booking = |start: DateTime<Utc>| {
        json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id,
            "start": start, "hold_id": hold_id})
    };

    // Someone else's hold is no hold for them; another start is not the held slot.
    assert_problem(
        app.post(&other, "/api/v1/appointments", &booking(start))
            .await,
        StatusCode::NOT_FOUND,
        "hold-not-found",
    )
    .await;
    assert_problem(
        app.post(
            &holder,
            "/api/v1/appointments",
            &booking(start + Duration::hours(1)),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "hold-mismatch",
    )
    .await;

    let r = app
        .post(&holder, "/api/v1/appointments", &booking(start))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let a: Value = r.json().await.unwrap();
    assert_eq!(id(&a), hold_id, "the appointment keeps the hold's id");
    assert_eq!(a["status"], "booked");
    assert_eq!(time(&a["start"]), start);

    let path = format!("/api/v1/holds/{hold_id}");
    assert_eq!(app.get_ok(&holder, &path).await["status"], "converted");
    assert_problem(
        app.delete(&holder, &path).await,
        StatusCode::CONFLICT,
        "hold-converted",
    )
    .await;
    assert_problem(
        app.post(&holder, "/api/v1/appointments", &booking(start))
            .await,
        StatusCode::CONFLICT,
        "hold-converted",
    )
    .await;
    // Booked, it stays taken long after the hold would have lapsed.
    app.clock.advance(Duration::minutes(30));
    assert_problem(
        app.book(&other, &clinic, start).await,
        StatusCode::CONFLICT,
        "slot-taken",
    )
    .await;

    let converted = app.published::<HoldConverted>().await;
    assert_eq!(converted.len(), 1);
    assert_eq!(converted[0].appointment_id, Some(hold_id));
    let booked = app.published::<AppointmentBooked>().await;
    assert_eq!(booked.len(), 1);
    assert_eq!(booked[0].appointment_id, hold_id);
    let (rows, history): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM appointments), (SELECT count(*) FROM appointment_history)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((rows, history), (1, 1));
}

#[tokio::test]
async fn releasing_a_hold_frees_its_slot_at_once() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let (holder, other) = (app.patient().await, app.patient().await);
    let start = ten_am_local(clinic.tz, 2);
    let hold: Value = app
        .hold(&holder, &clinic, start)
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/holds/{}", id(&hold));

    assert_problem(
        app.delete(&other, &path).await,
        StatusCode::NOT_FOUND,
        "hold-not-found",
    )
    .await;
    assert_eq!(
        app.delete(&holder, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get_ok(&holder, &path).await["status"], "released");
    let free = app
        .slots(
            &other,
            &clinic,
            start - Duration::hours(1),
            start + Duration::hours(1),
        )
        .await;
    assert!(free.contains(&start));
    assert_eq!(
        app.book(&other, &clinic, start).await.status(),
        StatusCode::CREATED
    );
    // Releasing twice changes nothing.
    assert_eq!(
        app.delete(&holder, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.published::<HoldReleased>().await.len(), 1);
}

#[tokio::test]
async fn a_hold_lapses_by_the_clock_and_its_slot_is_offered_again() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::America::New_York).await;
    let (holder, other) = (app.patient().await, app.patient().await);
    let start = ten_am_local(clinic.tz, 2);
    let hold: Value = app
        .hold(&holder, &clinic, start)
        .await
        .json()
        .await
        .unwrap();
    let hold_id = id(&hold);
    let window = (start - Duration::hours(1), start + Duration::hours(1));
    assert!(!app
        .slots(&other, &clinic, window.0, window.1)
        .await
        .contains(&start));

    app.clock.advance(Duration::minutes(11));
    assert!(
        app.slots(&other, &clinic, window.0, window.1)
            .await
            .contains(&start),
        "free again without waiting for any sweeper"
    );
    let booking = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id,
        "start": start, "hold_id": hold_id});
    assert_problem(
        app.post(&holder, "/api/v1/appointments", &booking).await,
        StatusCode::CONFLICT,
        "hold-expired",
    )
    .await;
    let path = format!("/api/v1/holds/{hold_id}");
    assert_eq!(app.get_ok(&holder, &path).await["status"], "expired");
    assert_eq!(
        app.book(&other, &clinic, start).await.status(),
        StatusCode::CREATED
    );

    // The sweeper announces it.
    let expired = eventually(WAIT, "hold.expired", || async {
        let e = app.published::<HoldExpired>().await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].hold_id, hold_id);
    assert_eq!(expired[0].changed_by, None);
}

#[tokio::test]
async fn staff_hold_for_a_patient_and_a_patient_keeps_at_most_three_holds() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let (patient, other) = (app.patient().await, app.patient().await);
    let staff = app.user(Role::Staff);
    let start = ten_am_local(clinic.tz, 2);
    let body = |start: DateTime<Utc>, patient_id: Uuid| {
        json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id,
            "start": start, "patient_id": patient_id})
    };

    assert_problem(
        app.post(&other, "/api/v1/holds", &body(start, patient.id))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let r = app
        .post(&staff, "/api/v1/holds", &body(start, patient.id))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let held: Value = r.json().await.unwrap();
    assert_eq!(held["patient_id"], patient.id.to_string());
    // Their hold: the patient books it.
    let booking = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id,
        "start": start, "hold_id": held["id"]});
    assert_eq!(
        app.post(&patient, "/api/v1/appointments", &booking)
            .await
            .status(),
        StatusCode::CREATED
    );

    for hour in [4, 5, 6] {
        let r = app
            .hold(&other, &clinic, start + Duration::hours(hour))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    assert_problem(
        app.hold(&other, &clinic, start + Duration::hours(3)).await,
        StatusCode::CONFLICT,
        "hold-limit-reached",
    )
    .await;
    // The booking rules apply to holds as to bookings.
    assert_problem(
        app.hold(&patient, &clinic, start + Duration::minutes(7))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not-on-slot-grid",
    )
    .await;
}

#[tokio::test]
async fn racing_holds_and_bookings_of_one_slot_have_exactly_one_winner() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let start = ten_am_local(clinic.tz, 2);
    let mut patients = Vec::new();
    for _ in 0..12 {
        patients.push(app.patient().await);
    }
    let (app, clinic) = (&app, &clinic);
    let statuses: Vec<u16> =
        futures_util::future::join_all(patients.iter().enumerate().map(|(i, p)| async move {
            let r = if i % 2 == 0 {
                app.hold(p, clinic, start).await
            } else {
                app.book(p, clinic, start).await
            };
            r.status().as_u16()
        }))
        .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let live: i64 =
        sqlx::query_scalar("SELECT count(*) FROM appointments WHERE status IN ('held', 'booked')")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(live, 1);
}

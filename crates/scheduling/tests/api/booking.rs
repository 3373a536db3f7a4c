use chrono::{DateTime, Duration, Utc};
use contracts::scheduling::{AppointmentBooked, AppointmentCancelled, AppointmentNoShow};
use platform::{
    auth::Role,
    testing::{assert_problem, error_fields},
};
use reqwest::StatusCode;
use scheduling::domain::cancellation::FeeCap;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{
    another_type, eur, spawn_app, spawn_app_with, ten_am_local, Clinic, Scheduling, TestApp,
};

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
            .parse::<DateTime<Utc>>()
            .unwrap(),
        start
    );

    let after = app.slots(&patient, &clinic, day.0, day.1).await;
    assert!(!after.contains(&start), "a booked slot never shows");
    // Slots follow one another with their buffers: the next one stays.
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
    // Another type's slot whose buffer meets this booking's is a conflict
    // too: 10:40–11:00 needs 10:30–10:40 before it, the booking's buffer.
    let check = another_type(
        &app,
        &clinic,
        json!({"name": "Check", "duration_minutes": 20, "buffer_before_minutes": 10, "slot_step_minutes": 45}),
    )
    .await;
    assert_problem(
        app.book(&second, &check, start + Duration::minutes(40))
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
async fn racing_bookings_of_overlapping_slots_never_deadlock_or_overlap() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let first = ten_am_local(clinic.tz, 3);
    // The clinic's 10:00 and 11:00 (30 minutes, 10 of buffer) and a 45-minute
    // type's 10:30 and 11:15 between them: each start overlaps the next one's,
    // so every pair of neighbours races for shared time.
    let long = another_type(
        &app,
        &clinic,
        json!({"name": "Long", "duration_minutes": 45}),
    )
    .await;
    let starts: Vec<(&Clinic, DateTime<Utc>)> = vec![
        (&clinic, first),
        (&long, first + Duration::minutes(30)),
        (&clinic, first + Duration::minutes(60)),
        (&long, first + Duration::minutes(75)),
    ];
    let mut attempts = Vec::new();
    for _round in 0..4 {
        for (which, start) in &starts {
            attempts.push((app.patient().await, *which, *start));
        }
    }
    let app = &app;
    let statuses: Vec<(u16, DateTime<Utc>)> =
        futures_util::future::join_all(attempts.iter().map(|(p, which, start)| async move {
            (app.book(p, which, *start).await.status().as_u16(), *start)
        }))
        .await;
    assert!(
        statuses.iter().all(|(s, _)| *s == 201 || *s == 409),
        "only wins and slot-taken, never a deadlock or contention error: {statuses:?}"
    );
    let won: Vec<_> = statuses.iter().filter(|(s, _)| *s == 201).collect();
    assert!(
        (2..=starts.len()).contains(&won.len()),
        "at least every other slot is won: {statuses:?}"
    );
    let overlapping =
        scheduling::store::appointments::count_overlapping_active(&app.db, clinic.provider.id)
            .await
            .unwrap();
    assert_eq!(overlapping, 0);
    let (rows, history): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM appointments), (SELECT count(*) FROM appointment_history)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((rows, history), (won.len() as i64, won.len() as i64));
    assert_eq!(app.published::<AppointmentBooked>().await.len(), won.len());
}

/// The calendar lock is what keeps racing overlapping inserts from deadlocking
/// inside the exclusion check (a race too rare to provoke reliably in a test;
/// `scripts/bench-scheduling`'s contention run is where it showed). Here: a
/// booking waits while its provider's lock is held, and only for that provider.
#[tokio::test]
async fn a_booking_waits_for_its_providers_calendar_lock_and_no_other() {
    let app = spawn_app().await;
    let (busy, other) = (
        app.clinic(chrono_tz::UTC).await,
        app.clinic(chrono_tz::UTC).await,
    );
    // Two patients: ten_am_local can land both bookings on the same Monday.
    let (patient, another) = (app.patient().await, app.patient().await);
    let mut holder = app.db.begin().await.unwrap();
    scheduling::store::appointments::lock_provider_calendar(&mut holder, busy.provider.id)
        .await
        .unwrap();

    let r = app.book(&another, &other, ten_am_local(other.tz, 2)).await;
    assert_eq!(r.status(), StatusCode::CREATED, "another provider's lock");

    let waiting = app.book(&patient, &busy, ten_am_local(busy.tz, 3));
    tokio::pin!(waiting);
    let early = tokio::time::timeout(std::time::Duration::from_millis(500), &mut waiting).await;
    assert!(early.is_err(), "booked while the calendar lock was held");
    holder.rollback().await.unwrap();
    let r = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("booked once the lock was released");
    let status = r.status();
    assert_eq!(status, StatusCode::CREATED, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn the_booking_answer_is_the_stored_appointment_and_its_event_agrees() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let patient = app.patient().await;
    let r = app
        .book(&patient, &clinic, ten_am_local(clinic.tz, 3))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let booked: Value = r.json().await.unwrap();
    let id = booked["id"].as_str().unwrap();
    let stored: Value = app
        .get(&patient, &format!("/api/v1/appointments/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(booked, stored);
    let at = |field: &str| {
        booked[field]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap()
    };
    let data = &app.published::<AppointmentBooked>().await[0];
    assert_eq!(data.appointment_id, id.parse::<Uuid>().unwrap());
    assert_eq!(data.start, at("start"));
    assert_eq!(data.end, at("end"));
    assert_eq!(data.version, 1);
    assert_eq!(data.time_zone, "Europe/Berlin");
    let history: Vec<(i32, String)> = sqlx::query_as(
        "SELECT version, status FROM appointment_history WHERE appointment_id = $1::uuid",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(history, vec![(1, "booked".to_owned())]);
}

#[tokio::test]
async fn concurrent_retries_with_one_idempotency_key_book_once() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let body = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": ten_am_local(clinic.tz, 2)});
    let answers = futures_util::future::join_all(
        (0..8).map(|_| app.book_with_key(&patient, "racing-retry", &body)),
    )
    .await;
    let mut ids = Vec::new();
    for r in answers {
        assert_eq!(r.status(), StatusCode::CREATED);
        let a: Value = r.json().await.unwrap();
        ids.push(a["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry gets the first answer");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(app.published::<AppointmentBooked>().await.len(), 1);
}

#[tokio::test]
async fn a_retried_request_with_the_same_idempotency_key_gets_the_same_appointment() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 2);
    let body = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": start});
    let replayed = |r: &reqwest::Response| {
        r.headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let first = app.book_with_key(&patient, "retry-1", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(replayed(&first).as_deref(), Some("false"));
    let first: Value = first.json().await.unwrap();
    let again = app.book_with_key(&patient, "retry-1", &body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(
        replayed(&again).as_deref(),
        Some("true"),
        "a repeat says so"
    );
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
        app.book_with_key(&patient, "retry-1", &other).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
    )
    .await;
}

#[tokio::test]
async fn a_retried_booking_is_answered_as_the_first_time_even_when_the_rules_now_refuse() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 2);
    let body = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": start});
    let first = app.book_with_key(&patient, "late-retry", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();

    // Half an hour before the start: inside the type's hour of notice, and
    // the provider has taken the day off since.
    app.clock.set(start - Duration::minutes(30));
    let off = app
        .post(
            &clinic.provider,
            &format!("/api/v1/providers/{}/time-off", clinic.provider.id),
            &json!({"start": start - Duration::hours(2), "end": start + Duration::hours(6), "on_conflict": "keep"}),
        )
        .await;
    assert_eq!(off.status(), StatusCode::CREATED);
    let again = app.book_with_key(&patient, "late-retry", &body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    // A new request is refused now.
    assert_problem(
        app.book_with_key(&patient, "late-new", &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "inside-minimum-notice",
    )
    .await;
    assert_eq!(app.published::<AppointmentBooked>().await.len(), 1);
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
            Utc::now() + Duration::minutes(30),
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
    let unknown_type = json!({"provider_id": clinic.provider.id, "appointment_type_id": Uuid::now_v7(), "start": start});
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
    let r = app.get(&patient, "/api/v1/appointments/not-a-uuid").await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-path").await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
    assert!(app.published::<AppointmentBooked>().await.is_empty());
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
    let unknown_patient = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": start + Duration::hours(1), "patient_id": Uuid::now_v7()});
    assert_problem(
        app.post(&staff, "/api/v1/appointments", &unknown_patient)
            .await,
        StatusCode::NOT_FOUND,
        "patient-not-found",
    )
    .await;
}

#[tokio::test]
async fn the_patient_sees_the_cancellation_policy_when_booking() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let r = app
        .book(&patient, &clinic, ten_am_local(clinic.tz, 3))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let booked: Value = r.json().await.unwrap();
    let fee = json!({"amount_minor": 2500, "currency": "EUR"});
    assert_eq!(
        booked["cancellation_policy"],
        json!({"window_minutes": 1440, "late_cancel_fee": fee, "no_show_fee": fee})
    );
    // Every field the answer had before is still there, and only the policy is new.
    let mut fields: Vec<&str> = booked
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "appointment_type_id",
            "cancellation_policy",
            "end",
            "id",
            "late_cancellation",
            "patient_id",
            "provider_id",
            "start",
            "status",
            "version"
        ]
    );
    let stored: Value = app
        .get(
            &patient,
            &format!("/api/v1/appointments/{}", booked["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored, booked);
    let list: Value = app
        .get(&patient, "/api/v1/appointments")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        list["items"][0].get("cancellation_policy").is_none(),
        "lists keep their shape"
    );
}

fn new_type(price: i64, fee: i64) -> Value {
    json!({
        "name": "Check-up", "duration_minutes": 30,
        "price": {"amount_minor": price, "currency": "EUR"}, "mode": "in_person",
        "late_cancel_fee_minor": fee
    })
}

async fn create_type(app: &TestApp, clinic: &Clinic, body: &Value) -> reqwest::Response {
    let path = format!("/api/v1/providers/{}/appointment-types", clinic.provider.id);
    app.post(&clinic.provider, &path, body).await
}

#[tokio::test]
async fn a_fee_above_the_clinics_cap_is_refused_and_both_fees_are_listed() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    // The default cap: half the price.
    let problem = assert_problem(
        create_type(&app, &clinic, &new_type(6000, 3001)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["late_cancel_fee_minor"]);
    assert!(
        problem["detail"].as_str().unwrap().contains("50%"),
        "{problem}"
    );
    let r = create_type(&app, &clinic, &new_type(6000, 3000)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["late_cancel_fee"]["amount_minor"], 3000);
    assert_eq!(created["no_show_fee"]["amount_minor"], 3000);

    let path = format!("/api/v1/providers/{}/appointment-types", clinic.provider.id);
    let types: Value = app
        .get(&app.patient().await, &path)
        .await
        .json()
        .await
        .unwrap();
    let listed = types["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == created["id"])
        .unwrap();
    assert_eq!(listed["late_cancel_fee"], created["late_cancel_fee"]);
    assert_eq!(listed["no_show_fee"], created["no_show_fee"]);

    // A clinic configured lower (SCHEDULING_MAX_FEE_PERCENT=45).
    let strict = spawn_app_with(|c| c.max_fee = FeeCap::new(45).unwrap()).await;
    let clinic = strict.clinic(chrono_tz::UTC).await;
    let problem = assert_problem(
        create_type(&strict, &clinic, &new_type(6000, 2701)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&problem), ["late_cancel_fee_minor"]);
    let r = create_type(&strict, &clinic, &new_type(6000, 2700)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Types stored before the cap existed may carry a higher fee: what is shown
/// and what is charged is the cap.
#[tokio::test]
async fn a_fee_stored_above_the_cap_is_shown_and_charged_at_the_cap() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    sqlx::query("UPDATE appointment_types SET late_cancel_fee_minor = 5000 WHERE id = $1")
        .bind(clinic.type_id)
        .execute(&app.db)
        .await
        .unwrap();
    let patient = app.patient().await;
    let path = format!("/api/v1/providers/{}/appointment-types", clinic.provider.id);
    let types: Value = app.get(&patient, &path).await.json().await.unwrap();
    assert_eq!(types["items"][0]["late_cancel_fee"]["amount_minor"], 3000);
    assert_eq!(types["items"][0]["no_show_fee"]["amount_minor"], 3000);

    let start = ten_am_local(clinic.tz, 3);
    let late = app.booked(&patient, &patient, &clinic, start).await;
    let missed = app
        .booked(&patient, &patient, &clinic, start + Duration::hours(3))
        .await;
    let shown: Value = app
        .get(&patient, &format!("/api/v1/appointments/{late}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        shown["cancellation_policy"]["late_cancel_fee"]["amount_minor"],
        3000
    );
    assert_eq!(
        shown["cancellation_policy"]["no_show_fee"]["amount_minor"],
        3000
    );

    app.clock.set(start - Duration::hours(2));
    let r = app
        .post(
            &patient,
            &format!("/api/v1/appointments/{late}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.published::<AppointmentCancelled>().await[0].fee,
        Some(eur(3000))
    );
    app.clock
        .set(start + Duration::hours(3) + Duration::minutes(20));
    let r = app
        .post(
            &clinic.provider,
            &format!("/api/v1/appointments/{missed}/no-show"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.published::<AppointmentNoShow>().await[0].fee,
        Some(eur(3000))
    );
}

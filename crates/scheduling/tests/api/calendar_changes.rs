//! Issue 21: a slot grid that respects buffers, and changes of the hours under
//! the provider's calendar lock that never strand a booking unannounced.

use chrono::{DateTime, Duration, Utc};
use contracts::scheduling::AppointmentCancelled;
use platform::testing::{assert_problem, User};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{another_type, spawn_app, ten_am_local, Clinic, Scheduling, TestApp};

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn time_off_path(clinic: &Clinic) -> String {
    format!("/api/v1/providers/{}/time-off", clinic.provider.id)
}

/// The first free slot of the clinic's type on the weekday `days_ahead`.
async fn morning_slot(
    app: &TestApp,
    who: &User,
    clinic: &Clinic,
    days_ahead: i64,
) -> DateTime<Utc> {
    let nine = ten_am_local(clinic.tz, days_ahead) - Duration::hours(1);
    app.slots(who, clinic, nine, nine + Duration::hours(3))
        .await[0]
}

async fn appointment(app: &TestApp, who: &User, id: &str) -> Value {
    app.get_ok(who, &format!("/api/v1/appointments/{id}")).await
}

fn conflict_ids(problem: &Value) -> Vec<String> {
    problem["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_fifteen_minute_buffer_no_longer_removes_offered_slots() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let therapy = another_type(
        &app,
        &clinic,
        json!({"name": "Therapy", "duration_minutes": 30, "buffer_after_minutes": 15}),
    )
    .await;
    let types = app
        .get_ok(
            &patient,
            &format!("/api/v1/providers/{}/appointment-types", clinic.provider.id),
        )
        .await;
    let listed = types["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == therapy.type_id.to_string())
        .unwrap();
    assert_eq!(listed["slot_step_minutes"], 45, "the visit with its buffer");
    let nine = ten_am_local(clinic.tz, 3) - Duration::hours(1);
    let at = |m: i64| nine + Duration::minutes(m);
    let before = app
        .slots(&patient, &therapy, nine, nine + Duration::hours(3))
        .await;
    assert_eq!(before, [at(0), at(45), at(90), at(135)]);
    app.booked(&patient, &patient, &therapy, at(45)).await;
    let after = app
        .slots(&patient, &therapy, nine, nine + Duration::hours(3))
        .await;
    assert_eq!(after, [at(0), at(90), at(135)], "only the booked slot went");

    // A step shorter than the visit with its buffers would let slots exclude one another.
    let r = app
        .post(
            &clinic.provider,
            &format!("/api/v1/providers/{}/appointment-types", clinic.provider.id),
            &json!({"name": "Short", "duration_minutes": 30, "buffer_after_minutes": 15, "slot_step_minutes": 30,
                "price": {"amount_minor": 9000, "currency": "EUR"}, "mode": "in_person"}),
        )
        .await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert_eq!(problem["errors"][0]["field"], "slot_step_minutes");
}

#[tokio::test]
async fn time_off_over_a_booking_answers_409_listing_it_and_changes_nothing() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let patient = app.patient().await;
    let start = morning_slot(&app, &patient, &clinic, 3).await;
    let id = app.booked(&patient, &patient, &clinic, start).await;

    let off = json!({"start": start - Duration::minutes(30), "end": start + Duration::hours(2), "reason": "dentist"});
    let r = app
        .post(&clinic.provider, &time_off_path(&clinic), &off)
        .await;
    let problem = assert_problem(r, StatusCode::CONFLICT, "availability-conflicts").await;
    let conflicts = problem["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{problem}");
    assert_eq!(conflicts[0]["id"], id.as_str());
    assert_eq!(conflicts[0]["start"], stamp(start));
    assert_eq!(conflicts[0]["patient_id"], patient.id.to_string());

    // Nothing was written: no time off, the booking stands.
    let list = app.get_ok(&clinic.provider, &time_off_path(&clinic)).await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    assert_eq!(appointment(&app, &patient, &id).await["status"], "booked");

    // Time off elsewhere strands nothing.
    let elsewhere = json!({"start": start + Duration::days(1), "end": start + Duration::days(1) + Duration::hours(2)});
    let r = app
        .post(&clinic.provider, &time_off_path(&clinic), &elsewhere)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["cancelled"].is_null() && body["kept"].is_null(),
        "{body}"
    );
}

#[tokio::test]
async fn cancel_conflicts_cancels_them_without_a_fee_and_publishes_the_cancellation() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    // Inside the 24-hour cancellation window: the patient would owe a fee.
    let now = Utc::now();
    let soon = app
        .slots(
            &patient,
            &clinic,
            now + Duration::hours(2),
            now + Duration::hours(22),
        )
        .await;
    let start = soon[0];
    let id = app.booked(&patient, &patient, &clinic, start).await;

    let off = json!({"start": start, "end": start + Duration::hours(1), "reason": "sick",
        "on_conflict": {"cancel_conflicts": {"reason": "The doctor is ill"}}});
    let r = app
        .post(&clinic.provider, &time_off_path(&clinic), &off)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["cancelled"][0]["id"], id.as_str(), "{body}");
    assert!(body["kept"].is_null(), "{body}");

    let a = appointment(&app, &patient, &id).await;
    assert_eq!(a["status"], "cancelled");
    assert_eq!(a["cancel_reason"], "The doctor is ill");
    assert_eq!(a["late_cancellation"], false);
    let cancelled = app.published::<AppointmentCancelled>().await;
    assert_eq!(cancelled.len(), 1);
    let e = &cancelled[0];
    assert_eq!(e.appointment_id, id.parse::<Uuid>().unwrap());
    assert_eq!(e.reason.as_deref(), Some("The doctor is ill"));
    assert!(e.fee.is_none() && !e.late, "{e:?}");
    assert_eq!(e.changed_by, clinic.provider.id);

    // A reason is required.
    let again = json!({"start": start + Duration::days(1), "end": start + Duration::days(1) + Duration::hours(1),
        "on_conflict": {"cancel_conflicts": {"reason": "  "}}});
    let r = app
        .post(&clinic.provider, &time_off_path(&clinic), &again)
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
}

#[tokio::test]
async fn keep_leaves_bookings_outside_new_hours_as_exceptions() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::America::New_York).await;
    let patient = app.patient().await;
    let start = morning_slot(&app, &patient, &clinic, 4).await;
    let id = app.booked(&patient, &patient, &clinic, start).await;
    let path = format!("/api/v1/providers/{}/availability", clinic.provider.id);
    let afternoons: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "13:00", "end": "17:00"}))
        .collect();

    let r = app
        .put(&clinic.provider, &path, &json!({"weekly": afternoons}))
        .await;
    let problem = assert_problem(r, StatusCode::CONFLICT, "availability-conflicts").await;
    assert_eq!(conflict_ids(&problem), [id.as_str()]);
    assert_eq!(
        app.get_ok(&clinic.provider, &path).await["weekly"]
            .as_array()
            .unwrap()
            .len(),
        14,
        "the hours are unchanged"
    );

    let r = app
        .put(
            &clinic.provider,
            &path,
            &json!({"weekly": afternoons, "on_conflict": "keep"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["kept"][0]["id"], id.as_str(), "{body}");
    assert_eq!(appointment(&app, &patient, &id).await["status"], "booked");
    let kept: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM availability_exceptions WHERE appointment_id = $1 AND change = 'hours'",
    )
    .bind(id.parse::<Uuid>().unwrap())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(kept, 1);
    // No morning slot is offered any more; the kept booking is not a conflict again.
    assert!(app
        .slots(
            &patient,
            &clinic,
            start - Duration::hours(1),
            start + Duration::hours(2)
        )
        .await
        .is_empty());
    let r = app
        .put(&clinic.provider, &path, &json!({"weekly": afternoons[..5]}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // A date override that closes a day with a booking answers 409 too.
    let afternoon = app
        .slots(
            &patient,
            &clinic,
            start + Duration::days(1),
            start + Duration::days(2),
        )
        .await;
    let other = app.patient().await;
    if let Some(s) = afternoon.first() {
        let booked = app.booked(&other, &other, &clinic, *s).await;
        let date = s.with_timezone(&clinic.tz).date_naive();
        let opath = format!(
            "/api/v1/providers/{}/availability/overrides/{date}",
            clinic.provider.id
        );
        let r = app
            .put(&clinic.provider, &opath, &json!({"windows": []}))
            .await;
        let problem = assert_problem(r, StatusCode::CONFLICT, "availability-conflicts").await;
        assert_eq!(conflict_ids(&problem), [booked.as_str()]);
        let r = app
            .put(
                &clinic.provider,
                &opath,
                &json!({"windows": [], "on_conflict": "keep"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["date"], date.to_string());
        assert_eq!(body["kept"][0]["id"], booked.as_str(), "{body}");
    }
}

#[tokio::test]
async fn removing_an_override_that_held_a_booking_asks_what_to_do() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let day = ten_am_local(clinic.tz, 5).date_naive();
    let opath = format!(
        "/api/v1/providers/{}/availability/overrides/{day}",
        clinic.provider.id
    );
    // An evening that day only.
    let r = app
        .put(
            &clinic.provider,
            &opath,
            &json!({"windows": [{"start": "18:00", "end": "20:00"}]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let evening = day.and_hms_opt(18, 0, 0).unwrap().and_utc();
    let id = app.booked(&patient, &patient, &clinic, evening).await;

    let r = app.delete(&clinic.provider, &opath).await;
    let problem = assert_problem(r, StatusCode::CONFLICT, "availability-conflicts").await;
    assert_eq!(conflict_ids(&problem), [id.as_str()]);
    let r = app
        .delete(
            &clinic.provider,
            &format!("{opath}?on_conflict=cancel_conflicts"),
        )
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    let r = app
        .delete(
            &clinic.provider,
            &format!("{opath}?on_conflict=cancel_conflicts&reason=Evening%20clinic%20closed"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["cancelled"][0]["id"], id.as_str(), "{body}");
    assert_eq!(
        appointment(&app, &patient, &id).await["status"],
        "cancelled"
    );
}

/// A booking and a time-off write racing for the same hour end consistent:
/// either the booking is refused, or the time off answers 409 listing it.
#[tokio::test]
async fn a_booking_racing_a_time_off_write_never_lands_inside_it() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let patient = app.patient().await;
    let mut refused = 0;
    let mut conflicted = 0;
    for round in 0..12 {
        let start = morning_slot(&app, &patient, &clinic, 2 + round).await;
        let off =
            json!({"start": start - Duration::minutes(30), "end": start + Duration::hours(1)});
        let path = time_off_path(&clinic);
        let (booking, time_off) = tokio::join!(
            app.book(&patient, &clinic, start),
            app.post(&clinic.provider, &path, &off),
        );
        match (booking.status(), time_off.status()) {
            (StatusCode::CREATED, StatusCode::CONFLICT) => {
                let booked: Value = booking.json().await.unwrap();
                let problem =
                    assert_problem(time_off, StatusCode::CONFLICT, "availability-conflicts").await;
                assert_eq!(
                    conflict_ids(&problem),
                    [booked["id"].as_str().unwrap().to_owned()]
                );
                conflicted += 1;
            }
            (StatusCode::UNPROCESSABLE_ENTITY, StatusCode::CREATED) => {
                assert_problem(
                    booking,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "outside-availability",
                )
                .await;
                refused += 1;
            }
            (b, t) => panic!("round {round}: booking {b}, time off {t}"),
        }
    }
    // Whatever the order, no booked appointment lies in time off.
    let inside: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM appointments a JOIN time_off t ON t.provider_id = a.provider_id AND t.during && a.during
         WHERE a.provider_id = $1 AND a.status = 'booked'",
    )
    .bind(clinic.provider.id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(inside, 0);
    assert_eq!(refused + conflicted, 12);
}

#[tokio::test]
async fn time_off_releases_a_hold_it_covers_so_it_cannot_become_a_booking() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = morning_slot(&app, &patient, &clinic, 3).await;
    let r = app.hold(&patient, &clinic, start).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let hold: Value = r.json().await.unwrap();
    let hold_id = hold["id"].as_str().unwrap().to_owned();

    // A hold is no booking: the time off goes through and releases it.
    let off = json!({"start": start, "end": start + Duration::hours(1)});
    let r = app
        .post(&clinic.provider, &time_off_path(&clinic), &off)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let seen = app
        .get_ok(&patient, &format!("/api/v1/holds/{hold_id}"))
        .await;
    assert_eq!(seen["status"], "released", "{seen}");
    let body = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id,
        "start": start, "hold_id": hold_id});
    let r = app.post(&patient, "/api/v1/appointments", &body).await;
    assert_problem(r, StatusCode::CONFLICT, "hold-expired").await;
}

/// The booking checked the hours, then waits for the calendar lock while a
/// change takes that hour away: once it has the lock it sees the calendar's
/// new version, checks again and is refused.
#[tokio::test]
async fn a_booking_checked_before_a_change_of_hours_checks_again_under_the_lock() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = morning_slot(&app, &patient, &clinic, 3).await;
    let mut change = app.db.begin().await.unwrap();
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('scheduling.provider:' || $1::text, 0))",
    )
    .bind(clinic.provider.id)
    .execute(&mut *change)
    .await
    .unwrap();
    let db = &app.db;
    let provider = clinic.provider.id;
    let (booking, ()) = tokio::join!(app.book(&patient, &clinic, start), async move {
        // Until the booking, its rules checked, waits for the lock.
        platform::testing::eventually(
            platform::testing::WAIT,
            "the booking to wait for the lock",
            || async move {
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                )
                .fetch_one(db)
                .await
                .ok()?;
                (waiting > 0).then_some(())
            },
        )
        .await;
        sqlx::query(
            "INSERT INTO time_off (id, provider_id, during, created_by) VALUES ($1, $2, tstzrange($3, $4), $2)",
        )
        .bind(Uuid::now_v7())
        .bind(provider)
        .bind(start - Duration::hours(1))
        .bind(start + Duration::hours(1))
        .execute(&mut *change)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO calendar_versions (provider_id, version) VALUES ($1, 1)
             ON CONFLICT (provider_id) DO UPDATE SET version = calendar_versions.version + 1",
        )
        .bind(provider)
        .execute(&mut *change)
        .await
        .unwrap();
        change.commit().await.unwrap();
    });
    assert_problem(
        booking,
        StatusCode::UNPROCESSABLE_ENTITY,
        "outside-availability",
    )
    .await;
    let booked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM appointments WHERE provider_id = $1")
            .bind(provider)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(booked, 0);
}

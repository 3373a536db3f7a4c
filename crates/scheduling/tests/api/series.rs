//! Issue 21: recurring series that keep their local time across daylight
//! saving, refuse as a whole when asked to, and cancel from one occurrence on.

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use contracts::scheduling::{AppointmentBooked, AppointmentCancelled};
use contracts::Event;
use platform::{
    auth::Role,
    testing::{assert_problem, User},
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Clinic, Scheduling, TestApp};

/// 10:00 in Berlin on Tuesday 16 March 2027, the last Tuesday but one before
/// the clocks go forward (28 March); the clinic's clock a day before it.
async fn berlin_clinic_before_spring(app: &TestApp) -> (Clinic, DateTime<Utc>) {
    let berlin = chrono_tz::Europe::Berlin;
    let first = berlin
        .with_ymd_and_hms(2027, 3, 16, 10, 0, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc);
    app.clock.set(first - Duration::days(1));
    (app.clinic(berlin).await, first)
}

fn series_body(clinic: &Clinic, patient: &User, first: DateTime<Utc>, extra: Value) -> Value {
    let mut body = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id,
        "patient_id": patient.id, "first_start": first, "every_weeks": 1});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

fn occurrences(series: &Value) -> &Vec<Value> {
    series["occurrences"].as_array().unwrap()
}

fn starts(series: &Value) -> Vec<DateTime<Utc>> {
    occurrences(series)
        .iter()
        .map(|o| o["start"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn a_weekly_series_of_six_keeps_ten_oclock_local_across_the_spring_change() {
    let app = spawn_app().await;
    let (clinic, first) = berlin_clinic_before_spring(&app).await;
    let (patient, staff) = (app.patient().await, app.user(Role::Staff));
    let mut tap = app.tap(&["appointment.booked"]).await;

    let r = app
        .post(
            &staff,
            "/api/v1/appointment-series",
            &series_body(&clinic, &patient, first, json!({"count": 6})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let series: Value = r.json().await.unwrap();
    let starts = starts(&series);
    let hours_utc: Vec<u32> = starts.iter().map(|s| s.hour()).collect();
    assert_eq!(hours_utc, [9, 9, 8, 8, 8, 8], "CET then CEST");
    for (i, start) in starts.iter().enumerate() {
        let local = start.with_timezone(&chrono_tz::Europe::Berlin);
        assert_eq!((local.hour(), local.minute()), (10, 0));
        assert_eq!(
            *start - first,
            Duration::weeks(i as i64) - Duration::hours(i64::from(i >= 2))
        );
    }
    assert_eq!(series["time_zone"], "Europe/Berlin");
    for o in occurrences(&series) {
        assert_eq!(o["appointment"]["status"], "booked", "{o}");
        assert_eq!(o["appointment"]["patient_id"], patient.id.to_string());
        assert!(o["not_booked"].is_null());
    }

    // Each occurrence is an ordinary booking: its own event (its own email
    // and calendar file), its own place in the patient's list.
    let mut announced = Vec::new();
    for _ in 0..6 {
        let e = tap.next().await;
        assert_eq!(e.event_type, AppointmentBooked::TYPE);
        announced.push(
            e.data["start"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap(),
        );
    }
    announced.sort();
    assert_eq!(announced, starts);
    let mine = app.get_ok(&patient, "/api/v1/appointments?limit=50").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 6);

    // The patient and the provider read it back; another patient cannot.
    let path = format!(
        "/api/v1/appointment-series/{}",
        series["id"].as_str().unwrap()
    );
    assert_eq!(
        app.get_ok(&patient, &path).await["occurrences"],
        series["occurrences"]
    );
    app.get_ok(&clinic.provider, &path).await;
    let stranger = app.patient().await;
    let r = app.get(&stranger, &path).await;
    assert_problem(r, StatusCode::NOT_FOUND, "series-not-found").await;
}

#[tokio::test]
async fn all_or_nothing_refuses_the_series_when_one_occurrence_is_taken() {
    let app = spawn_app().await;
    let (clinic, first) = berlin_clinic_before_spring(&app).await;
    let (patient, other, staff) = (
        app.patient().await,
        app.patient().await,
        app.user(Role::Staff),
    );
    // Someone else has the third Tuesday.
    let third = chrono_tz::Europe::Berlin
        .with_ymd_and_hms(2027, 3, 30, 10, 0, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc);
    app.booked(&staff, &other, &clinic, third).await;

    let body = series_body(
        &clinic,
        &patient,
        first,
        json!({"count": 4, "all_or_nothing": true}),
    );
    let r = app.post(&staff, "/api/v1/appointment-series", &body).await;
    let problem = assert_problem(r, StatusCode::CONFLICT, "series-conflicts").await;
    let listed = problem["occurrences"].as_array().unwrap();
    assert_eq!(listed.len(), 4);
    assert!(listed[2]["not_booked"]["type"]
        .as_str()
        .unwrap()
        .ends_with("/slot-taken"));
    assert!(listed.iter().filter(|o| o["not_booked"].is_null()).count() == 3);
    let mine = app.get_ok(&patient, "/api/v1/appointments").await;
    assert_eq!(
        mine["items"].as_array().unwrap().len(),
        0,
        "nothing was booked"
    );

    // Without it, the others are booked and the taken one says why.
    let body = series_body(&clinic, &patient, first, json!({"count": 4}));
    let r = app.post(&staff, "/api/v1/appointment-series", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let series: Value = r.json().await.unwrap();
    let o = occurrences(&series);
    assert!(o[2]["appointment"].is_null());
    assert!(o[2]["not_booked"]["type"]
        .as_str()
        .unwrap()
        .ends_with("/slot-taken"));
    assert_eq!(
        o[2]["start"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        third
    );
    let mine = app.get_ok(&patient, "/api/v1/appointments").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn cancelling_this_and_all_following_leaves_the_earlier_ones_booked() {
    let app = spawn_app().await;
    let (clinic, first) = berlin_clinic_before_spring(&app).await;
    let patient = app.patient().await;
    let provider = clinic.provider.clone();
    // The provider books on their own calendar.
    let body = series_body(&clinic, &patient, first, json!({"until": "2027-04-13"}));
    let r = app
        .post(&provider, "/api/v1/appointment-series", &body)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let series: Value = r.json().await.unwrap();
    assert_eq!(
        occurrences(&series).len(),
        5,
        "16 March to 13 April, weekly"
    );
    let id = series["id"].as_str().unwrap();
    let fourth = occurrences(&series)[3]["appointment"]["id"].clone();

    let mut tap = app.tap(&["appointment.cancelled"]).await;
    let r = app
        .post(
            &provider,
            &format!("/api/v1/appointment-series/{id}/cancel"),
            &json!({"from": fourth, "reason": "Course of treatment ends early"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let after: Value = r.json().await.unwrap();
    let statuses: Vec<&str> = occurrences(&after)
        .iter()
        .map(|o| o["appointment"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["booked", "booked", "booked", "cancelled", "cancelled"]
    );
    for _ in 0..2 {
        let e = tap.next().await;
        assert_eq!(e.event_type, AppointmentCancelled::TYPE);
        assert_eq!(e.data["reason"], "Course of treatment ends early");
    }
    tap.assert_quiet().await;

    // One occurrence alone: the ordinary cancellation.
    let second = occurrences(&after)[1]["appointment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            &patient,
            &format!("/api/v1/appointments/{second}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let now = app
        .get_ok(&patient, &format!("/api/v1/appointment-series/{id}"))
        .await;
    assert_eq!(occurrences(&now)[1]["appointment"]["status"], "cancelled");
    assert_eq!(occurrences(&now)[2]["appointment"]["status"], "booked");
}

#[tokio::test]
async fn only_staff_and_the_provider_book_series_and_bad_series_are_problems() {
    let app = spawn_app().await;
    let (clinic, first) = berlin_clinic_before_spring(&app).await;
    let patient = app.patient().await;
    let staff = app.user(Role::Staff);
    let body = series_body(&clinic, &patient, first, json!({"count": 2}));
    for who in [&patient, &app.user(Role::Provider)] {
        let r = app.post(who, "/api/v1/appointment-series", &body).await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for (extra, field) in [
        (json!({"count": 2, "until": "2027-04-13"}), "count"),
        (json!({}), "count"),
        (json!({"count": 53}), "count"),
        (json!({"count": 2, "every_weeks": 0}), "every_weeks"),
        (json!({"until": "2027-03-01"}), "until"),
    ] {
        let r = app
            .post(
                &staff,
                "/api/v1/appointment-series",
                &series_body(&clinic, &patient, first, extra),
            )
            .await;
        let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let unknown = app.user(Role::Patient);
    let r = app
        .post(
            &staff,
            "/api/v1/appointment-series",
            &series_body(&clinic, &unknown, first, json!({"count": 2})),
        )
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "patient-not-found").await;
    // Off the grid: every occurrence says so, nothing is booked.
    let off = first + Duration::minutes(7);
    let r = app
        .post(
            &staff,
            "/api/v1/appointment-series",
            &series_body(&clinic, &patient, off, json!({"count": 2})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let series: Value = r.json().await.unwrap();
    for o in occurrences(&series) {
        assert!(
            o["not_booked"]["type"]
                .as_str()
                .unwrap()
                .ends_with("/not-on-slot-grid"),
            "{o}"
        );
    }
}

#[tokio::test]
async fn a_series_sent_twice_under_one_idempotency_key_is_booked_once() {
    let app = spawn_app().await;
    let (clinic, first) = berlin_clinic_before_spring(&app).await;
    let (patient, staff) = (app.patient().await, app.user(Role::Staff));
    let body = series_body(&clinic, &patient, first, json!({"count": 3}));
    let send = |body: Value| {
        app.request(reqwest::Method::POST, "/api/v1/appointment-series", &staff)
            .header("Idempotency-Key", "series-double-click")
            .json(&body)
            .send()
    };
    let (a, b) = futures_util::future::join(send(body.clone()), send(body.clone())).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.status(), b.status()),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["id"], b["id"], "the same series");
    let mine = app.get_ok(&patient, "/api/v1/appointments").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 3);
    // The key with another request is refused.
    let other = series_body(&clinic, &patient, first, json!({"count": 2}));
    let r = send(other).await.unwrap();
    assert_problem(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
    )
    .await;
}

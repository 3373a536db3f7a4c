//! Issue 21: daily caps per provider and per type, and minimum notice in
//! calendar days.

use chrono::{DateTime, Duration, Utc};
use platform::{
    auth::Role,
    testing::{assert_problem, User},
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{another_type, spawn_app, ten_am_local, Clinic, Scheduling, TestApp};

async fn set_cap(app: &TestApp, who: &User, clinic: &Clinic, cap: Value) -> reqwest::Response {
    let path = format!(
        "/api/v1/providers/{}/availability/daily-cap",
        clinic.provider.id
    );
    app.put(who, &path, &json!({ "daily_cap": cap })).await
}

/// The clinic's free starts on the local day of `ten`.
async fn day_slots(
    app: &TestApp,
    who: &User,
    clinic: &Clinic,
    ten: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let nine = ten - Duration::hours(1);
    app.slots(who, clinic, nine, nine + Duration::hours(8))
        .await
}

#[tokio::test]
async fn a_provider_at_their_daily_cap_offers_nothing_more_that_day() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let (a, b, c) = (
        app.patient().await,
        app.patient().await,
        app.patient().await,
    );
    let r = set_cap(&app, &clinic.provider, &clinic, json!(2)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let path = format!(
        "/api/v1/providers/{}/availability/daily-cap",
        clinic.provider.id
    );
    assert_eq!(app.get_ok(&a, &path).await["daily_cap"], 2);

    let ten = ten_am_local(clinic.tz, 3);
    let next_day = ten + Duration::days(1);
    let first = app.booked(&a, &a, &clinic, ten).await;
    assert!(
        !day_slots(&app, &c, &clinic, ten).await.is_empty(),
        "one left"
    );
    app.booked(&b, &b, &clinic, ten + Duration::hours(1)).await;
    assert!(
        day_slots(&app, &c, &clinic, ten).await.is_empty(),
        "the day is full"
    );
    assert!(
        !day_slots(&app, &c, &clinic, next_day).await.is_empty(),
        "the next day is not"
    );

    // Asking anyway: refused, for a booking and for a hold alike.
    let r = app.book(&c, &clinic, ten + Duration::hours(4)).await;
    assert_problem(r, StatusCode::CONFLICT, "daily-cap-reached").await;
    let r = app.hold(&c, &clinic, ten + Duration::hours(4)).await;
    assert_problem(r, StatusCode::CONFLICT, "daily-cap-reached").await;

    // A booking moving within its full day is not one more.
    let r = app
        .reschedule(
            &a,
            &first,
            None,
            &json!({"start": ten + Duration::hours(4)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // A cancellation makes room; lifting the cap lifts the limit.
    let r = app
        .post(
            &a,
            &format!("/api/v1/appointments/{first}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    app.booked(&c, &c, &clinic, ten).await;
    assert!(day_slots(&app, &a, &clinic, ten).await.is_empty());
    let r = set_cap(&app, &clinic.provider, &clinic, Value::Null).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!day_slots(&app, &a, &clinic, ten).await.is_empty());
}

#[tokio::test]
async fn a_types_cap_counts_only_that_type() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let intake = another_type(
        &app,
        &clinic,
        json!({"name": "Intake", "duration_minutes": 30, "daily_cap": 1}),
    )
    .await;
    let (a, b) = (app.patient().await, app.patient().await);
    let ten = ten_am_local(clinic.tz, 3);
    app.booked(&a, &a, &intake, ten).await;
    assert!(
        day_slots(&app, &b, &intake, ten).await.is_empty(),
        "one intake a day"
    );
    let r = app.book(&b, &intake, ten + Duration::hours(4)).await;
    assert_problem(r, StatusCode::CONFLICT, "daily-cap-reached").await;
    assert!(
        !day_slots(&app, &b, &clinic, ten).await.is_empty(),
        "consultations go on"
    );
    app.booked(&b, &b, &clinic, ten + Duration::hours(4)).await;
}

#[tokio::test]
async fn racing_bookings_never_pass_the_cap() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    set_cap(&app, &clinic.provider, &clinic, json!(1)).await;
    let ten = ten_am_local(clinic.tz, 3);
    let starts = day_slots(&app, &clinic.provider, &clinic, ten).await;
    let mut patients = Vec::new();
    for _ in &starts {
        patients.push(app.patient().await);
    }
    // Different slots of one day, all at once: exactly one lands.
    let attempts = patients
        .iter()
        .zip(&starts)
        .map(|(p, s)| app.book(p, &clinic, *s));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(starts.len() >= 4, "{starts:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn notice_in_calendar_days_closes_today_and_tomorrow() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let planned = another_type(
        &app,
        &clinic,
        json!({"name": "Planned", "duration_minutes": 30, "min_notice_days": 2}),
    )
    .await;
    let patient = app.patient().await;
    // Early in the morning, two days before 10:00 the day after tomorrow.
    let in_two_days = ten_am_local(clinic.tz, 5);
    app.clock.set(in_two_days - Duration::hours(52));
    let tomorrow = in_two_days - Duration::days(1);
    assert!(day_slots(&app, &patient, &planned, tomorrow)
        .await
        .is_empty());
    let r = app.book(&patient, &planned, tomorrow).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "inside-minimum-notice").await;
    assert!(day_slots(&app, &patient, &planned, in_two_days)
        .await
        .contains(&in_two_days));
    app.booked(&patient, &patient, &planned, in_two_days).await;
}

#[tokio::test]
async fn caps_are_the_providers_and_staffs_to_set_and_checked() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    for who in [&patient, &app.user(Role::Provider)] {
        let r = set_cap(&app, who, &clinic, json!(5)).await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let staff = app.user(Role::Staff);
    for bad in [json!(0), json!(501)] {
        let r = set_cap(&app, &staff, &clinic, bad).await;
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    }
    assert_eq!(
        set_cap(&app, &staff, &clinic, json!(8)).await.status(),
        StatusCode::OK
    );
    let path = format!("/api/v1/providers/{}/appointment-types", clinic.provider.id);
    for (field, value) in [("daily_cap", json!(0)), ("min_notice_days", json!(366))] {
        let mut body = json!({"name": "X", "duration_minutes": 30,
            "price": {"amount_minor": 100, "currency": "EUR"}, "mode": "in_person"});
        body[field] = value;
        let r = app.post(&clinic.provider, &path, &body).await;
        let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
        assert_eq!(problem["errors"][0]["field"], field);
    }
}

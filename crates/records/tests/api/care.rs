//! Care windows end to end, one test per row of the rule (`platform::care`):
//! appointment states set by scheduling's events, placed in time by their
//! `occurred_at`, open or close the provider's read and write access.

use chrono::{DateTime, Duration, Utc};
use contracts::scheduling::AppointmentStatus::{self, Cancelled, CheckedIn, Completed, NoShow};
use platform::testing::{appointment, assert_problem, User};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{notes, spawn_app, TestApp};

/// (read, write) for `provider` on `patient`'s notes.
async fn access(app: &TestApp, provider: &User, patient: &User) -> (StatusCode, StatusCode) {
    let read = app.get(provider, &notes(patient.id)).await.status();
    let write = app
        .post(
            provider,
            &notes(patient.id),
            &json!({"text": "Seen in clinic."}),
        )
        .await
        .status();
    (read, write)
}

const OPEN: (StatusCode, StatusCode) = (StatusCode::OK, StatusCode::CREATED);
const CLOSED: (StatusCode, StatusCode) = (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN);

async fn with(
    start: DateTime<Utc>,
    changes: &[(AppointmentStatus, DateTime<Utc>)],
) -> (TestApp, User, User) {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app
        .provider_with_appointment(&patient, start, changes)
        .await;
    (app, provider, patient)
}

#[tokio::test]
async fn an_appointment_booked_8_days_ahead_does_not_open_the_record_yet() {
    let (app, provider, patient) = with(Utc::now() + Duration::days(8), &[]).await;
    assert_problem(
        app.get(&provider, &notes(patient.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(access(&app, &provider, &patient).await, CLOSED);
    let log = app.access_log(&patient).await;
    assert!(log.iter().all(|e| e["reason"] == "no_care_relationship"));
}

#[tokio::test]
async fn an_appointment_booked_6_days_ahead_opens_read_and_write() {
    let (app, provider, patient) = with(Utc::now() + Duration::days(6), &[]).await;
    assert_eq!(access(&app, &provider, &patient).await, OPEN);
}

#[tokio::test]
async fn a_checked_in_appointment_keeps_the_record_open() {
    let start = Utc::now() - Duration::minutes(10);
    let (app, provider, patient) = with(start, &[(CheckedIn, Utc::now())]).await;
    assert_eq!(access(&app, &provider, &patient).await, OPEN);
}

#[tokio::test]
async fn cancelling_before_check_in_closes_the_record_at_once() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let start = Utc::now() + Duration::days(2);
    let (provider, id) = app.provider_with_appointment(&patient, start, &[]).await;
    assert_eq!(access(&app, &provider, &patient).await, OPEN);

    let cancelled = appointment(id, patient.id, provider.id, start, Cancelled, 2);
    app.appointment_event(&cancelled, Utc::now()).await;
    assert_eq!(access(&app, &provider, &patient).await, CLOSED);
}

#[tokio::test]
async fn a_no_show_closes_the_record() {
    let start = Utc::now() - Duration::hours(1);
    let (app, provider, patient) = with(start, &[(NoShow, Utc::now())]).await;
    assert_eq!(access(&app, &provider, &patient).await, CLOSED);
}

#[tokio::test]
async fn a_visit_completed_today_keeps_read_and_write() {
    let start = Utc::now() - Duration::hours(1);
    let (app, provider, patient) =
        with(start, &[(CheckedIn, start), (Completed, Utc::now())]).await;
    assert_eq!(access(&app, &provider, &patient).await, OPEN);
}

#[tokio::test]
async fn a_visit_completed_91_days_ago_no_longer_opens_the_record() {
    let start = Utc::now() - Duration::days(91) - Duration::hours(1);
    let (app, provider, patient) =
        with(start, &[(Completed, Utc::now() - Duration::days(91))]).await;
    assert_eq!(access(&app, &provider, &patient).await, CLOSED);
}

//! A provider's calendar feed (issue 21): a secret, rotatable subscription URL
//! serving the provider's schedule as iCalendar, read without an access token.

use chrono::{DateTime, Duration, Utc};
use contracts::scheduling::{AppointmentCompleted, AppointmentNoShow, AppointmentStatus};
use icalendar::parser::{read_calendar, unfold};
use notifications::clock::Clock;
use platform::events::Envelope;
use platform::{
    auth::Role,
    testing::{assert_problem, maildev::MailDev, Anonymous, User},
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{ics_utc, spawn_app, Booking, TestApp};

/// One VEVENT as (UID, SEQUENCE, DTSTART, DTEND, SUMMARY), read by the parser.
type Event = (String, String, String, String, String);

/// The feed at `path` without an access token: its content type, cache
/// policy, calendar name and events, parsed by `icalendar`'s parser.
async fn read_feed(app: &TestApp, path: &str) -> (String, String, String, Vec<Event>) {
    let r = app.get(&Anonymous, path).await;
    assert_eq!(r.status(), StatusCode::OK);
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (content_type, cache) = (header("content-type"), header("cache-control"));
    let text = r.text().await.unwrap();
    let unfolded = unfold(&text);
    let cal = read_calendar(&unfolded).expect("a valid iCalendar feed");
    let prop = |props: &[icalendar::parser::Property<'_>], name: &str| {
        props
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.val.to_string())
            .unwrap_or_default()
    };
    let name = prop(&cal.properties, "X-WR-CALNAME");
    assert_eq!(prop(&cal.properties, "VERSION"), "2.0");
    let events = cal
        .components
        .iter()
        .filter(|c| c.name == "VEVENT")
        .map(|e| {
            (
                prop(&e.properties, "UID"),
                prop(&e.properties, "SEQUENCE"),
                prop(&e.properties, "DTSTART"),
                prop(&e.properties, "DTEND"),
                prop(&e.properties, "SUMMARY"),
            )
        })
        .collect();
    (content_type, cache, name, events)
}

fn uid(b: &Booking) -> String {
    format!("{}@carebook.dev", b.appointment_id)
}

/// The event `b` should appear as, at `version`, with `summary`.
fn event(b: &Booking, version: i32, summary: &str) -> Event {
    (
        uid(b),
        version.to_string(),
        ics_utc(b.start),
        ics_utc(b.start + Duration::minutes(30)),
        summary.to_owned(),
    )
}

/// The path of a feed URL handed out, checked to be below the public base.
fn feed_path(app: &TestApp, created: &Value) -> String {
    let url = created["url"].as_str().expect("a url");
    let base = app.config.portal_url.to_string();
    let path = url.strip_prefix(&base).expect("below the public base URL");
    let token = path
        .strip_prefix("/api/v1/calendar-feeds/")
        .expect("a feed path");
    assert_eq!(token.len(), 43, "{token}");
    path.to_owned()
}

async fn create(app: &TestApp, who: &User, provider: Uuid, body: Value) -> Value {
    let r = app
        .post(
            who,
            &format!("/api/v1/providers/{provider}/calendar-feed"),
            &body,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

/// Another booking with `b`'s provider, `days` ahead, for a new patient named `patient`.
async fn same_provider(app: &TestApp, b: &Booking, days: i64, patient: &str) -> Booking {
    let n = Uuid::now_v7().simple().to_string();
    let patient = app
        .register(
            Role::Patient,
            patient,
            &format!("other.{}@example.org", &n[20..]),
        )
        .await;
    Booking {
        appointment_id: Uuid::now_v7(),
        patient,
        provider: b.provider.clone(),
        start: b.start + Duration::days(days),
    }
}

#[tokio::test]
async fn the_feed_lists_the_providers_booked_appointments_in_utc_without_patient_data() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let mut b = app.booking(3).await;
    let provider = b.provider.user.clone();
    // Booked, then moved: the feed shows the newest version.
    app.deliver(&b.booked()).await;
    let moved_to = b.start + Duration::hours(2);
    app.deliver(&b.rescheduled(moved_to, 2)).await;
    // Cancelled: left out.
    let cancelled = same_provider(&app, &b, 1, "Carl Cancelled").await;
    app.deliver(&cancelled.booked()).await;
    app.deliver(&cancelled.cancelled(2, "Feeling better")).await;
    // Out of the window, either way.
    let far = same_provider(&app, &b, 200, "Fay Faraway").await;
    app.deliver(&far.booked()).await;
    let mut long_ago = same_provider(&app, &b, 0, "Lou Longago").await;
    long_ago.start = app.clock.now() - Duration::days(40);
    app.deliver(&long_ago.booked()).await;
    // Yesterday's: still listed (the feed reaches 30 days back).
    let mut past = same_provider(&app, &b, 0, "Pia Past").await;
    past.start = b.start - Duration::days(4);
    app.deliver(&past.booked()).await;
    // …and completed since: listed at its new version.
    app.deliver(
        &Envelope::of::<AppointmentCompleted>(&past.appointment(AppointmentStatus::Completed, 2))
            .unwrap(),
    )
    .await;
    // A visit the patient missed drops out.
    let mut missed = same_provider(&app, &b, 0, "Nico Noshow").await;
    missed.start = b.start - Duration::days(3);
    app.deliver(&missed.booked()).await;
    app.deliver(
        &Envelope::of::<AppointmentNoShow>(&missed.appointment(AppointmentStatus::NoShow, 2))
            .unwrap(),
    )
    .await;
    // Another provider's appointment never shows.
    let other = app.booking(4).await;
    app.deliver(&other.booked()).await;

    let created = create(&app, &provider, provider.id, json!({})).await;
    assert_eq!(created["patient_initials"], false);
    let created_at: DateTime<Utc> = created["created_at"].as_str().unwrap().parse().unwrap();
    assert!((app.clock.now() - created_at).num_seconds().abs() < 60);
    let path = feed_path(&app, &created);

    let (content_type, cache, name, events) = read_feed(&app, &path).await;
    assert_eq!(content_type, "text/calendar; charset=utf-8");
    assert_eq!(cache, "no-store");
    assert_eq!(name, "Carebook — Dr. Lena Vogel");
    assert_eq!(
        events,
        vec![
            event(&past, 2, "Consultation"),
            event(&b, 2, "Consultation"),
        ]
    );
    // Nothing about the patients, whoever they are.
    let text = app.get(&Anonymous, &path).await.text().await.unwrap();
    for secret in [
        "Paula",
        "Patient",
        "Pia",
        b.patient.email.as_str(),
        past.patient.email.as_str(),
        "Feeling better",
        "P. P.",
    ] {
        assert!(!text.contains(secret), "{secret} in\n{text}");
    }

    // The settings, without the URL.
    let settings = app
        .get_ok(
            &provider,
            &format!("/api/v1/providers/{}/calendar-feed", provider.id),
        )
        .await;
    assert_eq!(
        settings,
        json!({"patient_initials": false, "created_at": created["created_at"]})
    );
}

#[tokio::test]
async fn with_patient_initials_opted_in_each_event_shows_them() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(2).await;
    let provider = b.provider.user.clone();
    let anna = same_provider(&app, &b, 1, "Anna Maria Perez").await;
    app.deliver(&b.booked()).await;
    app.deliver(&anna.booked()).await;

    let created = create(
        &app,
        &provider,
        provider.id,
        json!({"patient_initials": true}),
    )
    .await;
    assert_eq!(created["patient_initials"], true);
    let (_, _, _, events) = read_feed(&app, &feed_path(&app, &created)).await;
    assert_eq!(
        events,
        vec![
            event(&b, 1, "Consultation (P. P.)"),
            event(&anna, 1, "Consultation (A. P.)"),
        ]
    );
    let text = app
        .get(&Anonymous, &feed_path(&app, &created))
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains("Anna"), "{text}");
    assert!(!text.contains("Paula"), "{text}");
}

#[tokio::test]
async fn rotating_the_feed_retires_the_old_url_and_deleting_ends_it() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(2).await;
    app.deliver(&b.booked()).await;
    let provider = b.provider.user.clone();
    let settings_path = format!("/api/v1/providers/{}/calendar-feed", provider.id);

    let r = app.get(&provider, &settings_path).await;
    assert_problem(r, StatusCode::NOT_FOUND, "calendar-feed-not-found").await;

    let first = feed_path(&app, &create(&app, &provider, provider.id, json!({})).await);
    assert_eq!(read_feed(&app, &first).await.3.len(), 1);
    // Staff may rotate it too (and opt in to initials).
    let staff = app.user(Role::Staff);
    let second_created = create(&app, &staff, provider.id, json!({"patient_initials": true})).await;
    let second = feed_path(&app, &second_created);
    assert_ne!(first, second);
    let r = app.get(&Anonymous, &first).await;
    assert_problem(r, StatusCode::NOT_FOUND, "calendar-feed-not-found").await;
    assert_eq!(
        read_feed(&app, &second).await.3,
        vec![event(&b, 1, "Consultation (P. P.)")]
    );
    let settings = app.get_ok(&provider, &settings_path).await;
    assert_eq!(settings["patient_initials"], true);
    // Only the hash of the token is kept.
    let token = second.rsplit('/').next().unwrap();
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT token_hash FROM calendar_feeds WHERE provider_id = $1")
            .bind(provider.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored.len(), 32);
    assert_ne!(stored, token.as_bytes());

    let r = app.delete(&provider, &settings_path).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.get(&Anonymous, &second).await;
    assert_problem(r, StatusCode::NOT_FOUND, "calendar-feed-not-found").await;
    let r = app.get(&provider, &settings_path).await;
    assert_problem(r, StatusCode::NOT_FOUND, "calendar-feed-not-found").await;
    let r = app.delete(&provider, &settings_path).await;
    assert_problem(r, StatusCode::NOT_FOUND, "calendar-feed-not-found").await;

    // An unknown token is answered the same way, whatever it looks like.
    for unknown in ["x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let r = app
            .get(&Anonymous, &format!("/api/v1/calendar-feeds/{unknown}"))
            .await;
        assert_problem(r, StatusCode::NOT_FOUND, "calendar-feed-not-found").await;
    }
}

#[tokio::test]
async fn only_the_provider_themself_staff_and_admins_manage_a_feed() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(2).await;
    let provider = b.provider.user.clone();
    let path = format!("/api/v1/providers/{}/calendar-feed", provider.id);
    let patient = b.patient.user.clone();
    let other_provider = app.user(Role::Provider);
    for who in [&patient, &other_provider] {
        let r = app.post(who, &path, &json!({})).await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    create(&app, &provider, provider.id, json!({})).await;
    for who in [&patient, &other_provider] {
        let r = app.get(who, &path).await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
        let r = app.delete(who, &path).await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let admin = app.user(Role::Admin);
    assert_eq!(app.get_ok(&admin, &path).await["patient_initials"], false);

    // Managing needs a token; reading a feed never does, but needs a real one.
    let r = app.get(&Anonymous, &path).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app.post(&Anonymous, &path, &json!({})).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .post(&provider, &path, &json!({"patient_initials": "yes"}))
        .await;
    assert_eq!(r.status().as_u16() / 100, 4);

    let doc = app.get_ok(&Anonymous, "/openapi.json").await;
    assert!(doc["paths"]["/api/v1/calendar-feeds/{token}"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/providers/{id}/calendar-feed"]["post"].is_object());
}

//! Issue 21 end to end, through the gateway with every service running on
//! the real PostgreSQL, Redis, RabbitMQ and MailDev: a weekly series of six
//! whose dates cross the spring change keeps its local time; time off over a
//! booking answers 409 listing it, and with `cancel_conflicts` the patient
//! gets the cancellation email; a patient in another zone than the provider
//! sees both times in the confirmation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::time::Duration;

use carebook::stack::Stack;
use chrono::{DateTime, Duration as Span, TimeZone, Timelike, Utc};
use platform::{demo, testing::eventually};
use reqwest::Method;
use serde_json::{json, Value};
use support::{free_slots, register_verified_in, Caller};
use uuid::Uuid;

const PROVIDER1: usize = 2; // Europe/Berlin
const PATIENT2: usize = 6;

fn id(user: usize) -> Uuid {
    demo::DEMO_USERS[user].id
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .expect("an RFC 3339 time")
}

#[tokio::test]
async fn a_series_keeps_its_local_time_across_dst_and_time_off_over_it_asks_first() {
    let stack = Stack::start().await.expect("the stack starts");
    // Early March 2027: six weekly visits from mid-March cross the change of
    // 28 March (Berlin goes from UTC+1 to UTC+2).
    stack
        .clock
        .set(Utc.with_ymd_and_hms(2027, 3, 8, 7, 0, 0).single().unwrap());
    let staff = Caller::demo(&stack, "staff").await;
    let provider = id(PROVIDER1);
    let kind = staff
        .read(&format!("/api/v1/providers/{provider}/appointment-types"))
        .await["items"][0]
        .clone();
    let type_id = kind["id"].as_str().unwrap().to_owned();
    let slots = staff
        .read(&format!(
            "/api/v1/providers/{provider}/slots?appointment_type_id={type_id}&from={}&to={}",
            "2027-03-15T00:00:00Z", "2027-03-20T00:00:00Z"
        ))
        .await;
    let first = at(&slots["items"][0]["start"]);

    let series = staff
        .expect(
            Method::POST,
            "/api/v1/appointment-series",
            json!({"provider_id": provider, "appointment_type_id": type_id,
                "patient_id": id(PATIENT2), "first_start": rfc3339(first),
                "every_weeks": 1, "count": 6, "all_or_nothing": true}),
            201,
        )
        .await;
    let berlin = chrono_tz::Europe::Berlin;
    let local = |t: DateTime<Utc>| t.with_timezone(&berlin);
    let occurrences = series["occurrences"].as_array().unwrap();
    assert_eq!(occurrences.len(), 6, "{series}");
    let starts: Vec<DateTime<Utc>> = occurrences.iter().map(|o| at(&o["start"])).collect();
    for (o, start) in occurrences.iter().zip(&starts) {
        assert_eq!(o["appointment"]["status"], "booked", "{o}");
        assert_eq!(
            local(*start).time(),
            local(first).time(),
            "the same wall-clock time"
        );
    }
    assert_eq!(
        starts[5] - starts[0],
        Span::weeks(5) - Span::hours(1),
        "an hour less in UTC"
    );
    assert_ne!(starts[0].hour(), starts[5].hour());

    // Each occurrence is confirmed to the patient with its own calendar entry.
    let patient = demo::DEMO_USERS[PATIENT2].email;
    let confirmations = stack
        .mail
        .wait_for(6, "six confirmations", |m| {
            m.is_to(patient) && m.subject().starts_with("Appointment confirmed: ")
        })
        .await;
    let mut uids = std::collections::HashSet::new();
    for m in &confirmations {
        let ics = stack.mail.calendar(m).await;
        let uid = ics
            .lines()
            .find(|l| l.starts_with("UID:"))
            .expect("a UID")
            .to_owned();
        uids.insert(uid);
    }
    assert_eq!(uids.len(), 6, "one calendar entry per occurrence");

    // Time off over the last occurrence: refused, listing it, until the
    // request says what to do; then the patient is told.
    let last = occurrences[5]["appointment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let off = json!({"start": rfc3339(starts[5] - Span::hours(1)), "end": rfc3339(starts[5] + Span::hours(2)),
        "reason": "Conference"});
    let provider1 = Caller::demo(&stack, "provider1").await;
    let path = format!("/api/v1/providers/{provider}/time-off");
    let refused = provider1
        .expect(Method::POST, &path, off.clone(), 409)
        .await;
    assert!(
        refused["type"]
            .as_str()
            .unwrap()
            .ends_with("/availability-conflicts"),
        "{refused}"
    );
    assert_eq!(refused["conflicts"][0]["id"], last.as_str(), "{refused}");
    let mut resolved = off;
    resolved["on_conflict"] =
        json!({"cancel_conflicts": {"reason": "The clinic is closed that day"}});
    provider1.expect(Method::POST, &path, resolved, 201).await;
    stack
        .mail
        .wait_for(1, "the cancellation", |m| {
            m.is_to(patient) && m.subject().starts_with("Appointment cancelled: ")
        })
        .await;
    let now = staff
        .read(&format!(
            "/api/v1/appointment-series/{}",
            series["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        now["occurrences"][5]["appointment"]["status"], "cancelled",
        "{now}"
    );
    assert_eq!(
        now["occurrences"][4]["appointment"]["status"], "booked",
        "{now}"
    );
}

#[tokio::test]
async fn a_patient_in_new_york_sees_their_time_and_the_clinics_in_the_confirmation() {
    let stack = Stack::start().await.expect("the stack starts");
    let email = format!("tz-{}@example.test", Uuid::new_v4().simple());
    let password = "a patient far from the clinic";
    register_verified_in(
        &stack,
        &email,
        password,
        "Nora York",
        Some("America/New_York"),
    )
    .await;
    let patient = Caller::login(&stack, "the New York patient", &email, password).await;
    let profile = patient
        .eventually(Method::GET, "/api/v1/patients/me", Value::Null, 200)
        .await;
    assert_eq!(profile["time_zone"], "America/New_York", "{profile}");

    let provider = id(PROVIDER1);
    let type_id = patient
        .read(&format!("/api/v1/providers/{provider}/appointment-types"))
        .await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = free_slots(&patient, provider, &type_id).await[0].clone();
    patient
        .eventually(
            Method::POST,
            "/api/v1/appointments",
            json!({"provider_id": provider, "appointment_type_id": type_id, "start": start}),
            201,
        )
        .await;
    let confirmation = eventually(Duration::from_secs(30), "the confirmation", || async {
        stack
            .mail
            .emails()
            .await
            .into_iter()
            .find(|m| m.is_to(&email) && m.subject().starts_with("Appointment confirmed: "))
    })
    .await;
    let start: DateTime<Utc> = start.parse().unwrap();
    let new_york = start.with_timezone(&chrono_tz::America::New_York);
    let berlin = start.with_timezone(&chrono_tz::Europe::Berlin);
    let text = confirmation.text();
    assert!(
        text.contains(&new_york.format("%H:%M").to_string()),
        "{text}"
    );
    assert!(text.contains(&berlin.format("%H:%M").to_string()), "{text}");
    assert!(
        text.contains("America/New_York") && text.contains("Europe/Berlin"),
        "{text}"
    );
    let subject = confirmation.subject();
    assert!(
        subject.contains(&new_york.format("%H:%M").to_string()),
        "in her zone: {subject}"
    );
}

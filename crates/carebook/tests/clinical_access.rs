//! Issue 17 end to end: who may open a patient's chart, proved through the
//! gateway with every service running on the real PostgreSQL, Redis, RabbitMQ
//! and MailDev. A booking cancelled before check-in leaves its provider
//! nothing; a visit completed today opens the record to read and write; visit
//! steps wait for their time; break-glass reads but never writes, tells the
//! patient at once, waits in the admins' review queue, shows in the patient's
//! access log and is limited to three grants a day.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use carebook::stack::Stack;
use chrono::{DateTime, Duration as Span, Utc};
use platform::demo;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{free_slots, Caller};
use uuid::Uuid;

const PROVIDER1: usize = 2;
const PROVIDER2: usize = 3;
const PROVIDER3: usize = 4;
const PATIENT1: usize = 5;
const PATIENT2: usize = 6;

fn id(user: usize) -> Uuid {
    demo::DEMO_USERS[user].id
}

/// The problem `type` of an answer ends with `/kind`.
fn problem_is(answer: &Value, kind: &str) -> bool {
    answer["type"]
        .as_str()
        .is_some_and(|t| t.ends_with(&format!("/{kind}")))
}

/// The first free slot of `provider`'s first appointment type, with that type:
/// one close enough (inside the 7 days before a visit) that booking it opens
/// the care window at once.
async fn soonest_slot(patient: &Caller, provider: Uuid) -> (String, DateTime<Utc>) {
    let types = patient
        .read(&format!("/api/v1/providers/{provider}/appointment-types"))
        .await;
    let type_id = types["items"][0]["id"].as_str().expect("a type").to_owned();
    let slots = free_slots(patient, provider, &type_id).await;
    let start = slots.first().expect("a free slot in the next two weeks");
    let at: DateTime<Utc> = start.parse().expect("an RFC 3339 start");
    assert!(
        at - Utc::now() < Span::days(7) - Span::hours(1),
        "the soonest slot ({start}) lies inside the 7-day care window"
    );
    (type_id, at)
}

/// `patient` books `provider` at `start`; the appointment's id. Scheduling
/// learns of the demo accounts by event, so the first tries may not know them.
async fn book(patient: &Caller, provider: Uuid, type_id: &str, start: DateTime<Utc>) -> String {
    let booked = patient
        .eventually(
            Method::POST,
            "/api/v1/appointments",
            json!({
                "provider_id": provider,
                "appointment_type_id": type_id,
                "start": start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            }),
            201,
        )
        .await;
    assert_eq!(booked["status"], "booked", "{booked}");
    booked["id"].as_str().expect("an id").to_owned()
}

/// What the provider's access to the patient's record rests on now
/// (`GET …/records/access`).
async fn basis(provider: &Caller, patient: Uuid) -> Value {
    provider
        .read(&format!("/api/v1/patients/{patient}/records/access"))
        .await
}

#[tokio::test]
async fn a_booking_cancelled_before_check_in_leaves_its_provider_no_access() {
    let stack = Stack::start().await.expect("the stack starts");
    let patient = Caller::demo(&stack, "patient2").await;
    let provider = Caller::demo(&stack, "provider2").await;
    let patient_id = id(PATIENT2);
    let notes = format!("/api/v1/patients/{patient_id}/records/notes");
    let summary = format!("/api/v1/patients/{patient_id}/summary");

    // Before any appointment the chart is closed to provider2.
    provider.expect(Method::GET, &notes, Value::Null, 403).await;
    provider
        .expect(Method::GET, &summary, Value::Null, 403)
        .await;

    // Booking inside the 7-day window opens both (records and the directory
    // learn of it by event).
    let (type_id, start) = soonest_slot(&patient, id(PROVIDER2)).await;
    let appointment = book(&patient, id(PROVIDER2), &type_id, start).await;
    provider
        .eventually(Method::GET, &notes, Value::Null, 200)
        .await;
    provider
        .eventually(Method::GET, &summary, Value::Null, 200)
        .await;
    let open = basis(&provider, patient_id).await;
    assert_eq!(open["basis"], "care", "{open}");
    assert!(open["until"].is_null(), "open while booked: {open}");

    // Cancelled before check-in: access ends at that moment, no grace.
    patient
        .expect(
            Method::POST,
            &format!("/api/v1/appointments/{appointment}/cancel"),
            json!({ "reason": "feeling better" }),
            200,
        )
        .await;
    let refusal = provider
        .eventually(Method::GET, &notes, Value::Null, 403)
        .await;
    assert!(problem_is(&refusal, "forbidden"), "{refusal}");
    provider
        .eventually(Method::GET, &summary, Value::Null, 403)
        .await;
    provider
        .expect(
            Method::POST,
            &notes,
            json!({ "text": "written after the cancellation" }),
            403,
        )
        .await;
    let closed = basis(&provider, patient_id).await;
    assert_eq!(closed["basis"], "none", "{closed}");
}

#[tokio::test]
async fn visit_steps_wait_for_their_time_and_a_visit_completed_today_opens_read_and_write() {
    let stack = Stack::start().await.expect("the stack starts");
    let patient = Caller::demo(&stack, "patient1").await;
    let provider = Caller::demo(&stack, "provider1").await;
    let patient_id = id(PATIENT1);
    let (type_id, start) = soonest_slot(&patient, id(PROVIDER1)).await;
    let appointment = book(&patient, id(PROVIDER1), &type_id, start).await;
    let step = |name: &str| format!("/api/v1/appointments/{appointment}/{name}");

    // Before the start a visit can be neither missed nor over; check-in opens
    // an hour before it.
    let early = provider
        .expect(Method::POST, &step("no-show"), Value::Null, 409)
        .await;
    assert!(problem_is(&early, "too-early"), "no-show: {early}");
    if start - Utc::now() > Span::minutes(61) {
        let early = provider
            .expect(Method::POST, &step("check-in"), Value::Null, 409)
            .await;
        assert!(problem_is(&early, "too-early"), "check-in: {early}");
    }
    // Half an hour before the start: check-in, but no completing yet.
    stack.clock.set((start - Span::minutes(30)).max(Utc::now()));
    provider
        .expect(Method::POST, &step("check-in"), Value::Null, 200)
        .await;
    let early = provider
        .expect(Method::POST, &step("complete"), Value::Null, 409)
        .await;
    assert!(problem_is(&early, "too-early"), "complete: {early}");
    // Ten minutes into the visit it is completed.
    stack.clock.set(start + Span::minutes(10));
    let done = provider
        .expect(Method::POST, &step("complete"), Value::Null, 200)
        .await;
    assert_eq!(done["status"], "completed", "{done}");

    // Records learns of the completion: a follow-up window of 90 days from
    // today, to read and to write.
    let access = platform::testing::eventually(support::WAIT, "the follow-up window", || async {
        let a = basis(&provider, patient_id).await;
        (a["basis"] == "care" && a["until"].is_string()).then_some(a)
    })
    .await;
    let until: DateTime<Utc> = access["until"].as_str().unwrap().parse().unwrap();
    let follow_up = until - Utc::now();
    assert!(
        follow_up > Span::days(89) && follow_up <= Span::days(90),
        "90 days from the completion today: {access}"
    );
    let notes = format!("/api/v1/patients/{patient_id}/records/notes");
    let text = "Seen today; follow up in three months.";
    let note = provider
        .expect(Method::POST, &notes, json!({ "text": text }), 201)
        .await;
    let read = provider.read(&notes).await;
    assert!(
        read["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == note["id"] && n["text"] == text),
        "the note as written: {read}"
    );
    provider
        .eventually(
            Method::GET,
            &format!("/api/v1/patients/{patient_id}/summary"),
            Value::Null,
            200,
        )
        .await;
    // Another provider, without a visit, still reads nothing.
    Caller::demo(&stack, "provider3")
        .await
        .expect(Method::GET, &notes, Value::Null, 403)
        .await;
}

#[tokio::test]
async fn break_glass_reads_but_never_writes_tells_the_patient_is_reviewed_and_allows_three_a_day() {
    let stack = Stack::start().await.expect("the stack starts");
    let provider = Caller::demo(&stack, "provider3").await;
    let patient = Caller::demo(&stack, "patient1").await;
    // The demo admin signs in with a TOTP code (the shared helper does the step).
    let admin = Caller::demo(&stack, "admin").await;
    let (patient_id, provider_id) = (id(PATIENT1), id(PROVIDER3));
    let notes = format!("/api/v1/patients/{patient_id}/records/notes");
    let grant_path = format!("/api/v1/patients/{patient_id}/records/break-glass");
    provider.expect(Method::GET, &notes, Value::Null, 403).await;

    // The grant: read-only, 30 minutes by default.
    let reason = "Unconscious in the emergency room, no relatives reachable";
    let grant = provider
        .expect(Method::POST, &grant_path, json!({ "reason": reason }), 201)
        .await;
    assert_eq!(grant["read_only"], true, "{grant}");
    let grant_id = grant["id"].as_str().expect("a grant id").to_owned();
    let granted: DateTime<Utc> = grant["granted_at"].as_str().unwrap().parse().unwrap();
    let expires: DateTime<Utc> = grant["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires - granted, Span::minutes(30), "{grant}");
    let explained = basis(&provider, patient_id).await;
    assert_eq!(explained["basis"], "break_glass", "{explained}");

    // It reads, and never writes.
    provider.read(&notes).await;
    let refused = provider
        .expect(
            Method::POST,
            &notes,
            json!({ "text": "written under break-glass" }),
            403,
        )
        .await;
    assert!(
        problem_is(&refused, "care-relationship-required"),
        "{refused}"
    );

    // The patient is told at once: who, and why.
    let told = stack
        .mail
        .wait_for(1, "the patient's break-glass email", |m| {
            m.is_to(demo::DEMO_USERS[PATIENT1].email)
                && m.subject() == "Emergency access to your health record"
        })
        .await;
    let body = told[0].text();
    assert!(body.contains(reason), "the reason in the email: {body}");
    assert!(body.contains("Nair"), "the provider in the email: {body}");
    // Without a privacy contact configured, every admin reviews.
    stack
        .mail
        .wait_for(1, "the reviewer's break-glass email", |m| {
            m.is_to(demo::DEMO_USERS[0].email)
                && m.subject() == "Break-glass access to a patient's record"
        })
        .await;

    // The admin's queue holds it with its reason, unreviewed.
    let queue = admin
        .read("/api/v1/records/break-glass?status=unreviewed")
        .await;
    let queued = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == grant_id.as_str())
        .unwrap_or_else(|| panic!("the grant in the review queue: {queue}"))
        .clone();
    assert_eq!(queued["reason"], reason, "{queued}");
    assert_eq!(queued["provider_id"], provider_id.to_string(), "{queued}");
    assert!(queued["review"].is_null(), "{queued}");
    // Nobody else reads the queue.
    for other in [&provider, &patient] {
        other
            .expect(
                Method::GET,
                "/api/v1/records/break-glass?status=unreviewed",
                Value::Null,
                403,
            )
            .await;
    }

    // The patient's access log shows the grant and the read it allowed, apart
    // from ordinary access.
    let log_path = format!("/api/v1/patients/{patient_id}/records/access-log");
    let log = patient.read(&log_path).await;
    let entries = log["items"].as_array().unwrap();
    let by_provider = |action: &str, outcome: &str| {
        entries
            .iter()
            .find(|e| {
                e["actor_id"] == provider_id.to_string()
                    && e["action"] == action
                    && e["outcome"] == outcome
            })
            .unwrap_or_else(|| panic!("a {action} entry of the provider, {outcome}: {log}"))
    };
    let granted_entry = by_provider("break_glass", "allowed");
    assert_eq!(granted_entry["break_glass"], true, "{granted_entry}");
    assert!(
        granted_entry["expires_at"].is_string(),
        "when it ends: {granted_entry}"
    );
    let read_entry = by_provider("read", "allowed");
    assert_eq!(read_entry["break_glass"], true, "{read_entry}");
    // The read refused before the grant is an ordinary entry.
    let refused_entry = by_provider("read", "denied");
    assert_eq!(refused_entry["break_glass"], false, "{refused_entry}");

    // The admin reviews it, once.
    let review = format!("/api/v1/records/break-glass/{grant_id}/review");
    let verdict = json!({ "outcome": "justified", "note": "Confirmed with the emergency team." });
    let reviewed = admin
        .expect(Method::POST, &review, verdict.clone(), 200)
        .await;
    assert_eq!(reviewed["review"]["outcome"], "justified", "{reviewed}");
    let again = admin.expect(Method::POST, &review, verdict, 409).await;
    assert!(problem_is(&again, "already-reviewed"), "{again}");
    let unreviewed = admin
        .read("/api/v1/records/break-glass?status=unreviewed")
        .await;
    assert!(
        !unreviewed.to_string().contains(&grant_id),
        "reviewed grants leave the queue: {unreviewed}"
    );
    let done = admin
        .read("/api/v1/records/break-glass?status=reviewed")
        .await;
    assert!(done.to_string().contains(&grant_id), "{done}");
    let log = patient.read(&log_path).await;
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "break_glass_review" && e["actor_id"] == id(0).to_string()),
        "the review in the patient's access log: {log}"
    );

    // Three grants in 24 hours; the fourth is refused, with when to retry.
    for patient in [id(PATIENT2), patient_id] {
        provider
            .expect(
                Method::POST,
                &format!("/api/v1/patients/{patient}/records/break-glass"),
                json!({ "reason": reason, "minutes": 15 }),
                201,
            )
            .await;
    }
    let fourth = provider
        .send(
            Method::POST,
            &format!("/api/v1/patients/{}/records/break-glass", id(PATIENT2)),
            Some(&json!({ "reason": reason })),
        )
        .await;
    assert_eq!(
        fourth.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        fourth.text
    );
    assert!(
        problem_is(&fourth.json, "break-glass-limit"),
        "{}",
        fourth.text
    );
    let retry: u64 = fourth
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(
        retry > 23 * 3600 && retry <= 24 * 3600,
        "until the first grant leaves the 24 hours: {retry}"
    );
}

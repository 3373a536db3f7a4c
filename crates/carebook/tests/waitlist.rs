//! Issue 20 end to end: no freed slot goes unused, a slot picked is not lost
//! while confirming, and the links in appointment emails work without
//! signing in, proved through the gateway with every service running on the
//! real PostgreSQL, Redis, RabbitMQ and MailDev. Patient B waits for a
//! provider's type in a time range; patient A cancels a booking inside it;
//! within a minute B is emailed "A slot opened" with a link, the slot is kept
//! for B (patient C is refused it) and B claims it with the link's token. C
//! holds another slot, which nobody else can book, and books it with the
//! hold. The cancel link in a confirmation email cancels exactly its
//! appointment under the policy, and the reschedule link shows the free times,
//! both without a token.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::time::{Duration, Instant};

use carebook::stack::Stack;
use chrono::{DateTime, Duration as Span, Utc};
use platform::{
    demo,
    testing::{eventually, maildev::Email},
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{free_slots, register_verified, Answer, Caller, WAIT};
use uuid::Uuid;

const PROVIDER1: usize = 2; // Europe/Berlin
const PATIENT1: usize = 5;
const PATIENT2: usize = 6;

const OFFER_SUBJECT: &str = "A slot opened";
const CONFIRMED_PREFIX: &str = "Appointment confirmed: ";

fn id(user: usize) -> Uuid {
    demo::DEMO_USERS[user].id
}

/// The problem `type` of an answer ends with `/kind`.
fn problem_is(answer: &Value, kind: &str) -> bool {
    answer["type"]
        .as_str()
        .is_some_and(|t| t.ends_with(&format!("/{kind}")))
}

fn at(start: &Value) -> DateTime<Utc> {
    start
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an RFC 3339 time: {start}"))
}

fn parse(start: &str) -> DateTime<Utc> {
    start.parse().expect("an RFC 3339 time")
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `provider`'s first appointment type (its JSON).
async fn first_type(caller: &Caller, provider: Uuid) -> Value {
    let types = caller
        .read(&format!("/api/v1/providers/{provider}/appointment-types"))
        .await;
    types["items"][0].clone()
}

/// `method path` as `caller`, sent again while scheduling does not know the
/// patient yet (a new patient arrives by event): the first other answer.
async fn as_known_patient(caller: &Caller, method: Method, path: &str, body: &Value) -> Answer {
    let started = Instant::now();
    loop {
        let a = caller.send(method.clone(), path, Some(body)).await;
        if !(a.status == StatusCode::NOT_FOUND && problem_is(&a.json, "patient-not-found"))
            || started.elapsed() > WAIT
        {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A booking of `start` of `type_id` with `provider` (with `hold_id` if given).
fn booking(provider: Uuid, type_id: &str, start: DateTime<Utc>, hold_id: Option<&str>) -> Value {
    let mut body = json!({
        "provider_id": provider,
        "appointment_type_id": type_id,
        "start": rfc3339(start),
    });
    if let Some(hold) = hold_id {
        body["hold_id"] = json!(hold);
    }
    body
}

/// The token of the first portal link `…{path}/{token}` after `label` in an
/// email's text (`label` empty: anywhere), percent-decoded.
fn link_token(email: &Email, label: &str, path: &str) -> Option<String> {
    let pattern = format!(
        r"{}\s*\S*?{}/([A-Za-z0-9_.~%-]+)",
        regex::escape(label),
        regex::escape(path)
    );
    let found = regex::Regex::new(&pattern).ok()?.captures(email.text())?;
    Some(
        percent_encoding::percent_decode_str(found.get(1)?.as_str())
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// The provider slot search in `[from, to)`, as `caller` (signed in).
async fn searched(
    caller: &Caller,
    provider: Uuid,
    type_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Value> {
    let found = caller
        .read(&format!(
            "/api/v1/providers/{provider}/slots?appointment_type_id={type_id}&from={}&to={}",
            rfc3339(from),
            rfc3339(to)
        ))
        .await;
    found["items"].as_array().expect("items").clone()
}

/// `patient`'s appointments (their own list).
async fn appointments_of(patient: &Caller) -> Vec<Value> {
    patient.read("/api/v1/appointments").await["items"]
        .as_array()
        .expect("items")
        .clone()
}

#[tokio::test]
async fn a_cancelled_slot_is_kept_for_the_waitlist_and_a_held_slot_for_its_holder() {
    let stack = Stack::start().await.expect("the stack starts");
    let provider = id(PROVIDER1);
    let a = Caller::demo(&stack, "patient1").await;
    let b = Caller::demo(&stack, "patient2").await;
    let c_email = format!("waitlist-c-{}@example.test", Uuid::new_v4().simple());
    let c_password = "a patient third in line";
    register_verified(&stack, &c_email, c_password, "Cleo Third").await;
    let c = Caller::login(&stack, "patient C", &c_email, c_password).await;
    let c_id = c.read("/api/v1/auth/me").await["patient_id"]
        .as_str()
        .expect("a patient id")
        .to_owned();

    let kind = first_type(&a, provider).await;
    let type_id = kind["id"].as_str().expect("a type id").to_owned();
    let minutes = kind["duration_minutes"].as_i64().expect("a duration");
    let slots = free_slots(&a, provider, &type_id).await;
    assert!(slots.len() >= 3, "three free slots: {slots:?}");
    let (opened, held) = (parse(&slots[1]), parse(&slots[2]));

    // A books; B waits for that provider's type in a range around A's time.
    let booked = a
        .eventually(
            Method::POST,
            "/api/v1/appointments",
            booking(provider, &type_id, opened, None),
            201,
        )
        .await;
    let a_appointment = booked["id"].as_str().expect("an id").to_owned();
    let entry = b
        .expect(
            Method::POST,
            "/api/v1/waitlist",
            json!({
                "appointment_type_id": type_id,
                "provider_id": provider,
                "earliest": rfc3339(opened),
                "latest": rfc3339(opened + Span::minutes(minutes)),
            }),
            201,
        )
        .await;
    assert_eq!(entry["status"], "waiting", "{entry}");
    let entry_id = entry["id"].as_str().expect("an entry id").to_owned();

    // A cancels; within a minute B is emailed "A slot opened" with a link.
    a.expect(
        Method::POST,
        &format!("/api/v1/appointments/{a_appointment}/cancel"),
        json!({ "reason": "something came up" }),
        200,
    )
    .await;
    let cancelled_at = Instant::now();
    let b_address = demo::DEMO_USERS[PATIENT2].email;
    let offer = eventually(Duration::from_secs(60), "B's offer email", || async {
        stack
            .mail
            .emails()
            .await
            .into_iter()
            .find(|m| m.is_to(b_address) && m.subject() == OFFER_SUBJECT)
    })
    .await;
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(60),
        "within a minute"
    );
    let token = link_token(&offer, "", "/waitlist/offers")
        .unwrap_or_else(|| panic!("a claim link in: {}", offer.text()));
    let waiting = b.read("/api/v1/waitlist").await;
    let offered = waiting["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == entry_id.as_str())
        .unwrap_or_else(|| panic!("B's entry: {waiting}"))
        .clone();
    assert_eq!(offered["status"], "offered", "{offered}");
    assert_eq!(at(&offered["offer"]["start"]), opened, "{offered}");

    // While B's offer stands the slot is B's: C is refused it.
    let refused = as_known_patient(
        &c,
        Method::POST,
        "/api/v1/appointments",
        &booking(provider, &type_id, opened, None),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert!(problem_is(&refused.json, "slot-taken"), "{}", refused.text);

    // B claims it with the token from the email, and has the appointment.
    let claimed = b
        .expect(
            Method::POST,
            &format!("/api/v1/waitlist/offers/{token}/claim"),
            Value::Null,
            201,
        )
        .await;
    assert_eq!(claimed["patient_id"], id(PATIENT2).to_string(), "{claimed}");
    assert_eq!(at(&claimed["start"]), opened, "{claimed}");
    assert_eq!(claimed["status"], "booked", "{claimed}");
    let b_appointment = claimed["id"].as_str().expect("an id").to_owned();
    assert!(
        appointments_of(&b)
            .await
            .iter()
            .any(|x| x["id"] == b_appointment.as_str() && x["status"] == "booked"),
        "B's appointments list it"
    );
    let fulfilled = b.read("/api/v1/waitlist").await;
    assert!(
        fulfilled["items"].as_array().unwrap().iter().any(|e| {
            e["id"] == entry_id.as_str()
                && e["status"] == "fulfilled"
                && e["appointment_id"] == b_appointment.as_str()
        }),
        "the entry is fulfilled by that appointment: {fulfilled}"
    );
    // The offer is spent.
    b.expect(
        Method::POST,
        &format!("/api/v1/waitlist/offers/{token}/claim"),
        Value::Null,
        409,
    )
    .await;

    // C holds another slot: it is offered to nobody else, and nobody else books it.
    let hold = as_known_patient(
        &c,
        Method::POST,
        "/api/v1/holds",
        &json!({
            "provider_id": provider,
            "appointment_type_id": type_id,
            "start": rfc3339(held),
        }),
    )
    .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.text);
    let hold_id = hold.json["id"].as_str().expect("a hold id").to_owned();
    let expires = at(&hold.json["expires_at"]);
    assert!(
        expires > Utc::now() + Span::minutes(9) && expires <= Utc::now() + Span::minutes(10),
        "held for ten minutes: {}",
        hold.text
    );
    let around = searched(
        &a,
        provider,
        &type_id,
        held - Span::hours(2),
        held + Span::hours(2),
    )
    .await;
    assert!(
        !around.iter().any(|s| at(&s["start"]) == held),
        "a held slot is not offered: {around:?}"
    );
    for other in [&a, &b] {
        let taken = other
            .expect(
                Method::POST,
                "/api/v1/appointments",
                booking(provider, &type_id, held, None),
                409,
            )
            .await;
        assert!(problem_is(&taken, "slot-taken"), "{}: {taken}", other.name);
    }

    // C books it with the hold.
    let c_booked = c
        .expect(
            Method::POST,
            "/api/v1/appointments",
            booking(provider, &type_id, held, Some(&hold_id)),
            201,
        )
        .await;
    assert_eq!(c_booked["patient_id"], c_id.as_str(), "{c_booked}");
    assert_eq!(at(&c_booked["start"]), held, "{c_booked}");
    let converted = c.read(&format!("/api/v1/holds/{hold_id}")).await;
    assert_eq!(converted["status"], "converted", "{converted}");
}

#[tokio::test]
async fn the_links_in_a_confirmation_email_work_for_exactly_their_appointment_without_sign_in() {
    let stack = Stack::start().await.expect("the stack starts");
    let provider = id(PROVIDER1);
    let patient = Caller::demo(&stack, "patient1").await;
    let anonymous = Caller::anonymous(&stack);
    let kind = first_type(&patient, provider).await;
    let type_id = kind["id"].as_str().expect("a type id").to_owned();
    let slots = free_slots(&patient, provider, &type_id).await;
    assert!(slots.len() >= 3, "three free slots: {slots:?}");

    // Two appointments, each confirmed by email with its own links.
    let mut booked = Vec::new();
    for start in &slots[1..3] {
        let a = patient
            .eventually(
                Method::POST,
                "/api/v1/appointments",
                booking(provider, &type_id, parse(start), None),
                201,
            )
            .await;
        booked.push(a);
    }
    let (target, other) = (&booked[0], &booked[1]);
    let target_id = target["id"].as_str().expect("an id");
    let address = demo::DEMO_USERS[PATIENT1].email;
    let confirmations = stack
        .mail
        .wait_for(2, "both confirmations", |m| {
            m.is_to(address) && m.subject().starts_with(CONFIRMED_PREFIX)
        })
        .await;

    // Which email is the target's: its cancel link says so (opening spends nothing).
    let mut found = None;
    for email in &confirmations {
        let cancel = link_token(email, "Cancel this appointment:", "/appointment-links")
            .unwrap_or_else(|| panic!("a cancel link in: {}", email.text()));
        let reschedule = link_token(email, "Reschedule:", "/appointment-links")
            .unwrap_or_else(|| panic!("a reschedule link in: {}", email.text()));
        assert_ne!(cancel, reschedule);
        let shown = anonymous
            .read(&format!("/api/v1/appointment-links/{cancel}"))
            .await;
        assert_eq!(shown["action"], "cancel", "{shown}");
        if shown["appointment"]["id"] == target_id {
            found = Some((cancel, reschedule));
        }
    }
    let (cancel, reschedule) = found.expect("the target's confirmation");

    // The reschedule link shows the free times without a sign-in: those the
    // signed-in search shows for the appointment's provider and type.
    let start = at(&target["start"]);
    let (from, to) = (start - Span::days(1), start + Span::days(6));
    let range = format!("from={}&to={}", rfc3339(from), rfc3339(to));
    let times = anonymous
        .send(
            Method::GET,
            &format!("/api/v1/appointment-links/{reschedule}/slots?{range}"),
            None,
        )
        .await;
    assert_eq!(times.status, StatusCode::OK, "{}", times.text);
    assert_eq!(
        times
            .headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert!(times.headers.get("set-cookie").is_none());
    assert_eq!(
        times.json["items"],
        Value::Array(searched(&patient, provider, &type_id, from, to).await)
    );
    assert!(!times.json["items"].as_array().unwrap().is_empty());
    // The cancel link shows none.
    let wrong = anonymous
        .send(
            Method::GET,
            &format!("/api/v1/appointment-links/{cancel}/slots?{range}"),
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND, "{}", wrong.text);

    // Two hours before the start, inside the 24-hour window: the link says
    // what cancelling costs under the type's policy, and cancels with that fee.
    stack.clock.set(start - Span::hours(2));
    let preview = anonymous
        .read(&format!("/api/v1/appointment-links/{cancel}"))
        .await;
    assert_eq!(preview["late"], true, "{preview}");
    assert_eq!(
        preview["fee"], target["cancellation_policy"]["late_cancel_fee"],
        "the policy's fee: {preview}"
    );
    assert!(preview["fee"]["amount_minor"].as_i64().unwrap() > 0);
    let done = anonymous
        .send(
            Method::POST,
            &format!("/api/v1/appointment-links/{cancel}/cancel"),
            Some(&json!({ "reason": "cannot come" })),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(done.headers.get("set-cookie").is_none(), "signs nobody in");
    assert!(!done.text.contains("token"), "{}", done.text);
    assert_eq!(done.json["id"], target_id, "{}", done.text);
    assert_eq!(done.json["status"], "cancelled", "{}", done.text);
    assert_eq!(done.json["late_cancellation"], true, "{}", done.text);

    // Exactly that appointment: the other stays booked.
    let mine = appointments_of(&patient).await;
    let status_of = |x: &Value| {
        mine.iter()
            .find(|a| a["id"] == x["id"])
            .map(|a| a["status"].clone())
            .unwrap_or_else(|| panic!("{} listed: {mine:?}", x["id"]))
    };
    assert_eq!(status_of(target), "cancelled");
    assert_eq!(status_of(other), "booked");

    // Used, both links of that email stop working.
    for (method, path, body) in [
        (
            Method::POST,
            format!("/api/v1/appointment-links/{cancel}/cancel"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/api/v1/appointment-links/{cancel}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/appointment-links/{reschedule}/slots?{range}"),
            None,
        ),
    ] {
        let a = anonymous.send(method, &path, body.as_ref()).await;
        assert_eq!(a.status, StatusCode::GONE, "{path}: {}", a.text);
        assert!(problem_is(&a.json, "link-expired"), "{}", a.text);
    }
}

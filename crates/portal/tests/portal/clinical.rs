//! The clinical pages of issue 17 against a stand-in API: a provider's chart
//! says why access is open and when it ends, break-glass asks for a reason and
//! a duration and leaves the chart read-only; the patient sees the fees before
//! booking and emergency access marked apart in their log; staff waive a late
//! fee only with a reason; visit steps wait for their time; admins review
//! break-glass. What is checked is the portal's side: the calls it makes, what
//! the pages say and offer.

use chrono::{DateTime, Utc};
use platform::auth::Role;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    fake_api::{ok, problem, unexpected, Call, FakeApi, Reply},
    helpers::{csrf_of, Portal, Visitor},
};

const PROVIDER: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0011);
const PATIENT: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0021);
const STAFF: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0031);
const ADMIN: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0041);
const TYPE: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0051);
const APPOINTMENT: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0061);

fn page_of(items: Value) -> Reply {
    ok(json!({ "items": items, "next_cursor": null }))
}

fn eur(minor: i64) -> Value {
    json!({ "amount_minor": minor, "currency": "EUR" })
}

fn provider_json() -> Value {
    json!({
        "id": PROVIDER, "name": "Dr. Lena Vogel", "specialty": "Family medicine",
        "time_zone": "Europe/Berlin", "accepting_new_patients": true,
    })
}

fn type_json() -> Value {
    json!({
        "id": TYPE, "provider_id": PROVIDER, "name": "Consultation", "duration_minutes": 30,
        "price": eur(6000), "mode": "in_person", "min_notice_minutes": 60, "horizon_days": 90,
        "cancellation_window_minutes": 1440, "late_cancel_fee": eur(2500), "no_show_fee": eur(3000),
    })
}

fn appointment_json(start: DateTime<Utc>, status: &str) -> Value {
    json!({
        "id": APPOINTMENT, "patient_id": PATIENT, "provider_id": PROVIDER,
        "appointment_type_id": TYPE, "start": start, "end": start + chrono::Duration::minutes(30),
        "status": status, "version": 1, "late_cancellation": false,
        "cancellation_policy": {
            "window_minutes": 1440, "late_cancel_fee": eur(2500), "no_show_fee": eur(3000),
        },
    })
}

/// What the directory and scheduling say about Dr. Vogel, her type and Paula;
/// `None` for anything else.
fn clinic(c: &Call) -> Option<Reply> {
    let provider = format!("/api/v1/providers/{PROVIDER}");
    let types = format!("{provider}/appointment-types");
    let summary = format!("/api/v1/patients/{PATIENT}/summary");
    match c.method.as_str() {
        "GET" if c.path == provider => Some(ok(provider_json())),
        "GET" if c.path == types => Some(page_of(json!([type_json()]))),
        "GET" if c.path == summary => Some(ok(json!({
            "id": PATIENT, "name": "Paula Patient", "email": "paula@example.test",
            "date_of_birth": "1988-04-12",
        }))),
        _ => None,
    }
}

/// Records' answers for Paula's chart: `access` for `/records/access`, one
/// note, the other kinds empty.
fn chart(c: &Call, access: &Value) -> Option<Reply> {
    let base = format!("/api/v1/patients/{PATIENT}/records/");
    let rest = c.path.strip_prefix(&base)?;
    if c.method != "GET" {
        return None;
    }
    Some(match rest {
        "access" => ok(access.clone()),
        "notes" => page_of(json!([{
            "id": Uuid::from_u128(0x99), "version": 1, "status": "active", "author_id": Uuid::from_u128(0x77),
            "created_at": "2026-05-04T09:00:00Z", "text": "Headache for 3 days.",
        }])),
        "diagnoses" | "allergies" | "medications" | "vitals" => page_of(json!([])),
        _ => return None,
    })
}

fn directory_of_others(c: &Call) -> Option<Reply> {
    // Authors and colleagues the directory does not know.
    (c.method == "GET" && c.path.starts_with("/api/v1/providers/"))
        .then(|| problem(404, "provider-not-found", "No such provider."))
}

#[tokio::test]
async fn a_chart_in_care_says_why_access_is_open_and_when_it_ends() {
    let access = json!({"basis": "care", "until": "2026-08-02T10:00:00Z", "explanation": "…"});
    let api = FakeApi::start(move |c| {
        clinic(c)
            .or_else(|| chart(c, &access))
            .or_else(|| directory_of_others(c))
            .unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let doc = Visitor::signed_in(&portal, Role::Provider, PROVIDER).await;
    let (status, html) = doc
        .get(&portal, &format!("/patients/{PATIENT}/chart"))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Open for follow-up after a completed visit (read and write)."),
        "{html}"
    );
    assert!(
        html.contains(
            "Access ends Sun 2 Aug 2026, 12:00 CEST unless another appointment is booked."
        ),
        "in the provider's zone: {html}"
    );
    assert!(html.contains("Headache for 3 days."));
    assert!(html.contains("Add a note"), "a care window writes");
}

#[tokio::test]
async fn under_break_glass_the_chart_is_read_only_with_the_minutes_left() {
    let until = Utc::now() + chrono::Duration::seconds(25 * 60 + 30);
    let access = json!({"basis": "break_glass", "until": until, "explanation": "…"});
    let note = format!("/api/v1/patients/{PATIENT}/records/notes");
    let api = FakeApi::start(move |c| {
        if c.is("POST", &note) {
            return problem(
                403,
                "care-relationship-required",
                "Break-glass access is read-only: writing to this record needs a care relationship.",
            );
        }
        clinic(c)
            .or_else(|| chart(c, &access))
            .or_else(|| directory_of_others(c))
            .unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let doc = Visitor::signed_in(&portal, Role::Provider, PROVIDER).await;
    let chart_path = format!("/patients/{PATIENT}/chart");
    let (status, html) = doc.get(&portal, &chart_path).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Read-only emergency access, 26 minutes left."),
        "{html}"
    );
    assert!(html.contains("not add to it or change it"), "{html}");
    assert!(html.contains("Headache for 3 days."), "reading works");
    assert!(
        !html.contains("Add a note"),
        "no write forms under break-glass: {html}"
    );

    // The form's page is not offered either: back to the chart, saying why.
    let r = doc
        .client
        .get(portal.url(&format!("{chart_path}/notes/new")))
        .header(header::COOKIE, &doc.cookie)
        .send()
        .await
        .unwrap();
    let html = doc.follow(&portal, r).await;
    assert!(html.contains("Emergency access is read-only"), "{html}");

    // A write sent anyway (an old tab) is refused by records, and said plainly.
    let r = doc
        .post(
            &portal,
            &format!("{chart_path}/notes"),
            &html,
            &[("text", "New note")],
        )
        .await;
    let html = doc.follow(&portal, r).await;
    assert!(
        html.contains("Nothing was saved: emergency access is read-only."),
        "{html}"
    );
    assert!(!html.contains("carebook.dev/problems"), "{html}");
}

#[tokio::test]
async fn without_care_the_chart_asks_why_and_for_how_long_then_opens_read_only() {
    let access = json!({"basis": "none", "until": null, "explanation": "…"});
    let grant = format!("/api/v1/patients/{PATIENT}/records/break-glass");
    let expires = Utc::now() + chrono::Duration::minutes(60);
    let api = FakeApi::start(move |c| {
        if c.is("POST", &grant) {
            return (
                StatusCode::CREATED,
                json!({"id": Uuid::from_u128(5), "patient_id": PATIENT, "provider_id": PROVIDER,
                       "granted_at": Utc::now(), "expires_at": expires, "read_only": true}),
            );
        }
        if c.path == format!("/api/v1/patients/{PATIENT}/summary") {
            return problem(403, "forbidden", "Not in your care.");
        }
        clinic(c)
            .or_else(|| chart(c, &access))
            .unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let doc = Visitor::signed_in(&portal, Role::Provider, PROVIDER).await;
    let chart_path = format!("/patients/{PATIENT}/chart");
    let (status, html) = doc.get(&portal, &chart_path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("You have no care relationship with Patient #000021"),
        "{html}"
    );
    assert!(
        html.contains(r#"<option value="30" selected>30 minutes</option>"#),
        "30 minutes by default: {html}"
    );
    assert!(
        api.calls()
            .iter()
            .all(|c| !c.path.ends_with("/records/notes")),
        "nothing clinical is asked for without access"
    );

    let bg = format!("{chart_path}/break-glass");
    let r = doc
        .post(
            &portal,
            &bg,
            &html,
            &[("reason", "too short"), ("minutes", "600")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"id="f-reason-error">At least 15 characters"#),
        "{html}"
    );
    assert!(
        html.contains(r#"id="f-minutes-error">Choose how long"#),
        "{html}"
    );
    assert!(api
        .calls_to(
            "POST",
            &format!("/api/v1/patients/{PATIENT}/records/break-glass")
        )
        .is_empty());

    let reason = "Patient collapsed in the waiting room; need allergies";
    let r = doc
        .post(
            &portal,
            &bg,
            &html,
            &[("reason", reason), ("minutes", "60")],
        )
        .await;
    assert_eq!(r.headers()[header::LOCATION], chart_path.as_str());
    let sent = &api.calls_to(
        "POST",
        &format!("/api/v1/patients/{PATIENT}/records/break-glass"),
    )[0];
    assert_eq!(sent.body, json!({"reason": reason, "minutes": 60}));
    // The chart still answers "none" here (the fake does not change); the flash says what was granted.
    let html = doc.follow(&portal, r).await;
    assert!(
        html.contains("Read-only emergency access granted for 1 hour, until"),
        "{html}"
    );
}

#[tokio::test]
async fn the_fourth_break_glass_of_a_day_is_refused_in_plain_words() {
    let access = json!({"basis": "none", "until": null, "explanation": "…"});
    let grant = format!("/api/v1/patients/{PATIENT}/records/break-glass");
    let api = FakeApi::start(move |c| {
        if c.is("POST", &grant) {
            return problem(
                429,
                "break-glass-limit",
                "Break-glass was granted to you as often as allowed in 24 hours.",
            );
        }
        clinic(c)
            .or_else(|| chart(c, &access))
            .unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let doc = Visitor::signed_in(&portal, Role::Provider, PROVIDER).await;
    let chart_path = format!("/patients/{PATIENT}/chart");
    let (_, html) = doc.get(&portal, &chart_path).await;
    let r = doc
        .post(
            &portal,
            &format!("{chart_path}/break-glass"),
            &html,
            &[
                ("reason", "Unconscious patient brought in by ambulance"),
                ("minutes", "30"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("You have used emergency access as often as allowed in 24 hours."),
        "{html}"
    );
    assert!(
        html.contains("Unconscious patient brought in by ambulance"),
        "the reason stays typed"
    );
    assert!(!html.contains("carebook.dev/problems"), "{html}");
}

#[tokio::test]
async fn the_booking_page_names_both_fees_before_a_time_is_picked() {
    let slots = format!("/api/v1/providers/{PROVIDER}/slots");
    let api = FakeApi::start(move |c| {
        if c.is("GET", &slots) {
            let start = Utc::now() + chrono::Duration::days(2);
            return page_of(
                json!([{ "start": start, "end": start + chrono::Duration::minutes(30) }]),
            );
        }
        clinic(c).unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;
    let (status, html) = paula
        .get(&portal, &format!("/providers/{PROVIDER}/book/{TYPE}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let policy = &html[html.find(r#"id="policy""#).expect("a policy section")..];
    let first_slot = html.find(r#"class="slot""#).expect("a free time");
    assert!(
        html.find(r#"id="policy""#).unwrap() < first_slot,
        "the policy comes before the times"
    );
    assert!(policy.contains("less than 24 hours before the start costs <strong>25.00 EUR</strong> (late-cancellation fee)"), "{policy}");
    assert!(
        policy.contains(
            "Not coming without cancelling costs <strong>30.00 EUR</strong> (no-show fee)"
        ),
        "{policy}"
    );
}

#[tokio::test]
async fn the_access_log_marks_emergency_access_apart() {
    let log = format!("/api/v1/patients/{PATIENT}/records/access-log");
    let api = FakeApi::start(move |c| {
        if c.is("GET", &log) {
            return page_of(json!([
                {"seq": 3, "at": "2026-05-04T10:05:00Z", "actor_id": Uuid::from_u128(0x33), "role": "provider",
                 "action": "read", "kind": "allergy", "entry_ids": [], "outcome": "allowed", "break_glass": true},
                {"seq": 2, "at": "2026-05-04T10:00:00Z", "actor_id": Uuid::from_u128(0x33), "role": "provider",
                 "action": "break_glass", "entry_ids": [], "outcome": "allowed", "break_glass": true,
                 "expires_at": "2026-05-04T10:30:00Z"},
                {"seq": 1, "at": "2026-05-03T09:00:00Z", "actor_id": PROVIDER, "role": "provider",
                 "action": "read", "kind": "note", "entry_ids": [], "outcome": "allowed", "break_glass": false},
            ]));
        }
        clinic(c)
            .or_else(|| directory_of_others(c))
            .unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;
    let (status, html) = paula
        .get(&portal, &format!("/patients/{PATIENT}/record/access-log"))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Emergency access to your record: 1 time in this list."),
        "{html}"
    );
    assert_eq!(
        html.matches(r#"<tr class="break-glass">"#).count(),
        2,
        "{html}"
    );
    assert!(
        html.contains("Read-only, until Mon 4 May 2026, 10:30 UTC"),
        "{html}"
    );
    assert!(html.contains("Under emergency access"), "{html}");
    assert!(
        html.contains("Dr. Lena Vogel"),
        "the ordinary read names its provider"
    );
}

#[tokio::test]
async fn staff_waive_the_late_fee_only_with_a_reason() {
    let start = Utc::now() + chrono::Duration::hours(5);
    let one = format!("/api/v1/appointments/{APPOINTMENT}");
    let slots = format!("/api/v1/providers/{PROVIDER}/slots");
    let moved = start + chrono::Duration::days(3);
    let api = FakeApi::start(move |c| {
        let path = c.path.as_str();
        match c.method.as_str() {
            "GET" if path == one => ok(appointment_json(start, "booked")),
            "GET" if path == slots => {
                page_of(json!([{ "start": moved, "end": moved + chrono::Duration::minutes(30) }]))
            }
            "POST" if path == format!("{one}/reschedule") => {
                let waived = c.body.get("waive_fee_reason").is_some();
                let mut body = appointment_json(moved, "booked");
                body["late"] = json!(true);
                body["fee"] = if waived { Value::Null } else { eur(2500) };
                ok(body)
            }
            _ => clinic(c).unwrap_or_else(|| unexpected(c)),
        }
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let desk = Visitor::signed_in(&portal, Role::Staff, STAFF).await;
    let page_path = format!("/clinic/appointments/{APPOINTMENT}/reschedule");
    let (status, html) = desk.get(&portal, &page_path).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Moving it now is inside the cancellation window"),
        "{html}"
    );
    assert!(html.contains("Waive the late fee for this move"), "{html}");
    let key = html
        .split(r#"name="idempotency_key" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let moved_to = moved.to_rfc3339();

    // Ticked without a reason: refused next to the field, nothing sent.
    let r = desk
        .post(
            &portal,
            &page_path,
            &html,
            &[
                ("waive_fee", "1"),
                ("waive_fee_reason", " "),
                ("start", &moved_to),
                ("idempotency_key", &key),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"id="f-waive_fee_reason-error">Give the reason for waiving the fee"#),
        "{html}"
    );
    assert!(
        html.contains(r#"name="waive_fee" value="1" checked"#),
        "the tick is kept: {html}"
    );
    let reschedule = format!("/api/v1/appointments/{APPOINTMENT}/reschedule");
    assert!(api.calls_to("POST", &reschedule).is_empty());

    // With a reason: sent, and the flash says the fee was waived.
    let r = desk
        .post(
            &portal,
            &page_path,
            &html,
            &[
                ("waive_fee", "1"),
                ("waive_fee_reason", "Clinic rescheduled the doctor"),
                ("start", &moved_to),
                ("idempotency_key", &key),
            ],
        )
        .await;
    let shown = desk.follow(&portal, r).await;
    assert!(shown.contains("the late fee was waived"), "{shown}");
    let sent = &api.calls_to("POST", &reschedule)[0];
    assert_eq!(
        sent.body["waive_fee_reason"],
        "Clinic rescheduled the doctor"
    );

    // Not ticked: no waiver is sent (a typed reason alone waives nothing), and the fee is said.
    let (_, html) = desk.get(&portal, &page_path).await;
    let r = desk
        .post(
            &portal,
            &page_path,
            &html,
            &[
                ("waive_fee_reason", "typed, not ticked"),
                ("start", &moved_to),
            ],
        )
        .await;
    let shown = desk.follow(&portal, r).await;
    assert!(
        shown.contains("the patient owes the late fee of 25.00 EUR"),
        "{shown}"
    );
    let sent = &api.calls_to("POST", &reschedule)[1];
    assert!(sent.body.get("waive_fee_reason").is_none(), "{}", sent.body);
}

#[tokio::test]
async fn visit_steps_wait_for_their_time_and_too_early_is_explained() {
    let later = Utc::now() + chrono::Duration::hours(3);
    let one = format!("/api/v1/appointments/{APPOINTMENT}");
    let api = FakeApi::start(move |c| {
        let path = c.path.as_str();
        match c.method.as_str() {
            "GET" if path == "/api/v1/appointments" => page_of(json!([appointment_json(later, "booked")])),
            "GET" if path == one => ok(appointment_json(later, "booked")),
            "POST" if path == format!("{one}/no-show") => problem(
                409,
                "too-early",
                "A no-show can be recorded once the start has passed: possible from 2026-05-04T09:00:00Z.",
            ),
            _ => clinic(c).unwrap_or_else(|| unexpected(c)),
        }
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let doc = Visitor::signed_in(&portal, Role::Provider, PROVIDER).await;
    let date = later.with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    let (status, html) = doc.get(&portal, &format!("/schedule?date={date}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let row = &html[html.find(&format!(r#"id="visit-{APPOINTMENT}""#)).unwrap()..];
    let check_in_at = (later - chrono::Duration::hours(1))
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%H:%M")
        .to_string();
    assert!(
        row.contains(&format!("Check-in from {check_in_at}")),
        "{row}"
    );
    for step in ["check-in", "complete", "no-show"] {
        assert!(
            !row.contains(&format!("/{step}\"")),
            "no {step} button before its time: {row}"
        );
    }

    // A step posted anyway (a page left open) is refused; the row says when it opens.
    let r = doc
        .client
        .post(portal.url(&format!("/visits/{APPOINTMENT}/no-show")))
        .header(header::COOKIE, &doc.cookie)
        .header("hx-request", "true")
        .form(&[
            ("csrf_token", csrf_of(&html).as_str()),
            ("return_to", "/schedule"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let fragment = r.text().await.unwrap();
    let start_at = later
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%H:%M %Z")
        .to_string();
    assert!(
        fragment.contains(&format!("Too early for a no-show: it can be recorded once the start time, {start_at}, has passed.")),
        "{fragment}"
    );
    assert!(!fragment.contains("2026-05-04T09:00:00Z"), "{fragment}");
}

fn grant_json(n: u128, review: Option<Value>) -> Value {
    json!({
        "id": Uuid::from_u128(n), "patient_id": PATIENT, "provider_id": PROVIDER,
        "granted_at": "2026-05-04T10:00:00Z", "expires_at": "2026-05-04T10:30:00Z",
        "reason": format!("Emergency number {n}: collapsed in the waiting room"),
        "review": review,
    })
}

#[tokio::test]
async fn admins_review_break_glass_unreviewed_first_and_once() {
    let queue = "/api/v1/records/break-glass";
    let review_of = |n: u128| format!("/api/v1/records/break-glass/{}/review", Uuid::from_u128(n));
    let (first, second) = (review_of(2), review_of(3));
    let handled = first.clone();
    let api = FakeApi::start(move |c| {
        if c.is("GET", queue) {
            return page_of(json!([
                grant_json(1, Some(json!({"outcome": "justified", "note": "Real emergency, confirmed by the ward.",
                    "reviewed_by": ADMIN, "reviewed_at": "2026-05-04T12:00:00Z"}))),
                grant_json(2, None),
            ]));
        }
        if c.is("POST", &handled) {
            return ok(grant_json(2, Some(json!({"outcome": "unjustified", "note": "x",
                "reviewed_by": ADMIN, "reviewed_at": "2026-05-04T12:00:00Z"}))));
        }
        if c.is("POST", &second) {
            return problem(409, "already-reviewed", "This break-glass grant has been reviewed; a review is final.");
        }
        clinic(c).unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let admin = Visitor::signed_in(&portal, Role::Admin, ADMIN).await;
    let (status, html) = admin.get(&portal, "/admin/break-glass?status=all").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(api.calls_to("GET", queue)[0].query.contains("status=all"));
    let unreviewed = html.find(&format!("grant-{}", Uuid::from_u128(2))).unwrap();
    let reviewed = html.find(&format!("grant-{}", Uuid::from_u128(1))).unwrap();
    assert!(unreviewed < reviewed, "unreviewed first");
    assert!(
        html.contains("Dr. Lena Vogel opened the record of Paula Patient"),
        "{html}"
    );
    assert!(html.contains("Emergency number 2: collapsed in the waiting room"));
    assert!(
        html.contains("Justified</span> · by You (Tess admin) · Mon 4 May 2026, 12:00 UTC"),
        "{html}"
    );
    assert_eq!(
        html.matches("Record review").count(),
        1,
        "a form for the unreviewed one only"
    );
    assert!(html.contains(r#"aria-current="page">All</a>"#), "{html}");

    // A verdict and a note are needed; nothing is sent without them.
    let path = format!("/admin/break-glass/{}/review", Uuid::from_u128(2));
    let r = admin
        .post(&portal, &path, &html, &[("note", " "), ("status", "all")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Choose justified or unjustified."), "{html}");
    assert!(html.contains("Say what the review found."), "{html}");
    assert!(api.calls_to("POST", &first).is_empty());

    let r = admin
        .post(
            &portal,
            &path,
            &html,
            &[
                ("outcome", "unjustified"),
                ("note", " No emergency on file. "),
                ("status", "all"),
            ],
        )
        .await;
    assert_eq!(
        r.headers()[header::LOCATION],
        "/admin/break-glass?status=all"
    );
    assert_eq!(
        api.calls_to("POST", &first)[0].body,
        json!({"outcome": "unjustified", "note": "No emergency on file."})
    );
    let shown = admin.follow(&portal, r).await;
    assert!(shown.contains("Review recorded: unjustified."), "{shown}");

    // Someone else was quicker: said, not an error page.
    let path = format!("/admin/break-glass/{}/review", Uuid::from_u128(3));
    let r = admin
        .post(
            &portal,
            &path,
            &shown,
            &[("outcome", "justified"), ("note", "ok")],
        )
        .await;
    let shown = admin.follow(&portal, r).await;
    assert!(
        shown.contains("already been reviewed; a review is final."),
        "{shown}"
    );
}

#[tokio::test]
async fn only_admins_see_the_review_queue() {
    let api = FakeApi::start(unexpected).await;
    let portal = Portal::start(&api.url()).await;
    for (role, id) in [
        (Role::Provider, PROVIDER),
        (Role::Staff, STAFF),
        (Role::Patient, PATIENT),
    ] {
        let who = Visitor::signed_in(&portal, role, id).await;
        let (status, _) = who.get(&portal, "/admin/break-glass").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?}");
    }
    assert!(api.calls().is_empty(), "refused before asking the API");
}

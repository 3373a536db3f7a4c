//! Booking through a hold (issue 20): picking a time holds it while the
//! patient (or the front desk, for a patient) confirms; the page says until
//! when, confirming books the hold, choosing another time lets it go, and an
//! ended hold says so and shows the free times again. What is checked is the
//! portal's side: the calls it makes and what the pages say.

use chrono::{DateTime, Duration, DurationRound, Utc};
use platform::auth::Role;
use reqwest::{header, StatusCode};
use serde_json::json;

use crate::{
    clinic_api::{
        appointment_json, directory, hidden, hold_json, HOLD, PATIENT, PROVIDER, STAFF, TYPE,
    },
    fake_api::{empty, ok, problem, unexpected, FakeApi},
    helpers::{Portal, Visitor},
};

/// A free time the day after tomorrow, on the hour.
fn free_time() -> DateTime<Utc> {
    (Utc::now() + Duration::days(2))
        .duration_trunc(Duration::hours(1))
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()[header::LOCATION].to_str().unwrap().to_owned()
}

/// "10:42" on the provider's clock (the tests' browser sends no time zone).
fn berlin_clock(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Berlin)
        .format("%H:%M")
        .to_string()
}

/// The fields of the slot button for `free` on a week page.
fn slot_fields(week: &str, free: DateTime<Utc>) -> Vec<(&'static str, String)> {
    vec![
        ("provider_id", PROVIDER.to_string()),
        ("appointment_type_id", TYPE.to_string()),
        ("start", free.to_rfc3339()),
        ("idempotency_key", hidden(week, "idempotency_key")),
    ]
}

fn fields<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The confirm form's fields, as the hold's page renders them.
fn confirm_fields(html: &str) -> Vec<(&'static str, String)> {
    [
        "hold_id",
        "provider_id",
        "appointment_type_id",
        "start",
        "idempotency_key",
    ]
    .into_iter()
    .map(|name| (name, hidden(html, name)))
    .collect()
}

#[tokio::test]
async fn picking_a_time_holds_it_and_the_page_says_until_when() {
    let free = free_time();
    let expires = Utc::now() + Duration::minutes(10);
    let one = format!("/api/v1/holds/{HOLD}");
    let api = FakeApi::start(move |c| {
        if c.is("POST", "/api/v1/holds") {
            return (StatusCode::CREATED, hold_json(free, expires, "held"));
        }
        if c.is("GET", &one) {
            return ok(hold_json(free, expires, "held"));
        }
        directory(c, free).unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;
    let (status, week) = paula
        .get(&portal, &format!("/providers/{PROVIDER}/book/{TYPE}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{week}");
    assert!(
        week.contains("holds it for you for a few minutes while you confirm"),
        "{week}"
    );

    let r = paula
        .post(&portal, "/holds", &week, &fields(&slot_fields(&week, free)))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/holds/{HOLD}"));
    let sent = &api.calls_to("POST", "/api/v1/holds")[0];
    assert_eq!(
        sent.body,
        json!({ "provider_id": PROVIDER, "appointment_type_id": TYPE, "start": free }),
        "a patient holds for themselves"
    );
    assert!(
        api.calls_to("POST", "/api/v1/appointments").is_empty(),
        "nothing is booked yet"
    );

    let (status, html) = paula.get(&portal, &format!("/holds/{HOLD}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains(&format!("Held for you until {}", berlin_clock(expires))),
        "the time left needs no script: {html}"
    );
    assert!(html.contains("data-seconds-left=\""), "{html}");
    assert_eq!(hidden(&html, "hold_id"), HOLD.to_string());
    assert!(html.contains("Confirm booking") && html.contains("Choose another time"));
    assert!(
        html.contains("<strong>25.00 EUR</strong> (late-cancellation fee)"),
        "the policy comes before confirming: {html}"
    );
}

#[tokio::test]
async fn confirming_books_the_hold_and_a_second_press_opens_the_same_hold() {
    let free = free_time();
    let expires = Utc::now() + Duration::minutes(10);
    let one = format!("/api/v1/holds/{HOLD}");
    let api = FakeApi::start(move |c| {
        if c.is("POST", "/api/v1/holds") {
            return (StatusCode::CREATED, hold_json(free, expires, "held"));
        }
        if c.is("GET", &one) {
            return ok(hold_json(free, expires, "held"));
        }
        if c.is("POST", "/api/v1/appointments") {
            return (StatusCode::CREATED, appointment_json(HOLD, free, "booked"));
        }
        directory(c, free).unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;
    let (_, week) = paula
        .get(&portal, &format!("/providers/{PROVIDER}/book/{TYPE}"))
        .await;
    let slot = slot_fields(&week, free);
    for _ in 0..2 {
        let r = paula.post(&portal, "/holds", &week, &fields(&slot)).await;
        assert_eq!(location(&r), format!("/holds/{HOLD}"));
    }
    assert_eq!(
        api.calls_to("POST", "/api/v1/holds").len(),
        1,
        "the same button held once"
    );

    let (_, html) = paula.get(&portal, &format!("/holds/{HOLD}")).await;
    let confirm = confirm_fields(&html);
    let r = paula
        .post(&portal, "/appointments", &html, &fields(&confirm))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/appointments/{HOLD}"));
    let sent = &api.calls_to("POST", "/api/v1/appointments")[0];
    assert_eq!(sent.body["hold_id"], HOLD.to_string());
    assert_eq!(sent.body["start"], json!(free));
    assert!(sent.body.get("patient_id").is_none(), "{}", sent.body);
}

#[tokio::test]
async fn choosing_another_time_lets_the_hold_go() {
    let free = free_time();
    let expires = Utc::now() + Duration::minutes(10);
    let one = format!("/api/v1/holds/{HOLD}");
    let api = FakeApi::start(move |c| {
        if c.is("POST", "/api/v1/holds") {
            return (StatusCode::CREATED, hold_json(free, expires, "held"));
        }
        if c.is("GET", &one) {
            return ok(hold_json(free, expires, "held"));
        }
        if c.is("DELETE", &one) {
            return empty(204);
        }
        directory(c, free).unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;
    let (_, week) = paula
        .get(&portal, &format!("/providers/{PROVIDER}/book/{TYPE}"))
        .await;
    let one_path = format!("/api/v1/holds/{HOLD}");

    // Back on the week, another time picked: the first hold is let go first.
    paula
        .post(&portal, "/holds", &week, &fields(&slot_fields(&week, free)))
        .await;
    let (_, week) = paula
        .get(&portal, &format!("/providers/{PROVIDER}/book/{TYPE}"))
        .await;
    paula
        .post(&portal, "/holds", &week, &fields(&slot_fields(&week, free)))
        .await;
    let order: Vec<String> = api
        .calls()
        .into_iter()
        .filter(|c| c.path.starts_with("/api/v1/holds") && c.method != "GET")
        .map(|c| format!("{} {}", c.method, c.path))
        .collect();
    assert_eq!(
        order,
        [
            "POST /api/v1/holds".to_owned(),
            format!("DELETE {one_path}"),
            "POST /api/v1/holds".to_owned()
        ]
    );

    // "Choose another time" on the hold's page.
    let (_, html) = paula.get(&portal, &format!("/holds/{HOLD}")).await;
    let r = paula
        .post(&portal, &format!("/holds/{HOLD}/release"), &html, &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(
        to.starts_with(&format!("/providers/{PROVIDER}/book/{TYPE}?week=")),
        "{to}"
    );
    assert_eq!(api.calls_to("DELETE", &one_path).len(), 2);
    let shown = paula.get(&portal, &to).await.1;
    assert!(
        shown.contains("The time you held is free for others again."),
        "{shown}"
    );
}

#[tokio::test]
async fn an_ended_hold_says_so_and_shows_the_free_times_again() {
    let free = free_time();
    let lapsed = Utc::now() - Duration::minutes(1);
    let one = format!("/api/v1/holds/{HOLD}");
    let api = FakeApi::start(move |c| {
        if c.is("GET", &one) {
            return ok(hold_json(free, lapsed, "expired"));
        }
        if c.is("POST", "/api/v1/appointments") {
            return problem(
                409,
                "hold-expired",
                "The hold on this slot lapsed before it was booked; pick a slot again.",
            );
        }
        directory(c, free).unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;

    let (status, html) = paula.get(&portal, &format!("/holds/{HOLD}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("ended before it was confirmed, so the time was offered to others again"),
        "{html}"
    );
    assert!(
        html.contains(r#"class="slot""#),
        "the free times again: {html}"
    );
    assert!(!html.contains("Confirm booking"), "{html}");

    // Confirmed too late (the page was left open): the same, from the API's answer.
    let r = paula
        .post(
            &portal,
            "/appointments",
            &html,
            &[
                ("hold_id", &HOLD.to_string()),
                ("provider_id", &PROVIDER.to_string()),
                ("appointment_type_id", &TYPE.to_string()),
                ("start", &free.to_rfc3339()),
                ("idempotency_key", &uuid::Uuid::new_v4().to_string()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Your hold on this time ended before it was confirmed"),
        "{html}"
    );
    assert!(html.contains(r#"class="slot""#), "{html}");
}

#[tokio::test]
async fn the_front_desk_holds_a_time_for_the_patient_and_confirms_it() {
    let free = free_time();
    let expires = Utc::now() + Duration::minutes(10);
    let one = format!("/api/v1/holds/{HOLD}");
    let api = FakeApi::start(move |c| {
        if c.is("POST", "/api/v1/holds") {
            return (StatusCode::CREATED, hold_json(free, expires, "held"));
        }
        if c.is("GET", &one) {
            return ok(hold_json(free, expires, "held"));
        }
        if c.is("POST", "/api/v1/appointments") {
            return (StatusCode::CREATED, appointment_json(HOLD, free, "booked"));
        }
        directory(c, free).unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let desk = Visitor::signed_in(&portal, Role::Staff, STAFF).await;
    let (status, week) = desk
        .get(&portal, &format!("/bookings/{PATIENT}/{PROVIDER}/{TYPE}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{week}");
    let mut slot = slot_fields(&week, free);
    slot.push(("patient_id", PATIENT.to_string()));
    let r = desk
        .post(&portal, "/bookings/holds", &week, &fields(&slot))
        .await;
    assert_eq!(location(&r), format!("/bookings/holds/{HOLD}"));
    let sent = &api.calls_to("POST", "/api/v1/holds")[0];
    assert_eq!(sent.body["patient_id"], PATIENT.to_string());

    let (status, html) = desk.get(&portal, &format!("/bookings/holds/{HOLD}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("for Paula Patient"), "{html}");
    assert!(
        html.contains(&format!("Held for you until {}", berlin_clock(expires))),
        "{html}"
    );
    let mut confirm = confirm_fields(&html);
    confirm.push(("patient_id", hidden(&html, "patient_id")));
    let r = desk
        .post(&portal, "/bookings", &html, &fields(&confirm))
        .await;
    assert_eq!(location(&r), format!("/clinic/appointments/{HOLD}"));
    let sent = &api.calls_to("POST", "/api/v1/appointments")[0];
    assert_eq!(sent.body["hold_id"], HOLD.to_string());
    assert_eq!(sent.body["patient_id"], PATIENT.to_string());
}

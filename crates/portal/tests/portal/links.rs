//! The cancel and reschedule links in appointment emails (issue 20): opening
//! one shows what it would do, to which appointment, under which policy and
//! for what fee, without logging in and without starting a session; pressing
//! the button does it with the token alone; used or forged links explain
//! themselves; and the tokens never reach the portal's log.

use chrono::{DateTime, Duration, DurationRound, Utc};
use chrono_tz::Europe::Berlin;
use platform::auth::Role;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    clinic_api::{appointment_json, eur, page_of, slot_json, PATIENT},
    fake_api::{ok, problem, unexpected, Call, FakeApi, Reply},
    helpers::{browser, logged_during, Portal, Visitor},
};

const APPOINTMENT: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0171);
const CANCEL: &str = "tok-cancel-secret_AbC";
const MOVE: &str = "tok-move-secret_XyZ";

/// Five hours from now, on the minute: inside the 24-hour window.
fn soon() -> DateTime<Utc> {
    (Utc::now() + Duration::hours(5))
        .duration_trunc(Duration::minutes(1))
        .unwrap()
}

/// A time in this week as the provider (Europe/Berlin) counts it — today at
/// 10:00 there — which is the week the reschedule page shows first. (Three
/// days after `soon()` falls in the next week from Thursday evening on.)
fn this_week_in_berlin() -> DateTime<Utc> {
    let today = Utc::now().with_timezone(&Berlin).date_naive();
    today
        .and_hms_opt(10, 0, 0)
        .and_then(|t| t.and_local_timezone(Berlin).earliest())
        .map(|t| t.with_timezone(&Utc))
        .expect("10:00 exists in Berlin every day")
}

fn preview(action: &str, start: DateTime<Utc>) -> Value {
    json!({
        "action": action,
        "expires_at": start,
        "appointment": appointment_json(APPOINTMENT, start, "booked"),
        "appointment_type_name": "Consultation",
        "provider_name": "Dr. Lena Vogel",
        "time_zone": "Europe/Berlin",
        "late": true,
        "fee": eur(2500),
    })
}

/// Scheduling's link endpoints for both tokens; `used` says the links are spent.
fn links_api(start: DateTime<Utc>, moved: DateTime<Utc>, used: bool) -> impl Fn(&Call) -> Reply {
    move |c: &Call| {
        let gone = || problem(410, "link-expired", "This link was used.");
        match (c.method.as_str(), c.path.as_str()) {
            (_, p) if used && p.starts_with("/api/v1/appointment-links/") => gone(),
            ("GET", p) if p == format!("/api/v1/appointment-links/{CANCEL}") => {
                ok(preview("cancel", start))
            }
            ("GET", p) if p == format!("/api/v1/appointment-links/{MOVE}") => {
                ok(preview("reschedule", start))
            }
            ("POST", p) if p == format!("/api/v1/appointment-links/{CANCEL}/cancel") => {
                let mut a = appointment_json(APPOINTMENT, start, "cancelled");
                a["late_cancellation"] = json!(true);
                ok(a)
            }
            ("POST", p) if p == format!("/api/v1/appointment-links/{MOVE}/reschedule") => {
                let mut a = appointment_json(APPOINTMENT, moved, "booked");
                a["late"] = json!(true);
                a["fee"] = eur(2500);
                ok(a)
            }
            ("GET", p) if p == format!("/api/v1/appointment-links/{MOVE}/slots") => {
                page_of(json!([slot_json(moved)]))
            }
            _ => unexpected(c),
        }
    }
}

/// The `from` and `to` of a slot query string.
fn week_asked(query: &str) -> (DateTime<Utc>, DateTime<Utc>) {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let get = |name: &str| -> DateTime<Utc> {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("{name} in {query}"))
            .1
            .parse()
            .unwrap()
    };
    assert!(
        pairs.iter().all(|(k, _)| k == "from" || k == "to"),
        "only the range: {query}"
    );
    (get("from"), get("to"))
}

fn no_cookie_set(r: &reqwest::Response) -> bool {
    r.headers().get(header::SET_COOKIE).is_none()
}

#[tokio::test]
async fn a_cancel_link_shows_the_appointment_policy_and_fee_and_starts_no_session() {
    let start = soon();
    let api = FakeApi::start(links_api(start, start, false)).await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    let r = client
        .get(portal.url(&format!("/appointment-links/{CANCEL}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(no_cookie_set(&r), "opening a link starts no session");
    let html = r.text().await.unwrap();
    assert!(html.contains("Cancel your appointment"), "{html}");
    assert!(html.contains("Consultation with Dr. Lena Vogel"), "{html}");
    assert!(
        html.contains("Free cancellation and rescheduling until 24 hours before the start"),
        "{html}"
    );
    assert!(
        html.contains("Cancelling now is inside the cancellation window, so it costs the late-cancellation fee of <strong>25.00 EUR</strong>."),
        "{html}"
    );
    let asked = &api.calls()[0];
    assert_eq!(asked.path, format!("/api/v1/appointment-links/{CANCEL}"));
    assert_eq!(asked.bearer, None, "the token is the authority");
    assert!(
        api.calls().iter().all(|c| c.method == "GET"),
        "opening spends nothing"
    );
}

#[tokio::test]
async fn pressing_cancel_cancels_with_the_token_alone_and_a_used_link_says_so() {
    let start = soon();
    let api = FakeApi::start(links_api(start, start, false)).await;
    let portal = Portal::start(&api.url()).await;
    // No session, no CSRF token: the link's token is the proof.
    let r = browser()
        .post(portal.url(&format!("/appointment-links/{CANCEL}")))
        .form(&[("reason", "Feeling better")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(no_cookie_set(&r));
    let html = r.text().await.unwrap();
    assert!(html.contains("Appointment cancelled"), "{html}");
    assert!(
        html.contains("a late-cancellation fee of 25.00 EUR applies"),
        "{html}"
    );
    let sent = &api.calls_to(
        "POST",
        &format!("/api/v1/appointment-links/{CANCEL}/cancel"),
    )[0];
    assert_eq!(sent.body, json!({ "reason": "Feeling better" }));
    assert_eq!(sent.bearer, None);

    let spent = FakeApi::start(links_api(start, start, true)).await;
    let portal = Portal::start(&spent.url()).await;
    let client = browser();
    for r in [
        client
            .get(portal.url(&format!("/appointment-links/{CANCEL}")))
            .send()
            .await
            .unwrap(),
        client
            .post(portal.url(&format!("/appointment-links/{CANCEL}")))
            .form(&[("reason", "")])
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(r.status(), StatusCode::GONE);
        let html = r.text().await.unwrap();
        assert!(
            html.contains(
                "This link no longer works: it was used already, the appointment has started"
            ),
            "{html}"
        );
    }
    assert!(spent
        .calls_to(
            "POST",
            &format!("/api/v1/appointment-links/{CANCEL}/cancel")
        )
        .is_empty());
}

#[tokio::test]
async fn a_reschedule_link_offers_the_free_times_and_moves_to_the_one_picked() {
    let start = soon();
    let moved = this_week_in_berlin();
    let api = FakeApi::start(links_api(start, moved, false)).await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    let r = client
        .get(portal.url(&format!("/appointment-links/{MOVE}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(no_cookie_set(&r));
    let html = r.text().await.unwrap();
    assert!(html.contains("Move your appointment"), "{html}");
    assert!(
        html.contains("Moving it now is inside the cancellation window, so it costs the late-cancellation fee of <strong>25.00 EUR</strong>."),
        "{html}"
    );
    assert!(html.contains(r#"class="slot""#), "{html}");
    // The free times come by the link alone, for the week shown.
    let slots = &api.calls_to("GET", &format!("/api/v1/appointment-links/{MOVE}/slots"))[0];
    assert_eq!(slots.bearer, None, "no sign-in");
    let (from, to) = week_asked(&slots.query);
    assert!(from <= Utc::now() && Utc::now() < to, "{}", slots.query);
    assert!(
        (to - from - Duration::days(7)).abs() <= Duration::hours(1),
        "a week: {}",
        slots.query
    );
    assert!(
        api.calls().iter().all(|c| !c.path.contains("/providers/")),
        "never the signed-in slot search: {:?}",
        api.calls()
    );

    let r = client
        .post(portal.url(&format!("/appointment-links/{MOVE}")))
        .form(&[("start", moved.to_rfc3339())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Appointment moved"), "{html}");
    assert!(html.contains("a fee of 25.00 EUR applies"), "{html}");
    let sent = &api.calls_to(
        "POST",
        &format!("/api/v1/appointment-links/{MOVE}/reschedule"),
    )[0];
    assert_eq!(sent.body, json!({ "start": moved }));
    assert_eq!(sent.bearer, None);
}

#[tokio::test]
async fn a_reschedule_link_needs_no_sign_in_for_its_times_and_never_uses_a_session() {
    let start = soon();
    let api = FakeApi::start(links_api(start, this_week_in_berlin(), false)).await;
    let portal = Portal::start(&api.url()).await;
    let (status, html) = {
        let r = browser()
            .get(portal.url(&format!("/appointment-links/{MOVE}")))
            .send()
            .await
            .unwrap();
        assert!(no_cookie_set(&r));
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"class="slot""#), "{html}");
    assert!(
        !html.contains("log-in-for-times"),
        "no sign-in asked: {html}"
    );

    // Signed in, the visitor's session stays out of it: the times come by the link.
    let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;
    let (status, html) = paula
        .get(&portal, &format!("/appointment-links/{MOVE}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"class="slot""#), "{html}");
    let asked = api.calls_to("GET", &format!("/api/v1/appointment-links/{MOVE}/slots"));
    assert_eq!(asked.len(), 2);
    assert!(asked.iter().all(|c| c.bearer.is_none()), "{asked:?}");
}

#[tokio::test]
async fn a_reschedule_link_spent_before_its_times_are_shown_says_so() {
    let start = soon();
    let api = FakeApi::start(move |c| {
        if c.is("GET", &format!("/api/v1/appointment-links/{MOVE}/slots")) {
            return problem(410, "link-expired", "This link was used.");
        }
        links_api(start, start + Duration::days(3), false)(c)
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let r = browser()
        .get(portal.url(&format!("/appointment-links/{MOVE}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(
            "This link no longer works: it was used already, the appointment has started"
        ),
        "{html}"
    );
}

#[tokio::test]
async fn forged_links_are_refused_before_the_api_is_asked() {
    let api = FakeApi::start(|c| match c.path.as_str() {
        p if p.starts_with("/api/v1/appointment-links/") => problem(
            404,
            "link-not-found",
            "This link is not valid for this action.",
        ),
        _ => unexpected(c),
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    // A token that would climb out of its path segment never reaches the API.
    let r = client
        .post(portal.url("/appointment-links/..%2F..%2Fappointments%2Fx%2Fcancel"))
        .form(&[("reason", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(api.calls().is_empty(), "{:?}", api.calls());
    let r = client
        .get(portal.url("/appointment-links/not-a-real-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let html = r.text().await.unwrap();
    assert!(html.contains("This link is not valid."), "{html}");
}

#[tokio::test]
async fn tokens_in_appointment_and_offer_links_never_reach_the_log() {
    let start = soon();
    let api = FakeApi::start(links_api(start, start, false)).await;
    let portal = Portal::start(&api.url()).await;
    let log = logged_during(async {
        let client = browser();
        client
            .get(portal.url(&format!("/appointment-links/{CANCEL}")))
            .send()
            .await
            .unwrap();
        client
            .post(portal.url(&format!("/appointment-links/{CANCEL}")))
            .form(&[("reason", "")])
            .send()
            .await
            .unwrap();
        // Not signed in: to the login page, with the token in `next` (a query, never logged).
        client
            .get(portal.url("/waitlist/offers/wo_offer-secret"))
            .send()
            .await
            .unwrap();
    })
    .await;
    assert!(
        log.contains("path=\"/appointment-links/{token}\""),
        "requests are logged: {log}"
    );
    assert!(log.contains("path=\"/waitlist/offers/{token}\""), "{log}");
    assert!(!log.contains(CANCEL), "{log}");
    assert!(!log.contains("wo_offer-secret"), "{log}");
}

//! Issue 21 in the portal: the front desk books a held time as a recurring
//! series (the series page lists each visit, booked or why not, and cancels a
//! visit and all following), and a change of the provider's hours that would
//! strand booked appointments lists them next to the form, keeps the change
//! as typed, and sends it again with the provider's choice: cancel them (with
//! a reason) or keep them. What is checked is the portal's side: the calls it
//! makes and what the pages say.

use chrono::{DateTime, Duration, DurationRound, Utc};
use platform::auth::Role;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    clinic_api::{
        appointment_json, directory, hidden, hold_json, page_of, type_json, HOLD, PATIENT,
        PROVIDER, STAFF, TYPE,
    },
    fake_api::{empty, ok, problem, unexpected, Call, FakeApi, Reply},
    helpers::{Portal, Visitor},
};

const SERIES: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0171);

/// An appointment of the series' `n`th visit.
fn visit_id(n: u128) -> Uuid {
    Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0180 + n)
}

/// The series' first visit: the held time, the day after tomorrow on the hour
/// (a hold is live only against the real present).
fn first_start() -> DateTime<Utc> {
    (Utc::now() + Duration::days(2))
        .duration_trunc(Duration::hours(1))
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()[header::LOCATION].to_str().unwrap().to_owned()
}

fn berlin_span(start: DateTime<Utc>) -> String {
    let s = start.with_timezone(&chrono_tz::Europe::Berlin);
    let e = (start + Duration::minutes(30)).with_timezone(&chrono_tz::Europe::Berlin);
    format!(
        "{}, {}–{} {}",
        s.format("%a %-d %b %Y"),
        s.format("%H:%M"),
        e.format("%H:%M"),
        e.format("%Z")
    )
}

/// A booked visit of the series at position `n`.
fn booked(n: u32, start: DateTime<Utc>) -> Value {
    json!({
        "position": n, "date": start.date_naive(), "start": start,
        "appointment": appointment_json(visit_id(n.into()), start, "booked"),
        "not_booked": null,
    })
}

/// A visit at position `n` refused with a slot-taken problem.
fn refused(n: u32, start: DateTime<Utc>) -> Value {
    json!({
        "position": n, "date": start.date_naive(), "start": start, "appointment": null,
        "not_booked": {
            "type": "https://carebook.dev/problems/slot-taken", "title": "Slot taken",
            "status": 409, "detail": "Another appointment is booked at this time.",
        },
    })
}

fn series_json(occurrences: Value) -> Value {
    json!({
        "id": SERIES, "provider_id": PROVIDER, "patient_id": PATIENT, "appointment_type_id": TYPE,
        "every_weeks": 2, "time_zone": "Europe/Berlin",
        "cancellation_policy": { "window_minutes": 1440, "late_cancel_fee": null, "no_show_fee": null },
        "occurrences": occurrences,
    })
}

/// The three visits every test series has: booked, refused, booked.
fn three_visits(first: DateTime<Utc>) -> Value {
    json!([
        booked(0, first),
        refused(1, first + Duration::weeks(2)),
        booked(2, first + Duration::weeks(4)),
    ])
}

/// The API of the series tests: the directory, a live hold, and `series` for
/// everything about the series.
async fn series_api(series: impl Fn(&Call) -> Option<Reply> + Send + Sync + 'static) -> FakeApi {
    let first = first_start();
    let expires = Utc::now() + Duration::minutes(10);
    let hold = format!("/api/v1/holds/{HOLD}");
    FakeApi::start(move |c| {
        if c.is("GET", &hold) {
            return ok(hold_json(first, expires, "held"));
        }
        if c.is("DELETE", &hold) {
            return empty(204);
        }
        series(c)
            .or_else(|| directory(c, first))
            .unwrap_or_else(|| unexpected(c))
    })
    .await
}

/// The series form's fields as the hold page renders them, with `repeat`.
fn series_fields(html: &str, repeat: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let series = &html[html
        .find("action=\"&#x2f;bookings&#x2f;series\"")
        .expect("the series form")..];
    let mut fields: Vec<(&'static str, String)> = [
        "hold_id",
        "series_key",
        "patient_id",
        "provider_id",
        "appointment_type_id",
        "start",
    ]
    .into_iter()
    .map(|name| (name, hidden(series, name)))
    .collect();
    fields.extend(repeat.iter().map(|(k, v)| (*k, (*v).to_owned())));
    fields
}

fn borrowed<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn a_held_time_is_booked_as_a_series_and_each_visit_is_listed() {
    let first = first_start();
    let api = series_api(move |c| {
        if c.is("POST", "/api/v1/appointment-series") {
            return Some((StatusCode::CREATED, series_json(three_visits(first))));
        }
        if c.is("GET", &format!("/api/v1/appointment-series/{SERIES}")) {
            return Some(ok(series_json(three_visits(first))));
        }
        None
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let desk = Visitor::signed_in(&portal, Role::Staff, STAFF).await;
    let (status, held) = desk.get(&portal, &format!("/bookings/holds/{HOLD}")).await;
    assert_eq!(status, StatusCode::OK, "{held}");
    assert!(held.contains("Or make it recurring"), "{held}");
    assert!(held.contains("<legend>Ends</legend>"), "{held}");

    let fields = series_fields(
        &held,
        &[("every_weeks", "2"), ("ends", "count"), ("count", "3")],
    );
    let r = desk
        .post(&portal, "/bookings/series", &held, &borrowed(&fields))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/clinic/series/{SERIES}"));
    let sent = &api.calls_to("POST", "/api/v1/appointment-series")[0];
    // Under the page's own key: a second press gets the same series.
    let key = sent.idempotency_key.clone().expect("an Idempotency-Key");
    assert!(
        held.contains(&format!("name=\"series_key\" value=\"{key}\"")),
        "{key}"
    );
    assert_eq!(
        sent.body,
        json!({
            "provider_id": PROVIDER, "appointment_type_id": TYPE, "patient_id": PATIENT,
            "first_start": first, "every_weeks": 2, "count": 3, "all_or_nothing": false,
        })
    );
    let calls = api.calls();
    let released = calls
        .iter()
        .position(|c| c.is("DELETE", &format!("/api/v1/holds/{HOLD}")))
        .expect("the hold is let go");
    let booked_at = calls
        .iter()
        .position(|c| c.is("POST", "/api/v1/appointment-series"))
        .unwrap();
    assert!(
        released < booked_at,
        "the hold would stand in the first visit's way"
    );

    let html = desk.follow(&portal, r).await;
    assert!(
        html.contains("Series booked: 2 of 3 visits booked."),
        "{html}"
    );
    assert!(html.contains("every 2 weeks for Paula Patient"), "{html}");
    assert!(
        html.contains(&format!(
            "href=\"/clinic/appointments/{}\">Booked</a>",
            visit_id(0)
        )),
        "{html}"
    );
    assert!(
        html.contains(&berlin_span(first)),
        "in the provider's zone: {html}"
    );
    assert!(
        html.contains("Slot taken") && html.contains("Another appointment is booked at this time."),
        "the refused visit says why: {html}"
    );
    assert!(!html.contains(&format!("value=\"{}\"", visit_id(1))));
    assert!(html.contains("Cancel this and all following"), "{html}");
}

#[tokio::test]
async fn all_or_nothing_until_a_date_and_a_refusal_books_nothing() {
    let first = first_start();
    let api = series_api(move |c| {
        if c.is("POST", "/api/v1/appointment-series") {
            let (status, mut body) = problem(409, "series-conflicts", "1 of 3 cannot be booked");
            body["occurrences"] = three_visits(first);
            body["occurrences"][0]["appointment"] = Value::Null;
            body["occurrences"][2]["appointment"] = Value::Null;
            return Some((status, body));
        }
        None
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let desk = Visitor::signed_in(&portal, Role::Staff, STAFF).await;
    let (_, held) = desk.get(&portal, &format!("/bookings/holds/{HOLD}")).await;
    let until = (first + Duration::weeks(4)).date_naive().to_string();
    let fields = series_fields(
        &held,
        &[
            ("every_weeks", "2"),
            ("ends", "until"),
            ("count", "6"),
            ("until", &until),
            ("all_or_nothing", "on"),
        ],
    );
    let r = desk
        .post(&portal, "/bookings/series", &held, &borrowed(&fields))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let sent = &api.calls_to("POST", "/api/v1/appointment-series")[0];
    assert_eq!(sent.body["until"], until);
    assert_eq!(sent.body["all_or_nothing"], true);
    assert!(sent.body.get("count").is_none(), "count or until, not both");

    let html = r.text().await.unwrap();
    assert!(html.contains("Nothing was booked."), "{html}");
    assert!(html.contains("Choose another time"), "{html}");
    assert!(html.contains("Slot taken"), "{html}");
    assert!(html.contains(&berlin_span(first)[..16]), "{html}");
    assert!(
        !html.contains("/clinic/appointments/"),
        "no visit was booked, so none links to an appointment: {html}"
    );
    assert!(!html.contains("Cancel this and all following"), "{html}");
}

#[tokio::test]
async fn a_mistyped_repeat_comes_back_on_the_hold_page_and_nothing_is_sent() {
    let api = series_api(|_| None).await;
    let portal = Portal::start(&api.url()).await;
    let desk = Visitor::signed_in(&portal, Role::Staff, STAFF).await;
    let (_, held) = desk.get(&portal, &format!("/bookings/holds/{HOLD}")).await;
    let fields = series_fields(
        &held,
        &[("every_weeks", "0"), ("ends", "count"), ("count", "60")],
    );
    let r = desk
        .post(&portal, "/bookings/series", &held, &borrowed(&fields))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Enter a number of weeks from 1 to 52."),
        "{html}"
    );
    assert!(
        html.contains("Enter a number of visits from 1 to 52."),
        "{html}"
    );
    assert!(html.contains("value=\"60\""), "kept as typed: {html}");
    assert!(api
        .calls_to("POST", "/api/v1/appointment-series")
        .is_empty());
    assert!(
        api.calls_to("DELETE", &format!("/api/v1/holds/{HOLD}"))
            .is_empty(),
        "the hold stays"
    );
}

#[tokio::test]
async fn a_visit_and_all_following_are_cancelled_with_a_reason() {
    let first = first_start();
    let api = series_api(move |c| {
        if c.is("GET", &format!("/api/v1/appointment-series/{SERIES}")) {
            return Some(ok(series_json(three_visits(first))));
        }
        if c.is(
            "POST",
            &format!("/api/v1/appointment-series/{SERIES}/cancel"),
        ) {
            return Some(ok(series_json(three_visits(first))));
        }
        None
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let desk = Visitor::signed_in(&portal, Role::Staff, STAFF).await;
    let (status, page) = desk.get(&portal, &format!("/clinic/series/{SERIES}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let path = format!("/clinic/series/{SERIES}/cancel");
    let from = visit_id(2).to_string();

    let r = desk
        .post(&portal, &path, &page, &[("from", &from), ("reason", " ")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Say why, for example"), "{html}");
    assert!(
        html.contains("<details class=\"cancel-following\" open>"),
        "{html}"
    );
    assert!(api
        .calls_to(
            "POST",
            &format!("/api/v1/appointment-series/{SERIES}/cancel")
        )
        .is_empty());

    let r = desk
        .post(
            &portal,
            &path,
            &page,
            &[("from", &from), ("reason", "Treatment finished")],
        )
        .await;
    assert_eq!(location(&r), format!("/clinic/series/{SERIES}"));
    let sent = &api.calls_to(
        "POST",
        &format!("/api/v1/appointment-series/{SERIES}/cancel"),
    )[0];
    assert_eq!(
        sent.body,
        json!({ "from": from, "reason": "Treatment finished" })
    );
    let html = desk.follow(&portal, r).await;
    assert!(
        html.contains("This visit and all following are cancelled."),
        "{html}"
    );
}

// ---- the hours editor ----

/// An appointment booked on Monday 4 May 2026, 10:00 UTC (12:00 in Berlin).
fn stranded() -> Value {
    json!({
        "id": visit_id(9), "start": "2026-05-04T10:00:00Z", "end": "2026-05-04T10:30:00Z",
        "patient_id": PATIENT, "appointment_type_id": TYPE,
    })
}

fn conflicts() -> Reply {
    let (status, mut body) = problem(409, "availability-conflicts", "1 appointment in the way");
    body["conflicts"] = json!([stranded()]);
    (status, body)
}

/// The provider's availability page and `change` for the writes: every write
/// without `on_conflict` is answered with the appointment in its way.
async fn hours_api(change: impl Fn(&Call) -> Option<Reply> + Send + Sync + 'static) -> FakeApi {
    let provider = format!("/api/v1/providers/{PROVIDER}");
    FakeApi::start(move |c| {
        if c.method != "GET" {
            if let Some(reply) = change(c) {
                return reply;
            }
            let asked = c.body.get("on_conflict").is_some() || c.query.contains("on_conflict");
            return if asked { unexpected(c) } else { conflicts() };
        }
        match c.path.strip_prefix(&provider) {
            Some("/availability") => ok(json!({ "weekly": [] })),
            Some("/availability/overrides" | "/time-off") => page_of(json!([])),
            Some("/appointment-types") => page_of(json!([type_json()])),
            _ => directory(c, first_start()).unwrap_or_else(|| unexpected(c)),
        }
    })
    .await
}

/// The hidden fields of the conflicts panel's form with class `class`.
fn panel_fields(html: &str, class: &str) -> Vec<(String, String)> {
    let start = html
        .find(&format!("class=\"{class}\""))
        .unwrap_or_else(|| panic!("the {class} form: {html}"));
    let form = &html[start..start + html[start..].find("</form>").unwrap()];
    form.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|s| {
            let (name, rest) = s.split_once('"').unwrap();
            let value = rest
                .split("value=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            (name.to_owned(), value.to_owned())
        })
        .filter(|(name, _)| name != "csrf_token")
        .collect()
}

fn with<'a>(
    fields: &'a [(String, String)],
    more: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(more.iter().copied())
        .collect()
}

const AVAILABILITY: &str = "/api/v1/providers/018f0000-0000-7000-8000-000000000111/availability";

#[tokio::test]
async fn new_hours_that_strand_bookings_list_them_and_keep_the_change() {
    let api = hours_api(|c| match c.body.get("on_conflict") {
        Some(v) if v == "keep" => Some(ok(json!({ "kept": [stranded()] }))),
        Some(v) if v["cancel_conflicts"]["reason"].is_string() => {
            Some(ok(json!({ "cancelled": [stranded()] })))
        }
        _ => None,
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let lena = Visitor::signed_in(&portal, Role::Provider, PROVIDER).await;
    let (status, editor) = lena.get(&portal, "/availability").await;
    assert_eq!(status, StatusCode::OK, "{editor}");

    let r = lena
        .post(
            &portal,
            "/availability",
            &editor,
            &[("mon_0_start", "08:00"), ("mon_0_end", "11:00")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("These booked appointments fall outside the new hours:"),
        "{html}"
    );
    assert!(
        html.contains("Mon 4 May 2026, 12:00–12:30 CEST"),
        "the provider's zone: {html}"
    );
    assert!(html.contains("Consultation"), "the type is named: {html}");
    assert!(
        !html.contains("Paula"),
        "the page resolves no names: {html}"
    );
    assert!(
        html.contains(
            "id=\"f-mon_0_start\" name=\"mon_0_start\" type=\"time\" step=\"300\" value=\"08:00\""
        ),
        "the editor keeps what was typed: {html}"
    );
    assert!(html.contains("Cancel them and tell the patients"), "{html}");
    assert!(html.contains("Keep them as exceptions"), "{html}");

    let cancel = panel_fields(&html, "conflict-cancel");
    assert!(
        cancel.contains(&("mon_0_start".into(), "08:00".into())),
        "{cancel:?}"
    );
    assert!(cancel.contains(&("on_conflict".into(), "cancel_conflicts".into())));
    let cancel: Vec<_> = cancel
        .into_iter()
        .filter(|(k, _)| k != "on_conflict")
        .collect();

    // Cancelling without a reason: asked again, the change still kept.
    let r = lena
        .post(
            &portal,
            "/availability",
            &html,
            &with(
                &cancel,
                &[("on_conflict", "cancel_conflicts"), ("conflict_reason", "")],
            ),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let again = r.text().await.unwrap();
    assert!(
        again.contains("Enter a reason for the patients."),
        "{again}"
    );
    assert!(again.contains("These booked appointments fall outside the new hours:"));

    let r = lena
        .post(
            &portal,
            "/availability",
            &html,
            &with(
                &cancel,
                &[
                    ("on_conflict", "cancel_conflicts"),
                    ("conflict_reason", "Clinic closes early"),
                ],
            ),
        )
        .await;
    let done = lena.follow(&portal, r).await;
    assert!(
        done.contains("1 booked appointment cancelled; the patients get an email."),
        "{done}"
    );

    let keep = panel_fields(&html, "conflict-keep");
    assert!(
        keep.contains(&("on_conflict".into(), "keep".into())),
        "{keep:?}"
    );
    let r = lena
        .post(&portal, "/availability", &html, &with(&keep, &[]))
        .await;
    let done = lena.follow(&portal, r).await;
    assert!(
        done.contains("1 booked appointment kept outside your hours."),
        "{done}"
    );

    let puts = api.calls_to("PUT", AVAILABILITY);
    let weekly = json!([{ "weekday": "mon", "start": "08:00", "end": "11:00" }]);
    assert_eq!(puts.len(), 4);
    for p in &puts {
        assert_eq!(p.body["weekly"], weekly, "every send is the same change");
    }
    assert!(puts[0].body.get("on_conflict").is_none());
    assert!(
        puts[1].body.get("on_conflict").is_none(),
        "no reason, no cancelling"
    );
    assert_eq!(
        puts[2].body["on_conflict"],
        json!({ "cancel_conflicts": { "reason": "Clinic closes early" } })
    );
    assert_eq!(puts[3].body["on_conflict"], "keep");
}

#[tokio::test]
async fn time_off_over_a_booking_is_kept_as_typed_and_sent_again_with_the_choice() {
    let api = hours_api(|c| match c.body.get("on_conflict") {
        Some(v) if v == "keep" => Some((
            StatusCode::CREATED,
            json!({ "id": Uuid::nil(), "kept": [stranded()] }),
        )),
        _ => None,
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let lena = Visitor::signed_in(&portal, Role::Provider, PROVIDER).await;
    let (_, editor) = lena.get(&portal, "/availability").await;
    let typed = [
        ("off_start", "2026-05-04T08:00"),
        ("off_end", "2026-05-04T18:00"),
        ("off_reason", "Conference"),
    ];
    let r = lena
        .post(&portal, "/availability/time-off", &editor, &typed)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"2026-05-04T08:00\""), "{html}");
    assert!(html.contains("value=\"Conference\""), "{html}");
    assert!(html.contains("Mon 4 May 2026, 12:00–12:30 CEST"), "{html}");
    let keep = panel_fields(&html, "conflict-keep");
    for (name, value) in typed {
        assert!(
            keep.contains(&(name.to_owned(), value.to_owned())),
            "{keep:?}"
        );
    }

    let r = lena
        .post(&portal, "/availability/time-off", &html, &with(&keep, &[]))
        .await;
    let done = lena.follow(&portal, r).await;
    assert!(done.contains("kept outside your hours"), "{done}");
    let posts = api.calls_to(
        "POST",
        "/api/v1/providers/018f0000-0000-7000-8000-000000000111/time-off",
    );
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].body["start"], posts[0].body["start"]);
    assert_eq!(posts[1].body["end"], posts[0].body["end"]);
    assert_eq!(posts[1].body["reason"], "Conference");
    assert_eq!(posts[1].body["on_conflict"], "keep");
}

#[tokio::test]
async fn removing_a_dates_hours_over_a_booking_asks_and_sends_the_choice_as_parameters() {
    let api = hours_api(|c| c.query.contains("on_conflict=keep").then(|| empty(204))).await;
    let portal = Portal::start(&api.url()).await;
    let lena = Visitor::signed_in(&portal, Role::Provider, PROVIDER).await;
    let (_, editor) = lena.get(&portal, "/availability").await;
    let r = lena
        .post(
            &portal,
            "/availability/overrides/2026-05-04/delete",
            &editor,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("These booked appointments fall outside the new hours:"),
        "{html}"
    );
    let keep = panel_fields(&html, "conflict-keep");
    let r = lena
        .post(
            &portal,
            "/availability/overrides/2026-05-04/delete",
            &html,
            &with(&keep, &[]),
        )
        .await;
    let done = lena.follow(&portal, r).await;
    assert!(done.contains("your weekly hours apply again"), "{done}");
    let path =
        "/api/v1/providers/018f0000-0000-7000-8000-000000000111/availability/overrides/2026-05-04";
    let deletes = api.calls_to("DELETE", path);
    assert_eq!(deletes.len(), 2);
    assert_eq!(deletes[0].query, "");
    assert_eq!(deletes[1].query, "on_conflict=keep");
}

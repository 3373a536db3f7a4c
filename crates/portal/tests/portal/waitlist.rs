//! The waitlist pages (issue 20): a patient joins for a provider or any of
//! the specialty, between two dates, on chosen days and hours, sees their
//! entries and leaves; the front desk sees the clinic's list in the order
//! offers go out and sets priorities; the "A slot opened" link shows the
//! held slot and books it (after logging in, if need be). What is checked is
//! the portal's side: the calls it makes and what the pages say.

use chrono::{DateTime, Duration, DurationRound, Utc};
use platform::auth::Role;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    clinic_api::{appointment_json, directory, page_of, HOLD, PATIENT, PROVIDER, STAFF, TYPE},
    fake_api::{empty, me, ok, problem, tokens, unexpected, FakeApi},
    helpers::{browser, csrf_of, Portal, Visitor},
};

const ENTRY: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0181);
const OTHER_ENTRY: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0182);
const OTHER_PATIENT: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0122);
const OFFER: &str = "wo_offer-token_123";

fn location(r: &reqwest::Response) -> String {
    r.headers()[header::LOCATION].to_str().unwrap().to_owned()
}

fn tomorrow_at_nine() -> DateTime<Utc> {
    (Utc::now() + Duration::days(1))
        .duration_trunc(Duration::days(1))
        .unwrap()
        + Duration::hours(7)
}

fn entry_json(id: Uuid, patient: Uuid, priority: i32, joined: &str, offer: Option<Value>) -> Value {
    json!({
        "id": id, "patient_id": patient, "appointment_type_id": TYPE,
        "provider_id": PROVIDER, "specialty": null,
        "earliest": "2026-05-03T22:00:00Z", "latest": "2026-05-31T22:00:00Z",
        "weekdays": ["mon", "wed"], "time_of_day": { "start": "09:00", "end": "12:00" },
        "priority": priority,
        "status": if offer.is_some() { "offered" } else { "waiting" },
        "appointment_id": null, "created_at": joined, "offer": offer,
    })
}

fn offer_json(start: DateTime<Utc>) -> Value {
    json!({
        "id": Uuid::from_u128(0x99), "hold_id": HOLD, "provider_id": PROVIDER,
        "start": start, "expires_at": Utc::now() + Duration::minutes(15),
    })
}

#[tokio::test]
async fn a_patient_joins_for_a_provider_between_dates_on_chosen_days_and_hours() {
    let free = tomorrow_at_nine();
    let api = FakeApi::start(move |c| {
        if c.is("POST", "/api/v1/waitlist") {
            return (
                StatusCode::CREATED,
                entry_json(ENTRY, PATIENT, 0, "2026-05-01T09:00:00Z", None),
            );
        }
        if c.is("GET", "/api/v1/waitlist") {
            return page_of(json!([]));
        }
        directory(c, free).unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;
    let (_, week) = paula
        .get(&portal, &format!("/providers/{PROVIDER}/book/{TYPE}"))
        .await;
    assert!(
        week.contains("Join the waitlist"),
        "offered beside the free times: {week}"
    );
    let (status, form) = paula
        .get(
            &portal,
            &format!("/waitlist/join?provider_id={PROVIDER}&type_id={TYPE}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{form}");
    assert!(form.contains("Only Dr. Lena Vogel"), "{form}");
    assert!(form.contains("Any Family medicine provider"), "{form}");

    let r = paula
        .post(
            &portal,
            "/waitlist",
            &form,
            &[
                ("provider_id", &PROVIDER.to_string()),
                ("appointment_type_id", &TYPE.to_string()),
                ("scope", "provider"),
                ("earliest", "2030-05-04"),
                ("latest", "2030-05-08"),
                ("day", "wed"),
                ("day", "mon"),
                ("from", "09:00"),
                ("to", "12:00"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/waitlist");
    let sent = &api.calls_to("POST", "/api/v1/waitlist")[0];
    assert_eq!(
        sent.body,
        json!({
            "appointment_type_id": TYPE, "provider_id": PROVIDER,
            // Whole days in Berlin (summer time).
            "earliest": "2030-05-03T22:00:00Z", "latest": "2030-05-08T22:00:00Z",
            "weekdays": ["mon", "wed"],
            "time_of_day": { "start": "09:00", "end": "12:00" },
        })
    );
    let (_, list) = paula.get(&portal, "/waitlist").await;
    assert!(list.contains("You are on the waitlist."), "{list}");
}

#[tokio::test]
async fn joining_for_any_provider_of_the_specialty_and_mistakes_named_by_field() {
    let free = tomorrow_at_nine();
    let api = FakeApi::start(move |c| {
        if c.is("POST", "/api/v1/waitlist") {
            return problem(
                409,
                "waitlist-limit-reached",
                "A patient can wait in at most 5 entries at once; leave one first.",
            );
        }
        directory(c, free).unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;
    let (_, form) = paula
        .get(
            &portal,
            &format!("/waitlist/join?provider_id={PROVIDER}&type_id={TYPE}"),
        )
        .await;
    let base = [
        ("provider_id", PROVIDER.to_string()),
        ("appointment_type_id", TYPE.to_string()),
        ("scope", "specialty".to_owned()),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, String)> {
        base.iter()
            .cloned()
            .chain(extra.iter().map(|(k, v)| (*k, v.to_string())))
            .collect()
    };
    let as_ref = |v: &[(&'static str, String)]| -> Vec<(&'static str, String)> { v.to_vec() };

    // The last day before the first: named next to the field, nothing sent.
    let wrong = as_ref(&with(&[
        ("earliest", "2030-05-08"),
        ("latest", "2030-05-04"),
    ]));
    let fields: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = paula.post(&portal, "/waitlist", &form, &fields).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"id="f-latest-error">The last day must be on or after the first day."#),
        "{html}"
    );
    assert!(
        html.contains(r#"value="specialty" checked"#),
        "kept: {html}"
    );
    assert!(api.calls_to("POST", "/api/v1/waitlist").is_empty());

    // Sent for the specialty; the API's refusal is said in words.
    let right = with(&[("earliest", "2030-05-04"), ("latest", "2030-05-08")]);
    let fields: Vec<(&str, &str)> = right.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = paula.post(&portal, "/waitlist", &html, &fields).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(html.contains("at most 5 entries at once"), "{html}");
    let sent = &api.calls_to("POST", "/api/v1/waitlist")[0];
    assert_eq!(sent.body["specialty"], "Family medicine");
    assert!(sent.body.get("provider_id").is_none(), "{}", sent.body);
    assert_eq!(sent.body["weekdays"], json!([]));
}

#[tokio::test]
async fn the_waitlist_page_lists_entries_with_any_held_slot_and_leaving_deletes() {
    let free = tomorrow_at_nine();
    let one = format!("/api/v1/waitlist/{ENTRY}");
    let api = FakeApi::start(move |c| {
        if c.is("GET", "/api/v1/waitlist") {
            return page_of(json!([entry_json(
                ENTRY,
                PATIENT,
                0,
                "2026-05-01T09:00:00Z",
                Some(offer_json(free))
            )]));
        }
        if c.is("DELETE", &one) {
            return empty(204);
        }
        directory(c, free).unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;
    let (status, html) = paula.get(&portal, "/waitlist").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Consultation · Dr. Lena Vogel"), "{html}");
    assert!(
        html.contains("Mon 4 May 2026 – Sun 31 May 2026 · Mon, Wed · 09:00–12:00"),
        "{html}"
    );
    assert!(html.contains("A time opened:"), "{html}");
    assert!(
        html.contains(&format!("href=\"/holds/{HOLD}\"")),
        "the held slot is booked through its hold: {html}"
    );
    let r = paula
        .post(&portal, &format!("/waitlist/{ENTRY}/leave"), &html, &[])
        .await;
    assert_eq!(location(&r), "/waitlist");
    assert_eq!(
        api.calls_to("DELETE", &format!("/api/v1/waitlist/{ENTRY}"))
            .len(),
        1
    );
}

#[tokio::test]
async fn the_front_desk_sees_the_list_in_offer_order_and_sets_priorities() {
    let free = tomorrow_at_nine();
    let other = format!("/api/v1/patients/{OTHER_PATIENT}/summary");
    let one = format!("/api/v1/waitlist/{OTHER_ENTRY}");
    let patch = one.clone();
    let api = FakeApi::start(move |c| {
        if c.is("GET", "/api/v1/waitlist") {
            // The API lists oldest first; Olga waits less long but ranks higher.
            return page_of(json!([
                entry_json(ENTRY, PATIENT, 0, "2026-04-01T09:00:00Z", None),
                entry_json(OTHER_ENTRY, OTHER_PATIENT, 10, "2026-04-02T09:00:00Z", None),
            ]));
        }
        if c.is("GET", &other) {
            return ok(
                json!({ "id": OTHER_PATIENT, "name": "Olga Other", "email": "olga@example.test" }),
            );
        }
        if c.is("PATCH", &patch) {
            return ok(entry_json(
                OTHER_ENTRY,
                OTHER_PATIENT,
                20,
                "2026-04-02T09:00:00Z",
                None,
            ));
        }
        directory(c, free).unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let desk = Visitor::signed_in(&portal, Role::Staff, STAFF).await;
    let (status, html) = desk.get(&portal, "/waitlist").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let listed = &api.calls_to("GET", "/api/v1/waitlist")[0];
    assert!(listed.query.contains("status=waiting"), "{}", listed.query);
    let olga = html.find("Olga Other").expect("Olga listed");
    let paula = html.find("Paula Patient").expect("Paula listed");
    assert!(olga < paula, "higher priority first: {html}");

    // Out of range: said, nothing sent.
    let r = desk
        .post(
            &portal,
            &format!("/waitlist/{OTHER_ENTRY}/priority"),
            &html,
            &[("priority", "500"), ("back", "/waitlist?status=waiting")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let shown = r.text().await.unwrap();
    assert!(
        shown.contains("Enter a whole number from -100 to 100."),
        "{shown}"
    );
    assert!(api.calls_to("PATCH", &one).is_empty());

    let r = desk
        .post(
            &portal,
            &format!("/waitlist/{OTHER_ENTRY}/priority"),
            &html,
            &[("priority", "20"), ("back", "/waitlist?status=waiting")],
        )
        .await;
    assert_eq!(location(&r), "/waitlist?status=waiting");
    assert_eq!(
        api.calls_to("PATCH", &one)[0].body,
        json!({ "priority": 20 })
    );
    // Only to the list itself, never elsewhere.
    let r = desk
        .post(
            &portal,
            &format!("/waitlist/{OTHER_ENTRY}/priority"),
            &html,
            &[("priority", "20"), ("back", "https://evil.test/")],
        )
        .await;
    assert_eq!(location(&r), "/waitlist");

    let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;
    let (_, form) = paula.get(&portal, "/waitlist").await;
    let r = paula
        .post(
            &portal,
            &format!("/waitlist/{OTHER_ENTRY}/priority"),
            &form,
            &[("priority", "100")],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "patients set no priority"
    );
}

#[tokio::test]
async fn an_offer_link_asks_for_login_first_and_comes_back_to_the_offer() {
    let free = tomorrow_at_nine();
    let api = FakeApi::start(move |c| match (c.method.as_str(), c.path.as_str()) {
        ("POST", "/api/v1/auth/login") => ok(tokens("access-1")),
        ("GET", "/api/v1/auth/me") => ok(me(PATIENT, "patient", false)),
        ("GET", "/api/v1/waitlist") => page_of(json!([entry_json(
            ENTRY,
            PATIENT,
            0,
            "2026-05-01T09:00:00Z",
            Some(offer_json(free))
        )])),
        _ => directory(c, free).unwrap_or_else(|| unexpected(c)),
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    let path = format!("/waitlist/offers/{OFFER}");
    let r = client.get(portal.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login = location(&r);
    assert_eq!(login, format!("/login?next=%2Fwaitlist%2Foffers%2F{OFFER}"));
    let html = client
        .get(portal.url(&login))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&html);
    let r = client
        .post(portal.url("/login"))
        .form(&[
            ("email", "paula@example.test"),
            ("password", "a long passphrase"),
            ("next", path.as_str()),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), path, "back to the offer");
    let html = client
        .get(portal.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("A slot opened"), "{html}");
    assert!(html.contains("Book this slot"), "{html}");
}

#[tokio::test]
async fn booking_an_offer_claims_it_by_its_token() {
    let free = tomorrow_at_nine();
    let claim = format!("/api/v1/waitlist/offers/{OFFER}/claim");
    let api = FakeApi::start(move |c| {
        if c.is("GET", "/api/v1/waitlist") {
            return page_of(json!([entry_json(
                ENTRY,
                PATIENT,
                0,
                "2026-05-01T09:00:00Z",
                Some(offer_json(free))
            )]));
        }
        if c.is("POST", &claim) {
            return (StatusCode::CREATED, appointment_json(HOLD, free, "booked"));
        }
        directory(c, free).unwrap_or_else(|| unexpected(c))
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;
    let path = format!("/waitlist/offers/{OFFER}");
    let (status, html) = paula.get(&portal, &path).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let when = free
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%a %-d %b %Y, %H:%M %Z")
        .to_string();
    assert!(html.contains(&when), "the offered slot: {html}");
    assert!(html.contains("Consultation with Dr. Lena Vogel"), "{html}");
    assert!(
        api.calls_to("POST", &format!("/api/v1/waitlist/offers/{OFFER}/claim"))
            .is_empty(),
        "opening the link books nothing"
    );
    let r = paula.post(&portal, &path, &html, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/appointments/{HOLD}"));
    let sent = &api.calls_to("POST", &format!("/api/v1/waitlist/offers/{OFFER}/claim"))[0];
    assert_eq!(sent.bearer.as_deref(), Some("access-token"));

    // Without the page's CSRF token the button does nothing.
    let r = paula
        .client
        .post(portal.url(&path))
        .header(header::COOKIE, &paula.cookie)
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn expired_taken_or_foreign_offers_say_so() {
    let free = tomorrow_at_nine();
    let answers = [
        (
            410,
            "offer-expired",
            "This offer has expired: the slot was passed on to the next person on the waitlist.",
        ),
        (
            409,
            "offer-claimed",
            "You have booked this slot already: it is in My appointments.",
        ),
        (
            404,
            "offer-not-found",
            "This offer is not for the account you are logged in with",
        ),
    ];
    for (status, code, said) in answers {
        let claim = format!("/api/v1/waitlist/offers/{OFFER}/claim");
        let api = FakeApi::start(move |c| {
            if c.is("GET", "/api/v1/waitlist") {
                return page_of(json!([]));
            }
            if c.is("POST", &claim) {
                return problem(status, code, "The API's own words.");
            }
            directory(c, free).unwrap_or_else(|| unexpected(c))
        })
        .await;
        let portal = Portal::start(&api.url()).await;
        let paula = Visitor::signed_in(&portal, Role::Patient, PATIENT).await;
        let path = format!("/waitlist/offers/{OFFER}");
        let (_, html) = paula.get(&portal, &path).await;
        assert!(
            html.contains("This offer is no longer open"),
            "nothing is held now: {html}"
        );
        // The page was open before it lapsed: the button's answer says why.
        let r = paula.post(&portal, &path, &html, &[]).await;
        assert_eq!(r.status().as_u16(), status);
        let html = r.text().await.unwrap();
        assert!(html.contains(said), "{code}: {html}");
    }
}

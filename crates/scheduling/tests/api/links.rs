use chrono::{DateTime, Duration, Utc};
use contracts::scheduling::{AppointmentCancelled, AppointmentLinksIssued};
use contracts::Event;
use platform::testing::{assert_problem, Anonymous, EventTap, User};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{eur, spawn_app, ten_am_local, Clinic, Scheduling, TestApp};

/// The next links the service relays.
async fn next_links(tap: &mut EventTap) -> AppointmentLinksIssued {
    tap.next().await.decode::<AppointmentLinksIssued>().unwrap()
}

async fn preview(app: &TestApp, token: &str) -> reqwest::Response {
    app.get(&Anonymous, &format!("/api/v1/appointment-links/{token}"))
        .await
}

async fn use_link(app: &TestApp, token: &str, action: &str, body: &Value) -> reqwest::Response {
    app.post(
        &Anonymous,
        &format!("/api/v1/appointment-links/{token}/{action}"),
        body,
    )
    .await
}

/// No key of `body`, at any depth, names a token or a session.
fn carries_no_credentials(body: &Value) -> bool {
    match body {
        Value::Object(map) => map.iter().all(|(k, v)| {
            let k = k.to_lowercase();
            !k.contains("token") && !k.contains("session") && carries_no_credentials(v)
        }),
        Value::Array(items) => items.iter().all(carries_no_credentials),
        _ => true,
    }
}

#[tokio::test]
async fn a_cancel_link_cancels_exactly_its_appointment_once_and_signs_nobody_in() {
    let app = spawn_app().await;
    let mut links = app.tap(&[AppointmentLinksIssued::TYPE]).await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 3);
    let x = app.booked(&patient, &patient, &clinic, start).await;
    let y = app
        .booked(&patient, &patient, &clinic, start + Duration::hours(4))
        .await;
    let (first, second) = (next_links(&mut links).await, next_links(&mut links).await);
    let x_links = [first.clone(), second]
        .into_iter()
        .find(|l| l.appointment_id.to_string() == x)
        .expect("links for each booking");
    assert_eq!(x_links.patient_id, patient.id);
    assert_eq!(x_links.version, 1);
    assert_eq!(x_links.expires_at, start);
    assert_ne!(x_links.cancel_token, x_links.reschedule_token);

    let r = preview(&app, &x_links.cancel_token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["action"], "cancel");
    assert_eq!(shown["appointment"]["id"], x);
    assert_eq!(shown["provider_name"], "Dr. Test");
    assert_eq!(shown["time_zone"], "Europe/Berlin");
    assert_eq!(shown["late"], false);
    assert_eq!(shown["fee"], Value::Null);

    // A link for one action does not do the other; an altered one is no link.
    assert_problem(
        use_link(
            &app,
            &x_links.cancel_token,
            "reschedule",
            &json!({"start": start + Duration::hours(6)}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "link-not-found",
    )
    .await;
    let mut forged = x_links.cancel_token.clone();
    let flipped = if forged.as_bytes()[20] == b'A' {
        "B"
    } else {
        "A"
    };
    forged.replace_range(20..21, flipped);
    assert_problem(
        use_link(&app, &forged, "cancel", &json!({})).await,
        StatusCode::NOT_FOUND,
        "link-not-found",
    )
    .await;

    let r = use_link(
        &app,
        &x_links.cancel_token,
        "cancel",
        &json!({"reason": "away"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "a link never starts a session"
    );
    let cancelled: Value = r.json().await.unwrap();
    assert!(carries_no_credentials(&cancelled), "{cancelled}");
    assert_eq!(cancelled["id"], x);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["late_cancellation"], false);
    let other = app
        .get_ok(&patient, &format!("/api/v1/appointments/{y}"))
        .await;
    assert_eq!(other["status"], "booked", "only that appointment");

    // Used: it works once, and the reschedule link of that version is spent too.
    for r in [
        use_link(&app, &x_links.cancel_token, "cancel", &json!({})).await,
        preview(&app, &x_links.cancel_token).await,
        preview(&app, &x_links.reschedule_token).await,
        use_link(
            &app,
            &x_links.reschedule_token,
            "reschedule",
            &json!({"start": start + Duration::hours(6)}),
        )
        .await,
    ] {
        assert_problem(r, StatusCode::GONE, "link-expired").await;
    }
    let events = app.published::<AppointmentCancelled>().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].appointment_id.to_string(), x);
    assert_eq!(events[0].changed_by, patient.id, "as the patient");
    assert_eq!(events[0].reason.as_deref(), Some("away"));
}

#[tokio::test]
async fn a_link_cancellation_inside_the_window_owes_the_fee_as_in_the_api() {
    let app = spawn_app().await;
    let mut links = app.tap(&[AppointmentLinksIssued::TYPE]).await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 3);
    let id = app.booked(&patient, &patient, &clinic, start).await;
    let issued = next_links(&mut links).await;

    // Two hours before: inside the 24-hour window.
    app.clock.set(start - Duration::hours(2));
    let shown: Value = preview(&app, &issued.cancel_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["late"], true);
    assert_eq!(
        shown["fee"],
        json!({"amount_minor": 2500, "currency": "EUR"})
    );
    let r = use_link(&app, &issued.cancel_token, "cancel", &json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cancelled: Value = r.json().await.unwrap();
    assert_eq!(cancelled["late_cancellation"], true);
    let event = &app.published::<AppointmentCancelled>().await[0];
    assert_eq!(event.appointment_id.to_string(), id);
    assert!(event.late);
    assert_eq!(event.fee, Some(eur(2500)));
}

#[tokio::test]
async fn links_stop_working_once_the_appointment_changes_or_starts() {
    let app = spawn_app().await;
    let mut links = app.tap(&[AppointmentLinksIssued::TYPE]).await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 3);
    let id = app.booked(&patient, &patient, &clinic, start).await;
    let v1 = next_links(&mut links).await;

    // Moved through the API: the first links are superseded, new ones issued.
    let moved = start + Duration::hours(1);
    let r = app
        .reschedule(&patient, &id, None, &json!({"start": moved}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v2 = next_links(&mut links).await;
    assert_eq!((v2.version, v2.expires_at), (2, moved));
    assert_problem(
        use_link(&app, &v1.cancel_token, "cancel", &json!({})).await,
        StatusCode::GONE,
        "link-expired",
    )
    .await;

    // Moved by its link: the answer is the API's, and it works once.
    let again = start + Duration::hours(4);
    let r = use_link(
        &app,
        &v2.reschedule_token,
        "reschedule",
        &json!({"start": again}),
    )
    .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(carries_no_credentials(&body), "{body}");
    assert_eq!(body["id"], id);
    assert_eq!(
        body["start"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        again
    );
    assert_eq!(body["version"], 3);
    assert_eq!(body["late"], false);
    assert_problem(
        // Spent, whatever the request: not a booking-rule problem.
        use_link(
            &app,
            &v2.reschedule_token,
            "reschedule",
            &json!({"start": start + Duration::minutes(307)}),
        )
        .await,
        StatusCode::GONE,
        "link-expired",
    )
    .await;
    let v3 = next_links(&mut links).await;
    assert_eq!(v3.version, 3);

    // At the start, the links of the version in force stop too.
    app.clock.set(again + Duration::minutes(1));
    for r in [
        preview(&app, &v3.cancel_token).await,
        use_link(&app, &v3.cancel_token, "cancel", &json!({})).await,
    ] {
        assert_problem(r, StatusCode::GONE, "link-expired").await;
    }
    let current = app
        .get_ok(&patient, &format!("/api/v1/appointments/{id}"))
        .await;
    assert_eq!(current["status"], "booked");
    assert_eq!(Uuid::parse_str(&id).unwrap(), v3.appointment_id);
}

/// `GET /api/v1/appointment-links/{token}/slots` for `[from, to)`, anonymously.
async fn link_slots(
    app: &TestApp,
    token: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> reqwest::Response {
    app.request(
        reqwest::Method::GET,
        &format!("/api/v1/appointment-links/{token}/slots"),
        &Anonymous,
    )
    .query(&[("from", from.to_rfc3339()), ("to", to.to_rfc3339())])
    .send()
    .await
    .unwrap()
}

/// The provider slot search for the same range, as the patient signed in.
async fn searched(
    app: &TestApp,
    patient: &User,
    clinic: &Clinic,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Value {
    let r = app
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/providers/{}/slots", clinic.provider.id),
            patient,
        )
        .query(&[
            ("appointment_type_id", clinic.type_id.to_string()),
            ("from", from.to_rfc3339()),
            ("to", to.to_rfc3339()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_reschedule_link_shows_the_free_times_without_sign_in_while_it_works() {
    let app = spawn_app().await;
    let mut links = app.tap(&[AppointmentLinksIssued::TYPE]).await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let patient = app.patient().await;
    let other = app.patient().await;
    let start = ten_am_local(clinic.tz, 3);
    let id = app.booked(&patient, &patient, &clinic, start).await;
    let v1 = next_links(&mut links).await;
    // Someone else holds a slot the same day: it is not offered here either.
    let held = start + Duration::hours(5);
    assert_eq!(
        app.hold(&other, &clinic, held).await.status(),
        StatusCode::CREATED
    );
    let (from, to) = (start - Duration::hours(10), start + Duration::hours(14));

    // The same slots as the provider search, for the link's provider and type,
    // without a sign-in, never stored, never a token or a session.
    let r = link_slots(&app, &v1.reschedule_token, from, to).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers().get("set-cookie").is_none());
    let shown: Value = r.json().await.unwrap();
    assert!(carries_no_credentials(&shown), "{shown}");
    assert_eq!(shown, searched(&app, &patient, &clinic, from, to).await);
    let starts: Vec<DateTime<Utc>> = shown["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(!starts.is_empty(), "{shown}");
    assert!(!starts.contains(&start), "its own time is taken");
    assert!(!starts.contains(&held), "a held slot is not offered");
    assert!(starts.contains(&(start + Duration::hours(3))), "{shown}");

    // Bounded like the normal search.
    for (from, to) in [(start, start), (start, start + Duration::days(32))] {
        assert_problem(
            link_slots(&app, &v1.reschedule_token, from, to).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
        )
        .await;
    }
    // Only a reschedule link: a cancel link or an altered token shows nothing.
    assert_problem(
        link_slots(&app, &v1.cancel_token, from, to).await,
        StatusCode::NOT_FOUND,
        "link-not-found",
    )
    .await;
    let mut forged = v1.reschedule_token.clone();
    let flipped = if forged.as_bytes()[20] == b'A' {
        "B"
    } else {
        "A"
    };
    forged.replace_range(20..21, flipped);
    assert_problem(
        link_slots(&app, &forged, from, to).await,
        StatusCode::NOT_FOUND,
        "link-not-found",
    )
    .await;

    // Used, the link shows nothing more; the moved appointment's new link does.
    let moved = start + Duration::hours(3);
    let r = use_link(
        &app,
        &v1.reschedule_token,
        "reschedule",
        &json!({"start": moved}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_problem(
        link_slots(&app, &v1.reschedule_token, from, to).await,
        StatusCode::GONE,
        "link-expired",
    )
    .await;
    let v2 = next_links(&mut links).await;
    assert_eq!(v2.appointment_id.to_string(), id);
    let r = link_slots(&app, &v2.reschedule_token, from, to).await;
    assert_eq!(r.status(), StatusCode::OK);
    let now_free: Value = r.json().await.unwrap();
    assert!(
        now_free
            .to_string()
            .contains(&start.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        "the old time is free again: {now_free}"
    );

    // From the start on, it shows nothing.
    app.clock.set(moved + Duration::minutes(1));
    assert_problem(
        link_slots(&app, &v2.reschedule_token, from, to).await,
        StatusCode::GONE,
        "link-expired",
    )
    .await;
}

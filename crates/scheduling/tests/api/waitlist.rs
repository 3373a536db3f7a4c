use chrono::{DateTime, Datelike, Duration, Utc};
use contracts::scheduling::{
    AppointmentBooked, HoldConverted, HoldExpired, WaitlistFulfilled, WaitlistJoined, WaitlistLeft,
    WaitlistOffered,
};
use contracts::Event;
use platform::{
    auth::Role,
    testing::{assert_problem, error_fields, eventually, metric, EventTap, User, WAIT},
};
use reqwest::StatusCode;
use scheduling::{clock::Clock, store::readmodel};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{another_type, spawn_app, ten_am_local, Clinic, Scheduling, TestApp};

fn id(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

/// The next offer the service relays.
async fn next_offer(tap: &mut EventTap) -> WaitlistOffered {
    tap.next().await.decode::<WaitlistOffered>().unwrap()
}

/// `user`'s entry `entry` as they list it.
async fn entry_of(app: &TestApp, user: &User, entry: &Value) -> Value {
    let list = app.get_ok(user, "/api/v1/waitlist").await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == entry["id"])
        .cloned()
        .expect("the entry is listed")
}

/// `patient` has `start` booked at `clinic`, the calendar's own openings are
/// dealt with, and the waitlist is ready for the slot: the appointment's id.
async fn booked_slot(
    app: &TestApp,
    clinic: &Clinic,
    patient: &User,
    start: DateTime<Utc>,
) -> String {
    let id = app.booked(patient, patient, clinic, start).await;
    app.backfilled().await;
    id
}

async fn cancel(app: &TestApp, user: &User, appointment: &str) {
    let r = app
        .post(
            user,
            &format!("/api/v1/appointments/{appointment}/cancel"),
            &json!({"reason": "cannot come"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn claim(app: &TestApp, user: &User, token: &str) -> reqwest::Response {
    app.post(
        user,
        &format!("/api/v1/waitlist/offers/{token}/claim"),
        &json!({}),
    )
    .await
}

#[tokio::test]
async fn patients_join_list_and_leave_the_waitlist_and_staff_see_the_clinics() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let (b, c) = (app.patient().await, app.patient().await);
    let staff = app.user(Role::Staff);
    let start = ten_am_local(clinic.tz, 3);

    let by_provider = app
        .waitlisted(&b, &clinic, start, start + Duration::days(5))
        .await;
    assert_eq!(by_provider["status"], "waiting");
    assert_eq!(by_provider["patient_id"], b.id.to_string());
    assert_eq!(by_provider["provider_id"], clinic.provider.id.to_string());
    assert_eq!(by_provider["specialty"], Value::Null);
    assert_eq!(by_provider["priority"], 0);
    assert_eq!(by_provider["offer"], Value::Null);

    let r = app
        .post(
            &b,
            "/api/v1/waitlist",
            &json!({"appointment_type_id": clinic.type_id, "specialty": " Dermatology ",
                "earliest": start, "latest": start + Duration::days(20),
                "weekdays": ["wed", "mon", "wed"], "time_of_day": {"start": "08:00", "end": "12:30"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let by_specialty: Value = r.json().await.unwrap();
    assert_eq!(by_specialty["specialty"], "Dermatology");
    assert_eq!(by_specialty["provider_id"], Value::Null);
    assert_eq!(by_specialty["weekdays"], json!(["mon", "wed"]));
    assert_eq!(
        by_specialty["time_of_day"],
        json!({"start": "08:00", "end": "12:30"})
    );

    // Refused: both targets, a bad weekday, a range backwards, a patient's priority.
    let base = json!({"appointment_type_id": clinic.type_id, "provider_id": clinic.provider.id,
        "earliest": start, "latest": start + Duration::days(1)});
    for (change, field) in [
        (json!({"specialty": "Dermatology"}), "provider_id"),
        (json!({"weekdays": ["funday"]}), "weekdays"),
        (json!({"latest": start - Duration::days(1)}), "latest"),
        (
            json!({"time_of_day": {"start": "12:00", "end": "08:00"}}),
            "time_of_day",
        ),
    ] {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let problem = assert_problem(
            app.post(&b, "/api/v1/waitlist", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
        )
        .await;
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
    let mut prioritised = base.clone();
    prioritised["priority"] = json!(5);
    assert_problem(
        app.post(&b, "/api/v1/waitlist", &prioritised).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let mut for_b = base.clone();
    for_b["patient_id"] = json!(b.id);
    assert_problem(
        app.post(&c, "/api/v1/waitlist", &for_b).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Staff wait for a patient, with a priority.
    for_b["priority"] = json!(3);
    let r = app.post(&staff, "/api/v1/waitlist", &for_b).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let by_staff: Value = r.json().await.unwrap();
    assert_eq!(by_staff["priority"], 3);

    // Patients see their own entries, staff the clinic's, filtered.
    let own = app.get_ok(&b, "/api/v1/waitlist").await;
    assert_eq!(own["items"].as_array().unwrap().len(), 3);
    let none = app.get_ok(&c, "/api/v1/waitlist").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    app.waitlisted(&c, &clinic, start, start + Duration::days(2))
        .await;
    let all = app.get_ok(&staff, "/api/v1/waitlist").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    let bs = app
        .get_ok(&staff, &format!("/api/v1/waitlist?patient_id={}", b.id))
        .await;
    assert_eq!(bs["items"].as_array().unwrap().len(), 3);
    let theirs = app
        .get_ok(&c, &format!("/api/v1/waitlist?patient_id={}", b.id))
        .await;
    assert!(
        theirs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["patient_id"] == c.id.to_string()),
        "a patient's filter never reaches another patient's entries"
    );

    // Leaving: the patient or staff; to anyone else the entry does not exist.
    let path = format!("/api/v1/waitlist/{}", by_provider["id"].as_str().unwrap());
    assert_problem(
        app.delete(&c, &path).await,
        StatusCode::NOT_FOUND,
        "waitlist-entry-not-found",
    )
    .await;
    assert_eq!(app.delete(&b, &path).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&b, &path).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(entry_of(&app, &b, &by_provider).await["status"], "left");
    let left = app.get_ok(&staff, "/api/v1/waitlist?status=left").await;
    assert_eq!(left["items"].as_array().unwrap().len(), 1);

    assert_eq!(app.published::<WaitlistJoined>().await.len(), 4);
    let left = app.published::<WaitlistLeft>().await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].entry_id, id(&by_provider));
}

/// The "done when", without the gateway and the email: B waits, A
/// cancels, B is offered the slot and it is held for them; C cannot book it;
/// B claims it.
#[tokio::test]
async fn a_cancelled_slot_is_held_for_the_first_entry_and_claimed_by_its_patient() {
    let app = spawn_app().await;
    let mut offers = app.tap(&[WaitlistOffered::TYPE]).await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let (a, b, b2, c) = (
        app.patient().await,
        app.patient().await,
        app.patient().await,
        app.patient().await,
    );
    let start = ten_am_local(clinic.tz, 3);
    let appointment = booked_slot(&app, &clinic, &a, start).await;
    let slot_end = start + Duration::minutes(30);
    let first = app.waitlisted(&b, &clinic, start, slot_end).await;
    let second = app.waitlisted(&b2, &clinic, start, slot_end).await;

    cancel(&app, &a, &appointment).await;
    let offer = next_offer(&mut offers).await;
    assert_eq!(offer.patient_id, b.id);
    assert_eq!(offer.entry_id, id(&first));
    assert_eq!(offer.start, start);
    assert_eq!(offer.end, slot_end);
    assert_eq!(offer.time_zone, "Europe/Berlin");
    assert!(offer.token.starts_with("wo_"), "{}", offer.token);
    let left = offer.expires_at - app.clock.now();
    assert!(
        left > Duration::minutes(14) && left <= Duration::minutes(15),
        "15 minutes by default: {left}"
    );
    let offered = entry_of(&app, &b, &first).await;
    assert_eq!(offered["status"], "offered");
    assert_eq!(offered["offer"]["hold_id"], offer.hold_id.to_string());
    assert_eq!(entry_of(&app, &b2, &second).await["status"], "waiting");
    // The token is never kept: only its hash.
    let db = &app.db;
    eventually(
        WAIT,
        "the sensitive offer to leave the outbox",
        || async move {
            let kept: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM outbox WHERE event_type = 'waitlist.offered'",
            )
            .fetch_one(db)
            .await
            .ok()?;
            (kept == 0).then_some(())
        },
    )
    .await;

    // While the offer stands, nobody else gets the slot.
    assert_problem(
        app.book(&c, &clinic, start).await,
        StatusCode::CONFLICT,
        "slot-taken",
    )
    .await;
    let free = app
        .slots(
            &c,
            &clinic,
            start - Duration::hours(1),
            start + Duration::hours(1),
        )
        .await;
    assert!(!free.contains(&start));
    assert_problem(
        claim(&app, &c, &offer.token).await,
        StatusCode::NOT_FOUND,
        "offer-not-found",
    )
    .await;
    assert_problem(
        claim(&app, &b, "wo_not-a-token").await,
        StatusCode::NOT_FOUND,
        "offer-not-found",
    )
    .await;

    let r = claim(&app, &b, &offer.token).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let booked: Value = r.json().await.unwrap();
    assert_eq!(id(&booked), offer.hold_id);
    assert_eq!(booked["patient_id"], b.id.to_string());
    assert_eq!(booked["status"], "booked");
    assert_eq!(
        booked["start"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        start
    );
    assert_problem(
        claim(&app, &b, &offer.token).await,
        StatusCode::CONFLICT,
        "offer-claimed",
    )
    .await;
    let fulfilled = entry_of(&app, &b, &first).await;
    assert_eq!(fulfilled["status"], "fulfilled");
    assert_eq!(fulfilled["appointment_id"], offer.hold_id.to_string());
    assert_eq!(fulfilled["offer"], Value::Null);
    assert_eq!(entry_of(&app, &b2, &second).await["status"], "waiting");
    let mine = app
        .get_ok(&b, &format!("/api/v1/appointments/{}", offer.hold_id))
        .await;
    assert_eq!(mine["status"], "booked");

    let done = app.published::<WaitlistFulfilled>().await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].appointment_id, Some(offer.hold_id));
    let converted = app.published::<HoldConverted>().await;
    assert_eq!(converted.len(), 1);
    assert_eq!(converted[0].waitlist_entry_id, Some(id(&first)));
    let booked = app.published::<AppointmentBooked>().await;
    assert!(booked
        .iter()
        .any(|e| e.appointment_id == offer.hold_id && e.patient_id == b.id));

    // Slots freed, offered, refilled, and the time it took.
    let m = app.metrics().await;
    for name in [
        "waitlist_slots_freed_total{cause=\"cancelled\"}",
        "waitlist_offers_total",
        "waitlist_refills_total",
        "waitlist_time_to_refill_minutes_count",
    ] {
        assert!(metric(&m, name) >= 1.0, "{name} in\n{m}");
    }
}

#[tokio::test]
async fn an_unclaimed_offer_lapses_by_the_clock_and_passes_to_the_next_entry() {
    let app = spawn_app().await;
    let mut offers = app.tap(&[WaitlistOffered::TYPE]).await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let (a, b, d) = (
        app.patient().await,
        app.patient().await,
        app.patient().await,
    );
    let start = ten_am_local(clinic.tz, 3);
    let appointment = booked_slot(&app, &clinic, &a, start).await;
    let end = start + Duration::minutes(30);
    let first = app.waitlisted(&b, &clinic, start, end).await;
    let next = app.waitlisted(&d, &clinic, start, end).await;

    cancel(&app, &a, &appointment).await;
    let to_b = next_offer(&mut offers).await;
    assert_eq!(to_b.patient_id, b.id);

    app.clock.advance(Duration::minutes(16));
    let to_d = next_offer(&mut offers).await;
    assert_eq!(to_d.patient_id, d.id);
    assert_eq!(to_d.entry_id, id(&next));
    assert_eq!(to_d.start, start);
    assert_ne!(to_d.hold_id, to_b.hold_id);

    assert_problem(
        claim(&app, &b, &to_b.token).await,
        StatusCode::GONE,
        "offer-expired",
    )
    .await;
    let waiting_again = entry_of(&app, &b, &first).await;
    assert_eq!(
        waiting_again["status"], "waiting",
        "B stays on the waitlist"
    );
    assert_eq!(waiting_again["offer"], Value::Null);
    let expired = app.published::<HoldExpired>().await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].hold_id, to_b.hold_id);
    assert_eq!(expired[0].waitlist_entry_id, Some(id(&first)));

    assert_eq!(
        claim(&app, &d, &to_d.token).await.status(),
        StatusCode::CREATED
    );
    offers.assert_quiet().await;
}

#[tokio::test]
async fn a_patient_booked_at_an_overlapping_time_is_skipped_and_specialty_entries_match() {
    let app = spawn_app().await;
    let mut offers = app.tap(&[WaitlistOffered::TYPE]).await;
    let (one, two) = (
        app.clinic(chrono_tz::UTC).await,
        app.clinic(chrono_tz::UTC).await,
    );
    for clinic in [&one, &two] {
        let mut conn = app.db.acquire().await.unwrap();
        readmodel::upsert_provider_profile(
            &mut conn,
            clinic.provider.id,
            "Dr. Skin",
            "UTC",
            "Dermatology",
            Utc::now() + Duration::seconds(1),
        )
        .await
        .unwrap();
    }
    let (a, busy, d) = (
        app.patient().await,
        app.patient().await,
        app.patient().await,
    );
    let start = ten_am_local(one.tz, 3);
    let appointment = booked_slot(&app, &one, &a, start).await;
    // Booked elsewhere at that time.
    app.booked(&busy, &busy, &two, start).await;
    app.backfilled().await;
    let end = start + Duration::minutes(30);
    let skipped = app.waitlisted(&busy, &one, start, end).await;
    // Any dermatologist's "Consultation" will do, asked for by the other one's type.
    let r = app
        .post(
            &d,
            "/api/v1/waitlist",
            &json!({"appointment_type_id": two.type_id, "specialty": "dermatology",
                "earliest": start, "latest": end}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let by_specialty: Value = r.json().await.unwrap();

    cancel(&app, &a, &appointment).await;
    let offer = next_offer(&mut offers).await;
    assert_eq!(offer.patient_id, d.id, "the busy patient is skipped");
    assert_eq!(offer.entry_id, id(&by_specialty));
    assert_eq!(offer.provider_id, one.provider.id);
    assert_eq!(offer.appointment_type_id, one.type_id);
    assert_eq!(entry_of(&app, &busy, &skipped).await["status"], "waiting");
    offers.assert_quiet().await;
}

#[tokio::test]
async fn staff_priority_ranks_first_and_a_declined_offer_goes_to_the_next_who_suits() {
    let app = spawn_app().await;
    let mut offers = app.tap(&[WaitlistOffered::TYPE]).await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let staff = app.user(Role::Staff);
    let (a, b, w, t, d) = (
        app.patient().await,
        app.patient().await,
        app.patient().await,
        app.patient().await,
        app.patient().await,
    );
    let start = ten_am_local(clinic.tz, 3);
    let appointment = booked_slot(&app, &clinic, &a, start).await;
    // Only the cancelled slot suits them (the slots either side it freed too
    // through the buffer are no one's here).
    let (from, to) = (start, start + Duration::minutes(30));
    let local = start.with_timezone(&clinic.tz);
    let other_day = local.weekday().succ().to_string().to_lowercase();

    // Joined first but on another weekday only, or in the afternoon only.
    let r = app
        .post(
            &w,
            "/api/v1/waitlist",
            &json!({"appointment_type_id": clinic.type_id, "provider_id": clinic.provider.id,
                "earliest": from, "latest": to, "weekdays": [other_day]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .post(
            &t,
            "/api/v1/waitlist",
            &json!({"appointment_type_id": clinic.type_id, "provider_id": clinic.provider.id,
                "earliest": from, "latest": to, "time_of_day": {"start": "13:00", "end": "17:00"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let first_come = app.waitlisted(&b, &clinic, from, to).await;
    let raised = app.waitlisted(&d, &clinic, from, to).await;

    let path = format!("/api/v1/waitlist/{}", raised["id"].as_str().unwrap());
    assert_problem(
        app.patch(&d, &path, &json!({"priority": 5})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let r = app.patch(&staff, &path, &json!({"priority": 5})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["priority"], 5);

    cancel(&app, &a, &appointment).await;
    let offer = next_offer(&mut offers).await;
    assert_eq!(offer.patient_id, d.id, "staff's priority goes first");
    assert_eq!(offer.start, start);

    // D declines by releasing the hold: the slot goes to B, first come.
    let release = format!("/api/v1/holds/{}", offer.hold_id);
    assert_eq!(
        app.delete(&d, &release).await.status(),
        StatusCode::NO_CONTENT
    );
    let passed = next_offer(&mut offers).await;
    assert_eq!(passed.patient_id, b.id);
    assert_eq!(passed.entry_id, id(&first_come));
    assert_eq!(passed.start, start);
    assert_problem(
        claim(&app, &d, &offer.token).await,
        StatusCode::GONE,
        "offer-expired",
    )
    .await;
    assert_eq!(entry_of(&app, &d, &raised).await["status"], "waiting");

    // B leaves: the offer is withdrawn, and nobody else it suits is waiting.
    let leave = format!("/api/v1/waitlist/{}", first_come["id"].as_str().unwrap());
    assert_eq!(
        app.delete(&b, &leave).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        claim(&app, &b, &passed.token).await,
        StatusCode::GONE,
        "offer-expired",
    )
    .await;
    app.backfilled().await;
    offers.assert_quiet().await;
    let free = app
        .slots(
            &a,
            &clinic,
            start - Duration::hours(1),
            start + Duration::hours(1),
        )
        .await;
    assert!(free.contains(&start), "the slot is free again");
}

#[tokio::test]
async fn a_patient_waits_in_at_most_ten_entries_and_lapsed_ones_do_not_count() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 2);
    let soon = (start, start + Duration::hours(2));
    for _ in 0..10 {
        app.waitlisted(&patient, &clinic, soon.0, soon.1).await;
    }
    let later = json!({"appointment_type_id": clinic.type_id, "provider_id": clinic.provider.id,
        "earliest": start + Duration::days(2), "latest": start + Duration::days(3)});
    assert_problem(
        app.post(&patient, "/api/v1/waitlist", &later).await,
        StatusCode::CONFLICT,
        "waitlist-limit-reached",
    )
    .await;
    // Once their ranges are over, those ten can never be offered anything.
    app.clock.set(soon.1 + Duration::minutes(1));
    let r = app.post(&patient, "/api/v1/waitlist", &later).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_lapsed_hold_and_a_moved_appointment_open_their_slots_to_the_waitlist() {
    let app = spawn_app().await;
    let mut offers = app.tap(&[WaitlistOffered::TYPE]).await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let (a, b, c, d) = (
        app.patient().await,
        app.patient().await,
        app.patient().await,
        app.patient().await,
    );
    let held = ten_am_local(clinic.tz, 3);
    let moved = held + Duration::days(1);
    let appointment = booked_slot(&app, &clinic, &a, moved).await;
    assert_eq!(
        app.hold(&c, &clinic, held).await.status(),
        StatusCode::CREATED
    );
    app.waitlisted(&b, &clinic, held, held + Duration::minutes(30))
        .await;
    app.waitlisted(&d, &clinic, moved, moved + Duration::minutes(30))
        .await;

    // C never books: the hold lapses and B is offered the slot.
    app.clock.advance(Duration::minutes(11));
    let offer = next_offer(&mut offers).await;
    assert_eq!((offer.patient_id, offer.start), (b.id, held));

    // A moves their appointment: D is offered the time it left.
    let r = app
        .reschedule(
            &a,
            &appointment,
            None,
            &json!({"start": moved + Duration::hours(4)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let offer = next_offer(&mut offers).await;
    assert_eq!((offer.patient_id, offer.start), (d.id, moved));
    let m = app.metrics().await;
    for cause in ["hold_expired", "rescheduled"] {
        let name = format!("waitlist_slots_freed_total{{cause=\"{cause}\"}}");
        assert!(metric(&m, &name) >= 1.0, "{name} in\n{m}");
    }
}

#[tokio::test]
async fn a_neighbouring_slot_the_cancelled_buffer_kept_out_is_offered_too() {
    let app = spawn_app().await;
    let mut offers = app.tap(&[WaitlistOffered::TYPE]).await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let (a, b) = (app.patient().await, app.patient().await);
    let start = ten_am_local(clinic.tz, 3);
    // A quick visit 09:45–10:00 with 15 minutes of buffer after: only its
    // buffer keeps the clinic's 10:00 out.
    let quick = another_type(
        &app,
        &clinic,
        serde_json::json!({"name": "Quick", "duration_minutes": 15, "buffer_after_minutes": 15, "slot_step_minutes": 45}),
    )
    .await;
    let appointment = booked_slot(&app, &quick, &a, start - Duration::minutes(15)).await;
    let free = app
        .slots(
            &b,
            &clinic,
            start - Duration::hours(1),
            start + Duration::hours(1),
        )
        .await;
    assert!(!free.contains(&start));
    app.waitlisted(&b, &clinic, start, start + Duration::minutes(30))
        .await;

    cancel(&app, &a, &appointment).await;
    let offer = next_offer(&mut offers).await;
    assert_eq!((offer.patient_id, offer.start), (b.id, start));
}

#[tokio::test]
async fn two_replicas_offer_a_freed_slot_once_and_racing_claims_book_it_once() {
    let app = spawn_app().await;
    let _second = app.second_replica().await;
    let mut offers = app.tap(&[WaitlistOffered::TYPE]).await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let (a, b, d) = (
        app.patient().await,
        app.patient().await,
        app.patient().await,
    );
    let start = ten_am_local(clinic.tz, 3);
    let appointment = booked_slot(&app, &clinic, &a, start).await;
    let end = start + Duration::minutes(30);
    app.waitlisted(&b, &clinic, start, end).await;
    app.waitlisted(&d, &clinic, start, end).await;

    cancel(&app, &a, &appointment).await;
    let offer = next_offer(&mut offers).await;
    assert_eq!(offer.patient_id, b.id);
    app.backfilled().await;
    offers.assert_quiet().await;

    let (app_ref, token) = (&app, offer.token.as_str());
    let claims: Vec<u16> = futures_util::future::join_all((0..4).map(|_| {
        let b = &b;
        async move { claim(app_ref, b, token).await.status().as_u16() }
    }))
    .await;
    assert_eq!(
        claims.iter().filter(|s| **s == 201).count(),
        1,
        "{claims:?}"
    );
    assert!(claims.iter().all(|s| *s == 201 || *s == 409), "{claims:?}");
    let (booked, offered): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM appointments WHERE status = 'booked'),
                (SELECT count(*) FROM waitlist_offers)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((booked, offered), (1, 1));
    assert_eq!(app.published::<WaitlistFulfilled>().await.len(), 1);
}

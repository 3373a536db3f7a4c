use chrono::{DateTime, Duration, Utc};
use contracts::scheduling::{
    AppointmentCancelled, AppointmentCheckedIn, AppointmentCompleted, AppointmentNoShow,
    AppointmentRescheduled, AppointmentStatus,
};
use platform::{
    auth::Role,
    testing::{assert_problem, error_fields, Anonymous, User},
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{eur, spawn_app, spawn_app_with_pool, ten_am_local, Scheduling};

#[tokio::test]
async fn cancelling_frees_the_slot_at_once() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 5);
    let window = (start - Duration::hours(1), start + Duration::hours(1));
    let _warm_cache = app.slots(&patient, &clinic, window.0, window.1).await;
    let a: Value = app
        .book(&patient, &clinic, start)
        .await
        .json()
        .await
        .unwrap();
    assert!(!app
        .slots(&patient, &clinic, window.0, window.1)
        .await
        .contains(&start));
    let r = app
        .post(
            &patient,
            &format!("/api/v1/appointments/{}/cancel", a["id"].as_str().unwrap()),
            &json!({"reason": "feeling better"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cancelled: Value = r.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["late_cancellation"], false);
    let stored: Value = app
        .get(
            &patient,
            &format!("/api/v1/appointments/{}", a["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled, stored, "the answer is the row as stored");
    let history: Vec<(i32, String, Option<String>)> = sqlx::query_as(
        "SELECT version, status, note FROM appointment_history WHERE appointment_id = $1::uuid ORDER BY version",
    )
    .bind(a["id"].as_str().unwrap())
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        history,
        vec![
            (1, "booked".to_owned(), None),
            (2, "cancelled".to_owned(), Some("feeling better".to_owned()))
        ]
    );
    assert!(
        app.slots(&patient, &clinic, window.0, window.1)
            .await
            .contains(&start),
        "a cancelled slot is free again at once"
    );
    // Cancelling twice is an illegal transition.
    let again = app
        .post(
            &patient,
            &format!("/api/v1/appointments/{}/cancel", a["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_problem(again, StatusCode::CONFLICT, "illegal-transition").await;
}

#[tokio::test]
async fn a_late_patient_cancellation_carries_the_fee_in_its_event() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    // Tomorrow 10:00 is inside the 24-hour cancellation window only if close enough; use staff to book soon.
    let soon = ten_am_local(clinic.tz, 1);
    let staff = app.user(Role::Staff);
    let body = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": soon, "patient_id": patient.id});
    let r = app.post(&staff, "/api/v1/appointments", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let a: Value = r.json().await.unwrap();
    let r = app
        .post(
            &patient,
            &format!("/api/v1/appointments/{}/cancel", a["id"].as_str().unwrap()),
            &json!({"reason": "late"}),
        )
        .await;
    let cancelled: Value = r.json().await.unwrap();
    let late = soon - Utc::now() < Duration::hours(24);
    assert_eq!(cancelled["late_cancellation"], late);
    let event = &app.published::<AppointmentCancelled>().await[0];
    assert_eq!(event.late, late);
    if late {
        assert_eq!(event.fee, Some(eur(2500)));
    }
}

#[tokio::test]
async fn rescheduling_moves_the_same_appointment_and_keeps_history() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let (patient, other) = (app.patient().await, app.patient().await);
    let start = ten_am_local(clinic.tz, 3);
    let a: Value = app
        .book(&patient, &clinic, start)
        .await
        .json()
        .await
        .unwrap();
    let id = a["id"].as_str().unwrap().to_owned();
    let taken = start + Duration::hours(1);
    assert_eq!(
        app.book(&other, &clinic, taken).await.status(),
        StatusCode::CREATED
    );
    let r = app
        .post(
            &patient,
            &format!("/api/v1/appointments/{id}/reschedule"),
            &json!({"start": taken}),
        )
        .await;
    assert_problem(r, StatusCode::CONFLICT, "slot-taken").await;

    let to = start + Duration::hours(4);
    let r = app
        .post(
            &patient,
            &format!("/api/v1/appointments/{id}/reschedule"),
            &json!({"start": to}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let moved: Value = r.json().await.unwrap();
    assert_eq!(moved["id"], id);
    assert_eq!(moved["version"], 2);
    assert_eq!(moved["late"], false, "moved three days ahead: on time");
    assert!(moved["fee"].is_null());
    assert_eq!(
        moved["start"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        to
    );
    let history: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM appointment_history WHERE appointment_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(history, 2);
    let window = (start - Duration::hours(1), start + Duration::hours(6));
    let free = app.slots(&patient, &clinic, window.0, window.1).await;
    assert!(free.contains(&start) && !free.contains(&to));
    let event = &app.published::<AppointmentRescheduled>().await[0];
    assert_eq!(event.version, 2);
    assert_eq!(event.previous_start, Some(start));
    assert_eq!((event.late, &event.fee), (false, &None));
}

#[tokio::test]
async fn the_visit_goes_booked_checked_in_completed_and_illegal_steps_conflict() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 2);
    let a: Value = app
        .book(&patient, &clinic, start)
        .await
        .json()
        .await
        .unwrap();
    let id = a["id"].as_str().unwrap();
    // The patient arrives half an hour early.
    app.clock.set(start - Duration::minutes(30));
    let step = |who: &'_ User, action: &'static str| {
        let path = format!("/api/v1/appointments/{id}/{action}");
        let (app, who) = (&app, who.clone());
        async move { app.post(&who, &path, &json!({})).await }
    };
    assert_problem(
        step(&clinic.provider, "complete").await,
        StatusCode::CONFLICT,
        "illegal-transition",
    )
    .await;
    assert_problem(
        step(&patient, "check-in").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let r: Value = step(&clinic.provider, "check-in")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "checked_in");
    app.clock.set(start + Duration::minutes(25));
    let r: Value = step(&clinic.provider, "complete")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "completed");
    assert_problem(
        step(&clinic.provider, "no-show").await,
        StatusCode::CONFLICT,
        "illegal-transition",
    )
    .await;
    let completed = &app.published::<AppointmentCompleted>().await[0];
    assert_eq!(completed.price, eur(6000));
    assert_eq!(completed.status, AppointmentStatus::Completed);
}

#[tokio::test]
async fn nobody_sees_or_changes_another_patients_appointment() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let other_clinic = app.clinic(chrono_tz::UTC).await;
    let (owner, stranger) = (app.patient().await, app.patient().await);
    let a: Value = app
        .book(&owner, &clinic, ten_am_local(clinic.tz, 2))
        .await
        .json()
        .await
        .unwrap();
    let id = a["id"].as_str().unwrap();
    for who in [&stranger, &other_clinic.provider] {
        assert_problem(
            app.get(who, &format!("/api/v1/appointments/{id}")).await,
            StatusCode::NOT_FOUND,
            "not-found",
        )
        .await;
        let r = app
            .post(
                who,
                &format!("/api/v1/appointments/{id}/cancel"),
                &json!({}),
            )
            .await;
        assert_problem(r, StatusCode::NOT_FOUND, "not-found").await;
    }
    assert_eq!(
        app.get(&clinic.provider, &format!("/api/v1/appointments/{id}"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(
            &app.user(Role::Staff),
            &format!("/api/v1/appointments/{id}")
        )
        .await
        .status(),
        StatusCode::OK
    );
    let mine: Value = app
        .get(&owner, "/api/v1/appointments")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let theirs: Value = app
        .get(&stranger, "/api/v1/appointments")
        .await
        .json()
        .await
        .unwrap();
    assert!(theirs["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn lists_page_with_a_cursor() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let staff = app.user(Role::Staff);
    let start = ten_am_local(clinic.tz, 2);
    for i in [0, 1, 3, 4, 5] {
        let p = app.patient().await;
        assert_eq!(
            app.book(&p, &clinic, start + Duration::hours(i))
                .await
                .status(),
            StatusCode::CREATED
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!(
            "/api/v1/appointments?provider_id={}&limit=2",
            clinic.provider.id
        );
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app.get(&staff, &url).await.json().await.unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique, seen);
}

/// Each change holds a transaction; reading the type or the provider on a
/// second connection meanwhile starved the pool under load (every connection
/// held by a request waiting for another, until the acquire timed out).
#[tokio::test]
async fn lifecycle_changes_need_only_one_database_connection() {
    let app = spawn_app_with_pool(1).await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let book = |day| app.book(&patient, &clinic, ten_am_local(clinic.tz, day));
    let moved_to = ten_am_local(clinic.tz, 7);
    let first: Value = book(5).await.json().await.unwrap();
    let second: Value = book(6).await.json().await.unwrap();
    let changes = [
        (
            &patient,
            format!(
                "/api/v1/appointments/{}/cancel",
                first["id"].as_str().unwrap()
            ),
            json!({"reason": "better"}),
        ),
        (
            &patient,
            format!(
                "/api/v1/appointments/{}/reschedule",
                second["id"].as_str().unwrap()
            ),
            json!({"start": moved_to}),
        ),
        (
            &clinic.provider,
            format!(
                "/api/v1/appointments/{}/check-in",
                second["id"].as_str().unwrap()
            ),
            json!({}),
        ),
    ];
    for (user, path, body) in changes {
        if path.ends_with("check-in") {
            app.clock.set(moved_to - Duration::minutes(10));
        }
        let started = std::time::Instant::now();
        let r = app.post(user, &path, &body).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{path} waited {:?} for a connection",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn lists_filter_by_status_time_and_patient() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let other = app.patient().await;
    let staff = app.user(Role::Staff);
    // The clinic works every day: consecutive days at 10:00 UTC are all bookable.
    let first = ten_am_local(clinic.tz, 5);
    let at_day = |k: i64| first + Duration::days(k);
    let mut ids = Vec::new();
    for k in 0..3 {
        let a: Value = app
            .book(&patient, &clinic, at_day(k))
            .await
            .json()
            .await
            .unwrap();
        ids.push(a["id"].as_str().unwrap().to_owned());
    }
    let r = app.book(&other, &clinic, at_day(3)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .post(
            &patient,
            &format!("/api/v1/appointments/{}/cancel", ids[1]),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let list = |user, query: String| {
        let app = &app;
        async move {
            let r = app
                .get(user, &format!("/api/v1/appointments?{query}"))
                .await;
            assert_eq!(r.status(), StatusCode::OK, "{query}");
            let body: Value = r.json().await.unwrap();
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let at = |k| urlencoding(at_day(k).to_rfc3339());
    assert_eq!(
        list(&patient, String::new()).await,
        ids,
        "own, in start order"
    );
    assert_eq!(
        list(&patient, "status=booked".into()).await,
        [ids[0].clone(), ids[2].clone()]
    );
    assert_eq!(
        list(&patient, "status=cancelled".into()).await,
        [ids[1].clone()]
    );
    assert_eq!(
        list(&patient, format!("from={}&to={}", at(1), at(2))).await,
        [ids[1].clone()],
        "from inclusive, to exclusive"
    );
    assert_eq!(
        list(&staff, format!("patient_id={}&status=booked", patient.id)).await,
        [ids[0].clone(), ids[2].clone()]
    );
    assert_eq!(
        list(&staff, format!("provider_id={}", clinic.provider.id))
            .await
            .len(),
        4
    );
}

/// A time for a query string (`+` in an offset would read as a space).
fn urlencoding(s: String) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn visit_steps_wait_for_their_time() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let (patient, absent) = (app.patient().await, app.patient().await);
    let start = ten_am_local(clinic.tz, 2);
    let id = app.booked(&patient, &patient, &clinic, start).await;
    let missed = app
        .booked(&absent, &absent, &clinic, start + Duration::hours(1))
        .await;
    let step = |id: &str, action: &str| {
        let path = format!("/api/v1/appointments/{id}/{action}");
        let (app, provider) = (&app, clinic.provider.clone());
        async move { app.post(&provider, &path, &json!({})).await }
    };

    // Days ahead, and just over an hour before: nothing can be recorded yet.
    for at in [
        Utc::now(),
        start - Duration::minutes(61),
        start - Duration::minutes(1),
    ] {
        app.clock.set(at);
        if at < start - Duration::minutes(60) {
            assert_problem(
                step(&id, "check-in").await,
                StatusCode::CONFLICT,
                "too-early",
            )
            .await;
        }
        assert_problem(
            step(&missed, "no-show").await,
            StatusCode::CONFLICT,
            "too-early",
        )
        .await;
    }
    let stored: Value = app
        .get(&patient, &format!("/api/v1/appointments/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&stored["status"], &stored["version"]),
        (&json!("booked"), &json!(1))
    );
    assert!(app.published::<AppointmentCheckedIn>().await.is_empty());

    // Check-in opens an hour before the start; completing waits for the start.
    app.clock.set(start - Duration::minutes(59));
    let r = step(&id, "check-in").await;
    assert_eq!(r.status(), StatusCode::OK);
    let problem = assert_problem(
        step(&id, "complete").await,
        StatusCode::CONFLICT,
        "too-early",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("started"),
        "{problem}"
    );
    app.clock.set(start + Duration::minutes(1));
    let r: Value = step(&id, "complete").await.json().await.unwrap();
    assert_eq!(r["status"], "completed");

    // A no-show once its start has passed, owing the no-show fee.
    app.clock
        .set(start + Duration::hours(1) + Duration::minutes(15));
    let r = step(&missed, "no-show").await;
    assert_eq!(r.status(), StatusCode::OK);
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["status"], "no_show");
    let no_show = &app.published::<AppointmentNoShow>().await[0];
    assert_eq!(no_show.fee, Some(eur(2500)));
}

#[tokio::test]
async fn a_late_reschedule_owes_the_late_cancellation_fee() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 3);
    let id = app.booked(&patient, &patient, &clinic, start).await;
    // Three hours before: inside the 24-hour cancellation window.
    app.clock.set(start - Duration::hours(3));
    let to = start + Duration::days(1);
    let r = app
        .reschedule(&patient, &id, None, &json!({"start": to}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let moved: Value = r.json().await.unwrap();
    assert_eq!(moved["late"], true);
    assert_eq!(
        moved["fee"],
        json!({"amount_minor": 2500, "currency": "EUR"})
    );
    assert_eq!(moved["cancellation_policy"]["window_minutes"], 1440);
    assert_eq!(moved["status"], "booked");
    assert_eq!(moved["version"], 2);
    let stored: Value = app
        .get(&patient, &format!("/api/v1/appointments/{id}"))
        .await
        .json()
        .await
        .unwrap();
    for field in [
        "id",
        "start",
        "end",
        "status",
        "version",
        "cancellation_policy",
    ] {
        assert_eq!(moved[field], stored[field], "{field}");
    }
    let event = &app.published::<AppointmentRescheduled>().await[0];
    assert!(event.late);
    assert_eq!(event.fee, Some(eur(2500)));
    assert_eq!((event.start, event.previous_start), (to, Some(start)));
    let note: Option<String> = sqlx::query_scalar(
        "SELECT note FROM appointment_history WHERE appointment_id = $1::uuid AND version = 2",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        note.as_deref(),
        Some("rescheduled inside the cancellation window")
    );
}

#[tokio::test]
async fn only_staff_waive_a_late_reschedule_fee_and_say_why() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let staff = app.user(Role::Staff);
    let start = ten_am_local(clinic.tz, 3);
    let ids = [
        app.booked(&patient, &patient, &clinic, start).await,
        app.booked(&patient, &patient, &clinic, start + Duration::hours(3))
            .await,
        app.booked(&patient, &patient, &clinic, start + Duration::hours(4))
            .await,
    ];
    app.clock.set(start - Duration::hours(2));
    let next_day = start + Duration::days(1);
    let waiving =
        |to: DateTime<Utc>, reason: &str| json!({"start": to, "waive_fee_reason": reason});

    // Patients and providers cannot waive; staff must give 3–500 characters.
    for who in [&patient, &clinic.provider] {
        let r = app
            .reschedule(who, &ids[0], None, &waiving(next_day, "I was ill"))
            .await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for reason in ["ok", "  x  ", &"x".repeat(501)] {
        let r = app
            .reschedule(&staff, &ids[0], None, &waiving(next_day, reason))
            .await;
        let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
        assert_eq!(error_fields(&problem), ["waive_fee_reason"]);
    }
    assert!(app.published::<AppointmentRescheduled>().await.is_empty());

    // Waived: still late, no fee, the reason in the history.
    let reason = "The clinic moved the room";
    let r = app
        .reschedule(&staff, &ids[0], None, &waiving(next_day, reason))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let moved: Value = r.json().await.unwrap();
    assert_eq!(
        (&moved["late"], &moved["fee"]),
        (&json!(true), &Value::Null)
    );
    // Staff moving it without a waiver: the patient owes the fee.
    let moved: Value = app
        .reschedule(
            &staff,
            &ids[1],
            None,
            &json!({"start": next_day + Duration::hours(3)}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&moved["late"], &moved["fee"]["amount_minor"]),
        (&json!(true), &json!(2500))
    );
    // The provider moving their own appointment charges nothing.
    let moved: Value = app
        .reschedule(
            &clinic.provider,
            &ids[2],
            None,
            &json!({"start": next_day + Duration::hours(4)}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&moved["late"], &moved["fee"]),
        (&json!(false), &Value::Null)
    );

    let events = app.published::<AppointmentRescheduled>().await;
    let outcomes: Vec<_> = events.iter().map(|e| (e.late, e.fee.clone())).collect();
    assert_eq!(
        outcomes,
        [(true, None), (true, Some(eur(2500))), (false, None)]
    );
    let note: Option<String> = sqlx::query_scalar(
        "SELECT note FROM appointment_history WHERE appointment_id = $1::uuid AND version = 2",
    )
    .bind(&ids[0])
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        note.unwrap(),
        format!("rescheduled inside the cancellation window; fee waived: {reason}")
    );
}

#[tokio::test]
async fn a_retried_reschedule_with_the_same_idempotency_key_moves_once() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 3);
    let booking = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": start});
    let r = app.book_with_key(&patient, "book-1", &booking).await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"start": start + Duration::hours(4)});
    let answers = futures_util::future::join_all(
        (0..4).map(|_| app.reschedule(&patient, &id, Some("move-1"), &body)),
    )
    .await;
    let mut bodies = Vec::new();
    for r in answers {
        assert_eq!(r.status(), StatusCode::OK);
        bodies.push(r.json::<Value>().await.unwrap());
    }
    let first = bodies[0].clone();
    assert_eq!(first["version"], 2);
    assert!(bodies.iter().all(|b| *b == first), "{bodies:?}");
    let again: Value = app
        .reschedule(&patient, &id, Some("move-1"), &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, first, "a later retry gets the first answer too");
    let history: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM appointment_history WHERE appointment_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(history, 2, "moved once");
    assert_eq!(app.published::<AppointmentRescheduled>().await.len(), 1);

    // The key with another body, or a key already used to book: refused.
    for (key, body) in [
        ("move-1", json!({"start": start + Duration::hours(5)})),
        ("book-1", json!({"start": start + Duration::hours(5)})),
    ] {
        let r = app.reschedule(&patient, &id, Some(key), &body).await;
        assert_problem(
            r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
        )
        .await;
    }
    let r = app
        .reschedule(&patient, &id, Some("has space"), &body)
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
}

#[tokio::test]
async fn the_api_description_shows_the_policy_the_waiver_and_the_retry_key() {
    let app = spawn_app().await;
    let spec = app.get_ok(&Anonymous, "/openapi.json").await;
    let schemas = &spec["components"]["schemas"];
    let required = |schema: &str| schemas[schema]["required"].clone();
    assert_eq!(
        required("CancellationPolicy"),
        json!(["window_minutes", "late_cancel_fee", "no_show_fee"])
    );
    assert!(schemas["RescheduleRequest"]["properties"]["waive_fee_reason"].is_object());
    assert!(schemas["AppointmentTypeView"]["properties"]["no_show_fee"].is_object());
    let reschedule = &spec["paths"]["/api/v1/appointments/{id}/reschedule"]["post"];
    assert!(reschedule["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "Idempotency-Key"));
    assert_eq!(
        reschedule["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Rescheduled"
    );
    for step in ["check-in", "complete", "no-show"] {
        let path = format!("/api/v1/appointments/{{id}}/{step}");
        let conflict = &spec["paths"][&path]["post"]["responses"]["409"]["description"];
        assert!(conflict.as_str().unwrap().contains("too-early"), "{step}");
    }
}

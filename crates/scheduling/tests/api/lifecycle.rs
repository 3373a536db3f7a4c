use chrono::{DateTime, Duration, Utc};
use contracts::scheduling::{
    AppointmentCancelled, AppointmentCompleted, AppointmentRescheduled, AppointmentStatus,
};
use platform::{
    auth::Role,
    testing::{assert_problem, User},
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
}

#[tokio::test]
async fn the_visit_goes_booked_checked_in_completed_and_illegal_steps_conflict() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let a: Value = app
        .book(&patient, &clinic, ten_am_local(clinic.tz, 2))
        .await
        .json()
        .await
        .unwrap();
    let id = a["id"].as_str().unwrap();
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
            json!({"start": ten_am_local(clinic.tz, 7)}),
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

use chrono::{DateTime, Duration, Utc};
use platform::{
    auth::Role,
    testing::{assert_problem, Anonymous},
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{spawn_app, ten_am_local, Scheduling};

#[tokio::test]
async fn slots_are_cached_and_an_availability_change_shows_at_once() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Asia::Kolkata).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 3);
    let window = (start - Duration::hours(2), start + Duration::hours(10));
    let first = app.slots(&patient, &clinic, window.0, window.1).await;
    assert!(first.contains(&start));
    // 10:00 IST is 04:30 UTC: Kolkata's half-hour offset survives the round trip.
    assert_eq!(start.format("%M").to_string(), "30");

    let mut redis = redis::Client::open(platform::testing::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pattern = format!(
        "{}scheduling:slots:{}*",
        app.backing.config.redis_prefix, clinic.provider.id
    );
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "the computed days are cached");
    assert_eq!(
        app.slots(&patient, &clinic, window.0, window.1).await,
        first,
        "the cache answers the same"
    );

    // The provider stops working mornings: the cached days must not be served.
    let weekly: Vec<_> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "13:00", "end": "17:00"}))
        .collect();
    let r = app
        .put(
            &clinic.provider,
            &format!("/api/v1/providers/{}/availability", clinic.provider.id),
            &json!({"weekly": weekly}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after = app.slots(&patient, &clinic, window.0, window.1).await;
    assert!(!after.contains(&start));
    assert!(!after.is_empty());
}

#[tokio::test]
async fn time_off_and_date_overrides_remove_slots() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 4);
    let day = (start - Duration::hours(10), start + Duration::hours(10));
    let r = app
        .post(
            &clinic.provider,
            &format!("/api/v1/providers/{}/time-off", clinic.provider.id),
            &json!({"start": start, "end": start + Duration::hours(1), "reason": "training"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let free = app.slots(&patient, &clinic, day.0, day.1).await;
    assert!(!free.contains(&start) && free.contains(&(start + Duration::hours(1))));
    assert_problem(
        app.book(&patient, &clinic, start).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "outside-availability",
    )
    .await;

    let weekly: Vec<_> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "09:00", "end": "17:00"}))
        .collect();
    let closed =
        json!({"weekly": weekly, "overrides": [{"date": start.date_naive(), "windows": []}]});
    assert_eq!(
        app.put(
            &clinic.provider,
            &format!("/api/v1/providers/{}/availability", clinic.provider.id),
            &closed
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    assert!(app.slots(&patient, &clinic, day.0, day.1).await.is_empty());
}

#[tokio::test]
async fn calendar_changes_are_for_the_provider_and_staff_and_are_validated() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let other = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let path = format!("/api/v1/providers/{}/availability", clinic.provider.id);
    let body = json!({"weekly": [{"weekday": "mon", "start": "09:00", "end": "12:00"}]});
    assert_problem(
        app.put(&patient, &path, &body).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.put(&other.provider, &path, &body).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        app.put(&app.user(Role::Staff), &path, &body).await.status(),
        StatusCode::NO_CONTENT
    );
    for bad in [
        json!({"weekly": [{"weekday": "mon", "start": "12:00", "end": "09:00"}]}),
        json!({"weekly": [{"weekday": "mon", "start": "09:00", "end": "12:00"}, {"weekday": "mon", "start": "11:00", "end": "13:00"}]}),
        json!({"weekly": [{"weekday": "someday", "start": "09:00", "end": "12:00"}]}),
        json!({"weekly": [{"weekday": "mon", "start": "9am", "end": "12:00"}]}),
    ] {
        assert_problem(
            app.put(&clinic.provider, &path, &bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
        )
        .await;
    }
    let types = format!("/api/v1/providers/{}/appointment-types", clinic.provider.id);
    let bad_type = json!({"name": "X", "duration_minutes": 7, "price": {"amount_minor": 100, "currency": "EUR"}, "mode": "in_person"});
    assert_problem(
        app.post(&clinic.provider, &types, &bad_type).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    let bad_currency = json!({"name": "X", "duration_minutes": 30, "price": {"amount_minor": 100, "currency": "euro"}, "mode": "in_person"});
    assert_problem(
        app.post(&clinic.provider, &types, &bad_currency).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    let listed: serde_json::Value = app.get(&patient, &types).await.json().await.unwrap();
    assert_eq!(listed["items"][0]["duration_minutes"], 30);
    assert_eq!(listed["items"][0]["price"]["currency"], "EUR");
}

#[tokio::test]
async fn slot_queries_are_bounded_and_unknown_things_are_404() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let now = Utc::now();
    let query = |provider: String, type_id: String, from: DateTime<Utc>, to: DateTime<Utc>| {
        let path = format!("/api/v1/providers/{provider}/slots");
        app.request(Method::GET, &path, &patient)
            .query(&[
                ("appointment_type_id", type_id),
                ("from", from.to_rfc3339()),
                ("to", to.to_rfc3339()),
            ])
            .send()
    };
    let (p, t) = (clinic.provider.id.to_string(), clinic.type_id.to_string());
    assert_problem(
        query(p.clone(), t.clone(), now, now + Duration::days(40))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_problem(
        query(p.clone(), t.clone(), now, now - Duration::days(1))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_problem(
        query(
            Uuid::now_v7().to_string(),
            t.clone(),
            now,
            now + Duration::days(1),
        )
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
        "provider-not-found",
    )
    .await;
    assert_problem(
        query(
            p.clone(),
            Uuid::now_v7().to_string(),
            now,
            now + Duration::days(1),
        )
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
        "appointment-type-not-found",
    )
    .await;
    // Another provider's type is not this provider's.
    let other = app.clinic(chrono_tz::UTC).await;
    assert_problem(
        query(
            other.provider.id.to_string(),
            t.clone(),
            now,
            now + Duration::days(1),
        )
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
        "appointment-type-not-found",
    )
    .await;
    let r = app
        .get(
            &patient,
            &format!("/api/v1/providers/{p}/slots?appointment_type_id={t}&from=yesterday&to=today"),
        )
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-query").await;
    let r = app
        .get(&Anonymous, &format!("/api/v1/providers/{p}/slots"))
        .await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

//! The slot cache is an optimization the service can lose at any moment: it
//! starts without Redis, and an outage never makes it serve slots a calendar
//! change removed.

use std::time::Duration;

use chrono::Duration as Span;
use platform::testing::{eventually, RedisProxy};
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app_with, ten_am_local, Scheduling, TestApp};

async fn cached_days(app: &TestApp) -> usize {
    let mut redis = redis::Client::open(platform::testing::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pattern = format!("{}scheduling:slots:*", app.backing.config.redis_prefix);
    let keys: Vec<String> = redis.keys(pattern).await.unwrap();
    keys.len()
}

#[tokio::test]
async fn scheduling_starts_and_books_without_redis_and_caches_once_it_returns() {
    let proxy = RedisProxy::start().await;
    proxy.cut();
    let app = spawn_app_with(|c| c.common.redis_url = proxy.url()).await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 3);
    let day = (start - Span::hours(10), start + Span::hours(10));

    let free = app.slots(&patient, &clinic, day.0, day.1).await;
    assert!(free.contains(&start), "slots come from the database");
    assert_eq!(
        app.book(&patient, &clinic, start).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(cached_days(&app).await, 0);

    proxy.restore();
    eventually(
        Duration::from_secs(20),
        "the cache to be used again",
        || async {
            let free = app.slots(&patient, &clinic, day.0, day.1).await;
            assert!(!free.contains(&start), "the booked slot is never offered");
            (cached_days(&app).await > 0).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_calendar_change_during_a_redis_outage_never_leaves_stale_slots() {
    let proxy = RedisProxy::start().await;
    let app = spawn_app_with(|c| {
        c.common.redis_url = proxy.url();
        c.cache_ttl = Duration::from_secs(3);
    })
    .await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 3);
    let day = (start - Span::hours(10), start + Span::hours(10));
    assert!(app
        .slots(&patient, &clinic, day.0, day.1)
        .await
        .contains(&start));
    assert!(cached_days(&app).await > 0, "the day is cached");

    // The provider takes the morning off while Redis is unreachable: the
    // invalidation fails and the cached day still offers 10:00…
    proxy.cut();
    let r = app
        .post(
            &clinic.provider,
            &format!("/api/v1/providers/{}/time-off", clinic.provider.id),
            &json!({"start": start, "end": start + Span::hours(1), "reason": "training"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    proxy.restore();
    assert!(
        cached_days(&app).await > 0,
        "the stale day is still in Redis"
    );

    // …which is never served: the service skips the cache until it expired.
    let free = app.slots(&patient, &clinic, day.0, day.1).await;
    assert!(!free.contains(&start), "time off is respected at once");
    assert!(free.contains(&(start + Span::hours(1))));
}

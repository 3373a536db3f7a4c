//! The ciphertext cache: reads are served from Redis, writes invalidate, and
//! without Redis the service answers from the database.

use std::time::Duration;

use platform::testing::{Anonymous, RedisProxy};
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{notes, spawn_app, spawn_app_with};

/// `cache_requests_total{outcome="hit"}` of this process (one test per process under nextest).
async fn hits(app: &crate::helpers::TestApp) -> f64 {
    let text = app.get(&Anonymous, "/metrics").await.text().await.unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("cache_requests_total")
                && l.contains("service=\"records\"")
                && l.contains("outcome=\"hit\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn texts(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn reads_are_served_from_the_cache_and_every_write_invalidates() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    app.note(&provider, patient.id, "first").await;

    let first: Value = app
        .get(&patient, &notes(patient.id))
        .await
        .json()
        .await
        .unwrap();
    let before = hits(&app).await;
    let again: Value = app
        .get(&patient, &notes(patient.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        hits(&app).await,
        before + 1.0,
        "the second read came from Redis"
    );

    // Keys name ids only.
    let mut redis = redis::Client::open(app.config.common.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis
        .keys(format!("{}*", app.config.common.redis_prefix))
        .await
        .unwrap();
    let generation = format!(
        "{}records:generation:{}",
        app.config.common.redis_prefix, patient.id
    );
    assert!(keys.iter().all(|k| !k.contains("first")), "{keys:?}");
    let generation_before: Option<u64> = redis.get(&generation).await.unwrap();

    // A write is seen by the very next read: by the patient and by the provider.
    let second = app.note(&provider, patient.id, "second").await;
    let generation_after: Option<u64> = redis.get(&generation).await.unwrap();
    assert_eq!(generation_after, Some(generation_before.unwrap_or(0) + 1));
    let list: Value = app
        .get(&patient, &notes(patient.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(texts(&list), ["second", "first"]);
    let entry = format!("{}/{}", notes(patient.id), second["id"].as_str().unwrap());
    app.get(&patient, &entry).await;
    app.put(
        &provider,
        &entry,
        &serde_json::json!({"text": "second, edited"}),
    )
    .await;
    let read: Value = app.get(&patient, &entry).await.json().await.unwrap();
    assert_eq!(read["text"], "second, edited");
    let list: Value = app
        .get(&provider, &notes(patient.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(texts(&list), ["second, edited", "first"]);
}

#[tokio::test]
async fn without_redis_records_are_read_from_the_database_and_never_go_stale() {
    let proxy = RedisProxy::start().await;
    let url = proxy.url();
    let app = spawn_app_with(move |c| {
        c.common.redis_url = url;
        c.cache_ttl = Duration::from_secs(2);
    })
    .await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    app.note(&provider, patient.id, "before the outage").await;
    let list: Value = app
        .get(&patient, &notes(patient.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(texts(&list), ["before the outage"]);

    proxy.cut();
    let r = app.get(&patient, &notes(patient.id)).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.note(&provider, patient.id, "during the outage").await;
    let list: Value = app
        .get(&patient, &notes(patient.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(texts(&list), ["during the outage", "before the outage"]);

    // Redis returns still holding the old list: it must not be served.
    proxy.restore();
    for _ in 0..20 {
        let list: Value = app
            .get(&patient, &notes(patient.id))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(texts(&list), ["during the outage", "before the outage"]);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test]
async fn the_service_starts_and_serves_with_redis_unreachable() {
    let app = spawn_app_with(|c| c.common.redis_url = "redis://127.0.0.1:1".to_owned()).await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    app.note(&provider, patient.id, "no cache").await;
    let list: Value = app
        .get(&patient, &notes(patient.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(texts(&list), ["no cache"]);
    let ready: Value = app.get(&Anonymous, "/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
}

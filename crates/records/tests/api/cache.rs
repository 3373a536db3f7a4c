//! The ciphertext cache: reads are served from Redis, writes invalidate,
//! without Redis the service answers from the database, and an entry altered
//! or moved in Redis is never served.

use std::time::Duration;

use platform::testing::{metric, Anonymous, RedisProxy};
use redis::{aio::MultiplexedConnection, AsyncCommands};
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

async fn redis_of(app: &crate::helpers::TestApp) -> MultiplexedConnection {
    redis::Client::open(app.config.common.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The one key of this test's cache matching `pattern` (after the prefix).
async fn only_key(
    redis: &mut MultiplexedConnection,
    app: &crate::helpers::TestApp,
    pattern: &str,
) -> String {
    let keys: Vec<String> = redis
        .keys(format!("{}{pattern}", app.config.common.redis_prefix))
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{pattern}: {keys:?}");
    keys.into_iter().next().unwrap()
}

async fn integrity_failures(app: &crate::helpers::TestApp) -> f64 {
    metric(
        &app.metrics().await,
        "records_cache_integrity_failures_total",
    )
}

/// Where the cached JSON starts in a stored entry: after the MAC key id
/// (length-prefixed) and the 32-byte HMAC-SHA256 tag.
fn value_offset(stored: &[u8]) -> usize {
    1 + usize::from(stored[0]) + 32
}

#[tokio::test]
async fn an_entry_altered_in_redis_is_never_served() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    app.note(&provider, patient.id, "penicillin allergy").await;
    app.note(&provider, patient.id, "second").await;
    let from_db: Value = app.get_ok(&patient, &notes(patient.id)).await;
    assert_eq!(texts(&from_db), ["second", "penicillin allergy"]);
    let mut redis = redis_of(&app).await;
    let key = only_key(
        &mut redis,
        &app,
        &format!("records:list:v1:{}:*", patient.id),
    )
    .await;
    assert_eq!(integrity_failures(&app).await, 0.0);

    // One flipped bit in the cached rows.
    let mut stored: Vec<u8> = redis.get(&key).await.unwrap();
    let middle = value_offset(&stored) + (stored.len() - value_offset(&stored)) / 2;
    stored[middle] ^= 0x01;
    let _: () = redis.set(&key, &stored).await.unwrap();
    let hits_before = hits(&app).await;
    let read: Value = app.get_ok(&patient, &notes(patient.id)).await;
    assert_eq!(read, from_db, "the database answered");
    assert_eq!(integrity_failures(&app).await, 1.0);
    assert_eq!(hits(&app).await, hits_before, "not served from Redis");
    assert_eq!(
        metric(&app.metrics().await, "records_cache_unopenable_total"),
        0.0,
        "caught by its MAC, before any decryption"
    );
    // Deleted and filled afresh: the next read is a hit again.
    let refilled: Vec<u8> = redis.get(&key).await.unwrap();
    assert_ne!(refilled, stored);
    assert_eq!(app.get_ok(&patient, &notes(patient.id)).await, from_db);
    assert_eq!(hits(&app).await, hits_before + 1.0);

    // Genuine rows, one dropped (an allergy hidden): still refused.
    let rows: Vec<Value> = serde_json::from_slice(&refilled[value_offset(&refilled)..]).unwrap();
    assert_eq!(rows.len(), 2);
    let mut shortened = refilled[..value_offset(&refilled)].to_vec();
    shortened.extend(serde_json::to_vec(&rows[..1]).unwrap());
    let _: () = redis.set(&key, &shortened).await.unwrap();
    let read: Value = app.get_ok(&patient, &notes(patient.id)).await;
    assert_eq!(texts(&read), ["second", "penicillin allergy"]);
    assert_eq!(integrity_failures(&app).await, 2.0);
}

#[tokio::test]
async fn an_entry_copied_from_another_patients_key_is_not_served_as_theirs() {
    let app = spawn_app().await;
    let (a, b) = (app.patient().await, app.patient().await);
    let (provider_a, _) = app.provider_caring_for(&a).await;
    let (provider_b, _) = app.provider_caring_for(&b).await;
    app.note(&provider_a, a.id, "A's note").await;
    app.note(&provider_b, b.id, "B's note").await;
    app.get_ok(&a, &notes(a.id)).await;
    app.get_ok(&b, &notes(b.id)).await;
    let mut redis = redis_of(&app).await;
    let key_a = only_key(&mut redis, &app, &format!("records:list:v1:{}:*", a.id)).await;
    let key_b = only_key(&mut redis, &app, &format!("records:list:v1:{}:*", b.id)).await;

    let a_entry: Vec<u8> = redis.get(&key_a).await.unwrap();
    let _: () = redis.set(&key_b, &a_entry).await.unwrap();
    let read: Value = app.get_ok(&b, &notes(b.id)).await;
    assert_eq!(texts(&read), ["B's note"]);
    assert_eq!(integrity_failures(&app).await, 1.0);
    let now_b: Vec<u8> = redis.get(&key_b).await.unwrap();
    assert_ne!(now_b, a_entry, "the copy was deleted");
    // A's own entry is untouched and still served.
    let before = hits(&app).await;
    assert_eq!(texts(&app.get_ok(&a, &notes(a.id)).await), ["A's note"]);
    assert_eq!(hits(&app).await, before + 1.0);
}

#[tokio::test]
async fn an_entry_copied_between_two_entries_of_a_patient_is_not_served() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let x = app.note(&provider, patient.id, "note X").await;
    let y = app.note(&provider, patient.id, "note Y").await;
    let (x_id, y_id) = (x["id"].as_str().unwrap(), y["id"].as_str().unwrap());
    let path = |id: &str| format!("{}/{id}", notes(patient.id));
    app.get_ok(&patient, &path(x_id)).await;
    app.get_ok(&patient, &path(y_id)).await;
    let mut redis = redis_of(&app).await;
    let key_x = only_key(&mut redis, &app, &format!("records:entry:v1:*:{x_id}")).await;
    let key_y = only_key(&mut redis, &app, &format!("records:entry:v1:*:{y_id}")).await;

    // Genuine, decryptable rows of the same patient: only the MAC tells them apart.
    let x_entry: Vec<u8> = redis.get(&key_x).await.unwrap();
    let _: () = redis.set(&key_y, &x_entry).await.unwrap();
    let read: Value = app.get_ok(&patient, &path(y_id)).await;
    assert_eq!(read["id"], y_id);
    assert_eq!(read["text"], "note Y");
    assert_eq!(integrity_failures(&app).await, 1.0);
}

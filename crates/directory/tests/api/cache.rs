//! The Redis cache-aside: reads are served from it, writes invalidate it, and
//! without Redis the service answers from the database.

use std::time::Duration;

use directory::{cache::Entity, ProfileCache};
use platform::{
    auth::Role,
    testing::{Anonymous, RedisProxy},
};
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with};

/// Rename a patient behind the service's back, so a cached read is visible.
async fn rename_in_database(db: &sqlx::PgPool, id: Uuid, name: &str) {
    sqlx::query("UPDATE patients SET name = $2 WHERE id = $1")
        .bind(id)
        .bind(name)
        .execute(db)
        .await
        .unwrap();
}

#[tokio::test]
async fn patient_reads_are_cached_and_every_write_invalidates() {
    let app = spawn_app().await;
    let paula = app.patient("Paula").await;
    let (mut redis, key) = app.redis_key("patient", paula.id).await;

    let first = app.get_ok(&paula, "/api/v1/patients/me").await;
    let cached: Option<String> = redis.get(&key).await.unwrap();
    assert!(cached.is_some(), "the read filled {key}");
    let ttl: i64 = redis.pttl(&key).await.unwrap();
    assert!(ttl > 0 && ttl <= 300_000, "{ttl}");

    // The cache answers: a change made behind the service's back is not seen…
    rename_in_database(&app.db, paula.id, "Changed Behind").await;
    assert_eq!(app.get_ok(&paula, "/api/v1/patients/me").await, first);

    // …but every write through the service is: read, update, read → new value.
    let r = app
        .put(&paula, "/api/v1/patients/me", &json!({"name": "Paula New"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.get_ok(&paula, "/api/v1/patients/me").await["name"],
        "Paula New"
    );
    let provider = app
        .insert_provider("Dr. Vogel", "Family medicine", "")
        .await;
    let r = app
        .put(
            &paula,
            "/api/v1/patients/me/preferred-provider",
            &json!({"provider_id": provider}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.get_ok(&paula, "/api/v1/patients/me").await["preferred_provider_id"],
        json!(provider)
    );
    // A staff edit invalidates the patient's view as well.
    let r = app
        .put(
            &app.user(Role::Staff),
            &format!("/api/v1/patients/{}", paula.id),
            &json!({"name": "Paula Staff-Edited"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.get_ok(&paula, "/api/v1/patients/me").await["name"],
        "Paula Staff-Edited"
    );
    // The key holds ids only.
    assert!(!key.contains("Paula"));
}

#[tokio::test]
async fn provider_reads_are_cached_and_edits_invalidate() {
    let app = spawn_app().await;
    let id = app
        .insert_provider("Dr. Vogel", "Family medicine", "")
        .await;
    let provider = app.user_with_id(id, Role::Provider);
    let path = format!("/api/v1/providers/{id}");
    let (mut redis, key) = app.redis_key("provider", id).await;

    app.get_ok(&provider, &path).await;
    assert!(redis.exists::<_, bool>(&key).await.unwrap());
    let body = json!({"name": "Dr. Lena Vogel", "specialty": "Family medicine",
        "time_zone": "Europe/Berlin", "accepting_new_patients": true});
    assert_eq!(
        app.put(&provider, &path, &body).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_ok(&provider, &path).await["time_zone"],
        "Europe/Berlin"
    );
}

#[tokio::test]
async fn a_read_that_raced_a_write_cannot_put_the_old_profile_back() {
    let app = spawn_app().await;
    let cache = ProfileCache::connect(&app.config.common, Duration::from_secs(60)).await;
    let id = Uuid::now_v7();
    let old = json!({"name": "old"});
    let new = json!({"name": "new"});

    // A reader fetched version 1; meanwhile a write committed version 2 and invalidated.
    cache.invalidate(Entity::Patient, id, 2).await;
    cache.fill(Entity::Patient, id, 1, &old).await;
    assert_eq!(cache.get::<Value>(Entity::Patient, id).await, None);
    // A reader of version 2 (or later) fills as usual.
    cache.fill(Entity::Patient, id, 2, &new).await;
    assert_eq!(cache.get::<Value>(Entity::Patient, id).await, Some(new));
    // An older invalidation never lowers the guard.
    cache.invalidate(Entity::Patient, id, 1).await;
    cache.fill(Entity::Patient, id, 1, &old).await;
    assert_eq!(cache.get::<Value>(Entity::Patient, id).await, None);
}

#[tokio::test]
async fn a_replica_without_redis_answers_from_the_database() {
    let app = spawn_app().await;
    let paula = app.patient("Paula").await;
    let provider = app
        .insert_provider("Dr. Vogel", "Family medicine", "")
        .await;
    // Nothing listens on port 1: every Redis call fails.
    let replica = app
        .replica(|c| c.common.redis_url = "redis://127.0.0.1:1".into())
        .await;
    let client = &app.client;

    let r = client
        .get(replica.url("/api/v1/patients/me"))
        .bearer_auth(&paula.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client
        .put(replica.url("/api/v1/patients/me"))
        .bearer_auth(&paula.token)
        .json(&json!({"name": "Paula Offline", "phone": "+49 30 1234567"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = client
        .get(replica.url("/api/v1/patients/me"))
        .bearer_auth(&paula.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["id"].clone(), me["name"].clone()),
        (json!(paula.id), json!("Paula Offline"))
    );
    let r = client
        .get(replica.url(&format!("/api/v1/providers/{provider}")))
        .bearer_auth(&paula.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Ready: the cache is not a dependency the directory cannot work without.
    let r = client.get(replica.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_redis_outage_mid_flight_degrades_and_leaves_no_stale_profile() {
    let proxy = RedisProxy::start().await;
    let ttl = Duration::from_secs(4);
    let app = spawn_app_with(|c| {
        c.common.redis_url = proxy.url();
        c.cache_ttl = ttl;
    })
    .await;
    let paula = app.patient("Paula").await;
    let (mut redis, key) = app.redis_key("patient", paula.id).await;
    app.get_ok(&paula, "/api/v1/patients/me").await;
    assert!(redis.exists::<_, bool>(&key).await.unwrap(), "cached");

    proxy.cut();
    let r = app
        .put(
            &paula,
            "/api/v1/patients/me",
            &json!({"name": "Paula During Outage"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.get_ok(&paula, "/api/v1/patients/me").await["name"],
        "Paula During Outage"
    );

    // Redis is back and still holds the entry the write could not delete…
    proxy.restore();
    let stale: Option<String> = redis.get(&key).await.unwrap();
    assert!(stale.unwrap().contains("\"Paula\""));
    // …which is never served: the service bypasses the cache until it expired.
    for _ in 0..5 {
        assert_eq!(
            app.get_ok(&paula, "/api/v1/patients/me").await["name"],
            "Paula During Outage"
        );
    }
    let metrics = app.get(&Anonymous, "/metrics").await.text().await.unwrap();
    assert!(metrics.contains("outcome=\"bypass\""));

    // After one TTL the cache is used again, with the current profile.
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    crate::helpers::eventually_cached(&app, &paula, &key, "Paula During Outage").await;
}

use std::time::Duration;

use chrono::Utc;
use platform::auth::Role;
use portal::session::{Flash, SessionData, SessionId, SignedIn, StoreError, Tokens};
use redis::AsyncCommands;

use crate::helpers::{connection, TestRedis};

const IDLE: Duration = Duration::from_secs(600);
const MAX: Duration = Duration::from_secs(3600);

fn signed_in() -> SessionData {
    let now = Utc::now();
    SessionData::signed_in(
        SignedIn {
            user_id: uuid::Uuid::now_v7(),
            name: "Paula Patient".into(),
            email: "paula@example.test".into(),
            role: Role::Patient,
            patient_id: None,
            provider_id: None,
            tokens: Tokens {
                access: "access-token".into(),
                refresh: "refresh-token".into(),
                access_expires_at: now + chrono::Duration::minutes(10),
            },
        },
        now,
    )
}

#[tokio::test]
async fn a_session_round_trips_under_a_digest_of_its_id() {
    let redis = TestRedis::new();
    let store = redis.store(IDLE, MAX).await;
    let data = signed_in();
    let id = store.create(&data).await.unwrap();

    let loaded = store.load(&id).await.unwrap().expect("the session");
    assert_eq!(loaded.csrf, data.csrf);
    assert_eq!(loaded.user.unwrap().tokens.refresh, "refresh-token");

    let keys = redis.keys().await;
    assert_eq!(
        keys,
        vec![format!("{}portal:session:{}", redis.prefix(), id.digest())]
    );
    let raw: String = connection().await.get(&keys[0]).await.unwrap();
    assert!(
        !raw.contains(id.as_str()),
        "Redis never holds the cookie's value"
    );

    store.delete(&id).await.unwrap();
    assert!(store.load(&id).await.unwrap().is_none());
    assert!(redis.keys().await.is_empty());
}

#[tokio::test]
async fn unknown_ids_find_nothing() {
    let redis = TestRedis::new();
    let store = redis.store(IDLE, MAX).await;
    assert!(store.load(&SessionId::generate()).await.unwrap().is_none());
}

#[tokio::test]
async fn every_load_restarts_the_idle_timer() {
    let redis = TestRedis::new();
    let store = redis.store(IDLE, MAX).await;
    let id = store.create(&signed_in()).await.unwrap();
    let key = &redis.keys().await[0];
    let mut conn = connection().await;
    let _: () = conn.expire(key, 5).await.unwrap();
    store.load(&id).await.unwrap().unwrap();
    let ttl: i64 = conn.ttl(key).await.unwrap();
    assert!((590..=600).contains(&ttl), "ttl {ttl}");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_active() {
    let redis = TestRedis::new();
    let store = redis.store(IDLE, MAX).await;
    let mut data = signed_in();
    data.created_at = Utc::now() - chrono::Duration::minutes(55);
    let id = store.create(&data).await.unwrap();
    let ttl: i64 = connection()
        .await
        .ttl(&redis.keys().await[0])
        .await
        .unwrap();
    assert!(
        (295..=300).contains(&ttl),
        "five minutes left, not the idle ten: {ttl}"
    );

    data.created_at = Utc::now() - chrono::Duration::minutes(61);
    let expired = store.create(&data).await.unwrap();
    assert!(store.load(&expired).await.unwrap().is_none());
    assert!(store.load(&id).await.unwrap().is_some());
    assert_eq!(
        redis.keys().await.len(),
        1,
        "the expired session is deleted"
    );
}

#[tokio::test]
async fn saving_replaces_the_session_and_a_flash_survives_until_read() {
    let redis = TestRedis::new();
    let store = redis.store(IDLE, MAX).await;
    let mut data = signed_in();
    let id = store.create(&data).await.unwrap();
    data.flash = Some(Flash::success("Appointment cancelled."));
    store.save(&id, &data).await.unwrap();
    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.flash, Some(Flash::success("Appointment cancelled.")));
}

#[tokio::test]
async fn one_request_at_a_time_refreshes_a_sessions_tokens() {
    let redis = TestRedis::new();
    let store = redis.store(IDLE, MAX).await;
    let id = store.create(&signed_in()).await.unwrap();
    let other = store.create(&signed_in()).await.unwrap();
    assert!(store.lock_refresh(&id).await.unwrap());
    assert!(
        !store.lock_refresh(&id).await.unwrap(),
        "a second refresher waits"
    );
    assert!(
        store.lock_refresh(&other).await.unwrap(),
        "other sessions are not held up"
    );
    store.unlock_refresh(&id).await.unwrap();
    assert!(store.lock_refresh(&id).await.unwrap());
    let lock_ttl: i64 = connection()
        .await
        .pttl(format!(
            "{}portal:refresh-lock:{}",
            redis.prefix(),
            id.digest()
        ))
        .await
        .unwrap();
    assert!(
        lock_ttl > 0 && lock_ttl <= 10_000,
        "a crashed refresher's lock expires: {lock_ttl}"
    );
}

#[tokio::test]
async fn without_redis_the_store_says_unavailable() {
    let redis = platform::cache::LazyCache::connect_to("redis://127.0.0.1:9", "x:", "portal").await;
    let store = portal::session::SessionStore::new(redis, IDLE, MAX);
    assert!(matches!(
        store.load(&SessionId::generate()).await,
        Err(StoreError::Unavailable)
    ));
    assert!(matches!(
        store.create(&signed_in()).await,
        Err(StoreError::Unavailable)
    ));
}

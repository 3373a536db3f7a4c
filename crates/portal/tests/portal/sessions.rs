use std::time::Duration;

use chrono::Utc;
use platform::{auth::Role, testing::metric};
use portal::session::{
    Flash, SessionData, SessionId, SessionKeys, SessionStore, SignedIn, StoreError, Tokens,
};
use redis::AsyncCommands;

use crate::helpers::{connection, contains, TestRedis};

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
    let raw: Vec<u8> = connection().await.get(&keys[0]).await.unwrap();
    assert!(
        !contains(&raw, id.as_str()),
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
    let keys = SessionKeys::parse(&SessionKeys::generate(), "").unwrap();
    let store = SessionStore::new(redis, keys, IDLE, MAX);
    assert!(matches!(
        store.load(&SessionId::generate()).await,
        Err(StoreError::Unavailable)
    ));
    assert!(matches!(
        store.create(&signed_in()).await,
        Err(StoreError::Unavailable)
    ));
}

/// `portal_session_decrypt_failures_total` in this process, all reasons.
fn decrypt_failures() -> f64 {
    platform::metrics::handle();
    metric(
        &platform::metrics::render(),
        "portal_session_decrypt_failures_total",
    )
}

#[tokio::test]
async fn redis_holds_only_ciphertext_none_of_the_tokens_csrf_or_who_it_is() {
    let redis = TestRedis::new();
    let store = redis.store(IDLE, MAX).await;
    let data = signed_in();
    store.create(&data).await.unwrap();
    let values = redis.session_values().await;
    assert_eq!(values.len(), 1);
    let raw = &values[0];
    assert_eq!(raw[0], 1, "format version 1");
    for secret in [
        "access-token",
        "refresh-token",
        data.csrf.as_str(),
        "Paula Patient",
        "paula@example.test",
        "patient",
        "csrf",
    ] {
        assert!(!contains(raw, secret), "{secret:?} is in Redis");
    }
    assert!(serde_json::from_slice::<serde_json::Value>(raw).is_err());
}

#[tokio::test]
async fn a_value_copied_to_another_sessions_key_signs_nobody_in() {
    let redis = TestRedis::new();
    let store = redis.store(IDLE, MAX).await;
    let victim = store.create(&signed_in()).await.unwrap();
    let attacker = store
        .create(&SessionData::anonymous(Utc::now()))
        .await
        .unwrap();
    let key = |id: &SessionId| format!("{}portal:session:{}", redis.prefix(), id.digest());
    let mut conn = connection().await;
    let stolen: Vec<u8> = conn.get(key(&victim)).await.unwrap();
    let _: () = conn.set_ex(key(&attacker), stolen, 600).await.unwrap();

    let before = decrypt_failures();
    assert!(store.load(&attacker).await.unwrap().is_none());
    assert!(decrypt_failures() >= before + 1.0, "counted");
    assert!(
        store.load(&victim).await.unwrap().is_some(),
        "the original still opens"
    );
}

#[tokio::test]
async fn a_tampered_or_unencrypted_value_signs_the_user_out_and_is_counted() {
    let redis = TestRedis::new();
    let store = redis.store(IDLE, MAX).await;
    let id = store.create(&signed_in()).await.unwrap();
    let key = &redis.keys().await[0];
    let mut conn = connection().await;
    let mut raw: Vec<u8> = conn.get(key).await.unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0x01;
    let _: () = conn.set_ex(key, raw, 600).await.unwrap();

    let before = decrypt_failures();
    assert!(store.load(&id).await.unwrap().is_none());
    assert!(decrypt_failures() >= before + 1.0);

    // A session as stored before encryption (plain JSON) no longer counts.
    let json = serde_json::to_string(&signed_in()).unwrap();
    let _: () = conn.set_ex(key, json, 600).await.unwrap();
    assert!(store.load(&id).await.unwrap().is_none());
    assert!(decrypt_failures() >= before + 2.0);
    let text = platform::metrics::render();
    assert!(
        metric(
            &text,
            "portal_session_decrypt_failures_total{reason=\"format\"}"
        ) >= 1.0,
        "{text}"
    );
}

#[tokio::test]
async fn a_session_under_an_old_key_is_read_and_sealed_again_under_the_current_one() {
    let redis = TestRedis::new();
    let old_key = redis.session_key.clone();
    let new_key = SessionKeys::generate();
    let before = redis.store(IDLE, MAX).await;
    let data = signed_in();
    let id = before.create(&data).await.unwrap();

    // With the new key alone the session is unreadable: rotation keeps the old one.
    let new_only = redis
        .store_with(SessionKeys::parse(&new_key, "").unwrap(), IDLE, MAX)
        .await;
    assert!(new_only.load(&id).await.unwrap().is_none());

    let rotated = redis
        .store_with(SessionKeys::parse(&new_key, &old_key).unwrap(), IDLE, MAX)
        .await;
    let key = &redis.keys().await[0];
    let mut conn = connection().await;
    let _: () = conn.expire(key, 5).await.unwrap();
    platform::metrics::handle();
    let rekeyed = || metric(&platform::metrics::render(), "portal_session_rekeyed_total");
    let rekeyed_before = rekeyed();
    let loaded = rotated
        .load(&id)
        .await
        .unwrap()
        .expect("read with the old key");
    assert_eq!(loaded.csrf, data.csrf);
    assert!(rekeyed() >= rekeyed_before + 1.0);
    let ttl: i64 = conn.ttl(key).await.unwrap();
    assert!(
        (590..=600).contains(&ttl),
        "the idle timer restarted: {ttl}"
    );

    // Rewritten: the new key alone opens it now, the old one no longer does.
    let reread = new_only
        .load(&id)
        .await
        .unwrap()
        .expect("under the new key");
    assert_eq!(reread.csrf, data.csrf);
    assert_eq!(reread.user.unwrap().tokens.refresh, "refresh-token");
    assert!(before.load(&id).await.unwrap().is_none());
}

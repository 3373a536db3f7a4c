//! The Redis connection: an outage costs quick misses, and the cache is back
//! as soon as Redis is.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::{Duration, Instant};

use platform::{cache::Cache, testing::RedisProxy};

#[tokio::test]
async fn the_cache_fails_fast_during_an_outage_and_reconnects_as_soon_as_redis_returns() {
    let proxy = RedisProxy::start().await;
    let cache = Cache::connect(&proxy.url(), "carebook_test:", "cache", None)
        .await
        .expect("connect through the proxy");
    cache.ping().await.expect("Redis answers");

    proxy.cut();
    for _ in 0..5 {
        let started = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(3), cache.ping()).await;
        assert!(
            matches!(outcome, Ok(Err(_))),
            "a command during the outage fails instead of waiting"
        );
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "a command during the outage failed only after {:?}",
            started.elapsed()
        );
    }

    proxy.restore();
    let back = Instant::now();
    while cache.ping().await.is_err() {
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "the cache did not reconnect within 2 s of Redis returning"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

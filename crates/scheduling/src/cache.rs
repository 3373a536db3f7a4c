//! The slot cache: per (provider, type, UTC day), never the authority.
//!
//! It keeps what the calendar *offers* (availability, overrides and time off
//! turned into slots across time zones); bookings are subtracted from the
//! database on every read, so a booked slot can never show as free and a
//! cancelled one is free again at once, whatever the cache holds. Keys carry a
//! per-provider generation: any change to a provider's availability, time off
//! or types bumps it, so all its cached days are abandoned at once, and a reader
//! that computed slots before the change wrote them under the old generation,
//! where no one looks again. Redis errors make the cache a miss, and a failed
//! invalidation makes this process skip the cache for one TTL (entries it may
//! have missed expire by then). The service starts without Redis and connects
//! once it is reachable. Holds are subtracted like bookings (they are rows of
//! the same table), so holding, releasing or a hold lapsing needs no
//! invalidation: the next read sees it.

use std::{future::Future, time::Duration};

use chrono::NaiveDate;
use platform::{
    cache::{Cache, LazyCache},
    shutdown::CancellationToken,
};
use redis::AsyncCommands;
use uuid::Uuid;

use crate::domain::slots::Slot;

/// No cache operation may hold up a request longer than this.
const OP_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct SlotCache {
    cache: LazyCache,
    ttl_seconds: u64,
}

/// Run a Redis operation within [`OP_TIMEOUT`]; a timeout is an error like any other.
async fn bounded<T>(op: impl Future<Output = redis::RedisResult<T>>) -> redis::RedisResult<T> {
    tokio::time::timeout(OP_TIMEOUT, op)
        .await
        .unwrap_or_else(|_| {
            Err(redis::RedisError::from((
                redis::ErrorKind::IoError,
                "slot cache operation timed out",
            )))
        })
}

fn hit(name: &'static str) {
    metrics::counter!("cache_requests_total", "cache" => "slots", "result" => name).increment(1);
}

impl SlotCache {
    pub fn new(cache: LazyCache, ttl_seconds: u64) -> Self {
        Self {
            cache,
            ttl_seconds: ttl_seconds.max(1),
        }
    }

    /// Background worker: connect to Redis if it was down at start.
    pub async fn keep_connecting(self, cancel: CancellationToken) {
        self.cache.keep_connecting(cancel).await
    }

    fn generation_key(cache: &Cache, provider: Uuid) -> String {
        cache.key("slots-generation", &provider.to_string())
    }

    fn day_key(
        cache: &Cache,
        provider: Uuid,
        generation: u64,
        type_id: Uuid,
        day: NaiveDate,
    ) -> String {
        cache.key("slots", &format!("{provider}:{generation}:{type_id}:{day}"))
    }

    /// The provider's current generation; `None` when the cache cannot be used.
    pub async fn generation(&self, provider: Uuid) -> Option<u64> {
        let cache = self.cache.usable().ok()?;
        let mut conn = cache.conn();
        match bounded(conn.get::<_, Option<u64>>(Self::generation_key(&cache, provider))).await {
            Ok(g) => Some(g.unwrap_or(0)),
            Err(e) => {
                tracing::warn!(%provider, error = %e, "slot cache unavailable");
                None
            }
        }
    }

    /// Cached days, in order; `None` for each day not cached.
    pub async fn get(
        &self,
        provider: Uuid,
        generation: u64,
        type_id: Uuid,
        days: &[NaiveDate],
    ) -> Vec<Option<Vec<Slot>>> {
        let Ok(cache) = self.cache.usable() else {
            return vec![None; days.len()];
        };
        let keys: Vec<String> = days
            .iter()
            .map(|d| Self::day_key(&cache, provider, generation, type_id, *d))
            .collect();
        let mut conn = cache.conn();
        let raw: Vec<Option<String>> =
            match bounded(redis::cmd("MGET").arg(&keys).query_async(&mut conn)).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(%provider, error = %e, "slot cache read failed");
                    vec![None; days.len()]
                }
            };
        raw.into_iter()
            .map(|v| {
                let parsed = v.and_then(|s| serde_json::from_str::<Vec<(i64, i64)>>(&s).ok());
                hit(if parsed.is_some() { "hit" } else { "miss" });
                parsed.map(|pairs| {
                    pairs
                        .into_iter()
                        .filter_map(|(s, e)| {
                            Some(Slot {
                                start: chrono::DateTime::from_timestamp(s, 0)?,
                                end: chrono::DateTime::from_timestamp(e, 0)?,
                            })
                        })
                        .collect()
                })
            })
            .collect()
    }

    pub async fn put(
        &self,
        provider: Uuid,
        generation: u64,
        type_id: Uuid,
        day: NaiveDate,
        slots: &[Slot],
    ) {
        let pairs: Vec<(i64, i64)> = slots
            .iter()
            .map(|s| (s.start.timestamp(), s.end.timestamp()))
            .collect();
        let Ok(value) = serde_json::to_string(&pairs) else {
            return;
        };
        let Ok(cache) = self.cache.usable() else {
            return;
        };
        let mut conn = cache.conn();
        let key = Self::day_key(&cache, provider, generation, type_id, day);
        if let Err(e) = bounded(conn.set_ex::<_, _, ()>(key, value, self.ttl_seconds)).await {
            tracing::warn!(%provider, error = %e, "slot cache write failed");
        }
    }

    /// Abandon every cached day of `provider` (after any calendar change commits).
    pub async fn invalidate(&self, provider: Uuid) {
        // Never connected: nothing was cached, so nothing can be stale.
        let Some(cache) = self.cache.get() else {
            return;
        };
        let mut conn = cache.conn();
        let key = Self::generation_key(&cache, provider);
        if let Err(e) = bounded(conn.incr::<_, _, u64>(key, 1)).await {
            // Entries the bump missed may be served until they expire: skip the
            // cache here until then. Other replicas are bounded by the same TTL.
            tracing::warn!(%provider, error = %e, "slot cache invalidation failed");
            self.cache
                .distrust_for(Duration::from_secs(self.ttl_seconds));
        }
    }
}

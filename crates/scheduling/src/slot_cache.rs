//! The slot cache: per (provider, type, UTC day), never the authority.
//!
//! It keeps what the calendar *offers* (availability, overrides and time off
//! turned into slots across time zones); bookings are subtracted from the
//! database on every read, so a booked slot can never show as free and a
//! cancelled one is free again at once, whatever the cache holds. Keys carry a
//! per-provider generation: any change to a provider's availability, time off
//! or types bumps it, so all its cached days are abandoned at once, and a reader
//! that computed slots before the change wrote them under the old generation,
//! where no one looks again. Redis errors make the cache a miss.

use chrono::NaiveDate;
use redis::AsyncCommands;
use uuid::Uuid;

use crate::domain::slots::Slot;
use platform::cache::Cache;

#[derive(Clone)]
pub struct SlotCache {
    cache: Cache,
    ttl_seconds: u64,
}

fn hit(name: &'static str) {
    metrics::counter!("cache_requests_total", "cache" => "slots", "result" => name).increment(1);
}

impl SlotCache {
    pub fn new(cache: Cache, ttl_seconds: u64) -> Self {
        Self {
            cache,
            ttl_seconds: ttl_seconds.max(1),
        }
    }

    fn generation_key(&self, provider: Uuid) -> String {
        self.cache.key("slots-generation", &provider.to_string())
    }

    fn day_key(&self, provider: Uuid, generation: u64, type_id: Uuid, day: NaiveDate) -> String {
        self.cache
            .key("slots", &format!("{provider}:{generation}:{type_id}:{day}"))
    }

    /// The provider's current generation; `None` when Redis is unavailable.
    pub async fn generation(&self, provider: Uuid) -> Option<u64> {
        let mut conn = self.cache.conn();
        match conn
            .get::<_, Option<u64>>(self.generation_key(provider))
            .await
        {
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
        let keys: Vec<String> = days
            .iter()
            .map(|d| self.day_key(provider, generation, type_id, *d))
            .collect();
        let mut conn = self.cache.conn();
        let raw: Vec<Option<String>> =
            match redis::cmd("MGET").arg(&keys).query_async(&mut conn).await {
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
        let mut conn = self.cache.conn();
        let key = self.day_key(provider, generation, type_id, day);
        if let Err(e) = conn.set_ex::<_, _, ()>(key, value, self.ttl_seconds).await {
            tracing::warn!(%provider, error = %e, "slot cache write failed");
        }
    }

    /// Abandon every cached day of `provider` (after any calendar change commits).
    pub async fn invalidate(&self, provider: Uuid) {
        let mut conn = self.cache.conn();
        if let Err(e) = conn
            .incr::<_, _, u64>(self.generation_key(provider), 1)
            .await
        {
            // The TTL bounds how long a stale day can be served; the database still decides bookings.
            tracing::warn!(%provider, error = %e, "slot cache invalidation failed");
        }
    }
}

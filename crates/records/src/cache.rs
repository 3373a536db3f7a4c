//! Cache-aside for reads, in Redis, holding only what the database holds:
//! encrypted version rows (ciphertext, wrapped data key, ids). Keys carry ids,
//! never PHI: `<prefix>records:<entity>:<patient or entry id>:<generation>…`.
//!
//! Every key embeds the patient's *generation*, a counter raised after each
//! committed write to that patient's record. A reader notes the generation
//! before reading the database and fills under it, so a read that raced a
//! write fills a generation no one asks for again: no stale entry is ever
//! served. If raising the counter fails (Redis unreachable), this process stops
//! using the cache for one TTL, by which time anything cached before the write
//! has expired. (Other replicas bound staleness by the TTL.)
//!
//! Redis is an optimization, never the authority: each call has a short
//! timeout, any failure is a miss, and after a failure Redis is left alone for
//! a moment so an outage does not add its timeout to every request. The
//! service starts without Redis and connects once it answers.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use platform::{
    cache::{Cache, LazyCache},
    config::CommonConfig,
    shutdown::CancellationToken,
};
use redis::AsyncCommands;
use serde::{de::DeserializeOwned, Serialize};
use uuid::Uuid;

/// No cache operation may hold up a request longer than this.
const OP_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, skip Redis this long.
const BACKOFF: Duration = Duration::from_secs(1);
/// Generations outlive every entry filled under them.
const GENERATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone)]
pub struct RecordCache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: LazyCache,
    ttl: Duration,
    /// Everything skips Redis until then (after any failure).
    resting_until: Mutex<Option<Instant>>,
}

/// A cache key under a patient's generation.
#[derive(Clone, Debug)]
pub struct Slot {
    key: String,
}

fn count(outcome: &'static str) {
    metrics::counter!("cache_requests_total", "service" => "records", "outcome" => outcome)
        .increment(1);
}

fn until_passed(cell: &Mutex<Option<Instant>>) -> bool {
    let Ok(mut until) = cell.lock() else {
        return false;
    };
    match *until {
        Some(t) if Instant::now() < t => false,
        Some(_) => {
            *until = None;
            true
        }
        None => true,
    }
}

fn set_until(cell: &Mutex<Option<Instant>>, d: Duration) {
    if let Ok(mut until) = cell.lock() {
        *until = Some(Instant::now() + d);
    }
}

impl RecordCache {
    /// Connect if Redis answers now; otherwise start without it.
    pub async fn connect(common: &CommonConfig, ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                redis: LazyCache::connect(common).await,
                ttl,
                resting_until: Mutex::new(None),
            }),
        }
    }

    /// Background worker: until connected (or cancelled), retry every few seconds.
    pub async fn keep_connecting(self, cancel: CancellationToken) {
        self.inner.redis.clone().keep_connecting(cancel).await
    }

    /// The Redis handle, once connected.
    pub fn redis(&self) -> Option<Cache> {
        self.inner.redis.get()
    }

    fn ttl_ms(&self) -> u64 {
        self.inner.ttl.as_millis().try_into().unwrap_or(u64::MAX)
    }

    /// Redis for reads and fills, unless down, resting or distrusted.
    fn usable(&self) -> Option<Cache> {
        if !until_passed(&self.inner.resting_until) {
            count("unavailable");
            return None;
        }
        self.inner
            .redis
            .usable()
            .map_err(|why| count(why.as_str()))
            .ok()
    }

    fn failed(&self, what: &str, error: &str) {
        tracing::warn!(
            operation = what,
            error,
            "record cache failed; using the database"
        );
        count("error");
        set_until(&self.inner.resting_until, BACKOFF);
    }

    fn generation_key(redis: &Cache, patient_id: Uuid) -> String {
        redis.key("generation", &patient_id.to_string())
    }

    /// Where `entity`/`id` of this patient lives now; `None` when the cache is not usable.
    pub async fn slot(&self, patient_id: Uuid, entity: &str, id: &str) -> Option<Slot> {
        let redis = self.usable()?;
        let mut conn = redis.conn();
        let key = Self::generation_key(&redis, patient_id);
        match tokio::time::timeout(OP_TIMEOUT, conn.get::<_, Option<u64>>(&key)).await {
            Ok(Ok(generation)) => Some(Slot {
                key: redis.key(
                    entity,
                    &format!("{patient_id}:{}:{id}", generation.unwrap_or(0)),
                ),
            }),
            Ok(Err(e)) => {
                self.failed("generation", &e.to_string());
                None
            }
            Err(_) => {
                self.failed("generation", "timed out");
                None
            }
        }
    }

    /// The cached value at `slot`, or `None` (miss, Redis down, undecodable).
    pub async fn get<T: DeserializeOwned>(&self, slot: &Slot) -> Option<T> {
        let redis = self.usable()?;
        let mut conn = redis.conn();
        match tokio::time::timeout(OP_TIMEOUT, conn.get::<_, Option<Vec<u8>>>(&slot.key)).await {
            Ok(Ok(Some(bytes))) => match serde_json::from_slice(&bytes) {
                Ok(v) => {
                    count("hit");
                    Some(v)
                }
                Err(_) => {
                    count("miss");
                    None
                }
            },
            Ok(Ok(None)) => {
                count("miss");
                None
            }
            Ok(Err(e)) => {
                self.failed("get", &e.to_string());
                None
            }
            Err(_) => {
                self.failed("get", "timed out");
                None
            }
        }
    }

    /// Cache `value` at `slot` (read from the database after the slot was taken).
    pub async fn put<T: Serialize>(&self, slot: &Slot, value: &T) {
        let Some(redis) = self.usable() else { return };
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        let mut conn = redis.conn();
        let set = conn.pset_ex::<_, _, ()>(&slot.key, bytes, self.ttl_ms());
        match tokio::time::timeout(OP_TIMEOUT, set).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.failed("put", &e.to_string()),
            Err(_) => self.failed("put", "timed out"),
        }
    }

    /// After a committed write to this patient's record: abandon everything
    /// cached for them.
    pub async fn invalidate(&self, patient_id: Uuid) {
        // Tried even while resting or distrusted: it is what makes the cache right again.
        let Some(redis) = self.redis() else {
            self.distrust_for_one_ttl();
            return;
        };
        let key = Self::generation_key(&redis, patient_id);
        let mut conn = redis.conn();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .incr(&key, 1)
            .ignore()
            .pexpire(&key, GENERATION_TTL.as_millis() as i64)
            .ignore();
        let failure =
            match tokio::time::timeout(OP_TIMEOUT, pipe.query_async::<()>(&mut conn)).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "timed out".to_owned(),
            };
        tracing::warn!(%patient_id, error = %failure, "record cache invalidation failed; bypassing the cache for one TTL");
        count("invalidation_failed");
        set_until(&self.inner.resting_until, BACKOFF);
        self.distrust_for_one_ttl();
    }

    fn distrust_for_one_ttl(&self) {
        self.inner.redis.distrust_for(self.inner.ttl);
    }
}

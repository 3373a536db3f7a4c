//! Cache-aside for patients' open balances in Redis
//! (`<prefix>billing:balance:<patient id>`, ids only in keys). The cache is an
//! optimization, never the authority: every Redis failure or timeout is a miss,
//! logged with ids only, and the database answers.
//!
//! Every change to a patient's invoices deletes the entry after commit. A
//! per-patient *generation* closes the race where a reader computed the balance
//! from the database just before a change committed and would put the old value
//! back after the delete: invalidation bumps the generation in the same atomic
//! step as the delete, and a fill is written only if the generation is still the
//! one the reader saw before reading the database. If an invalidation fails
//! (Redis unreachable), this process stops using the cache for one TTL, by when
//! any entry it missed has expired.
//!
//! The service starts without Redis and connects once it is reachable.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use platform::{
    cache::{Cache, LazyCache},
    config::CommonConfig,
    shutdown::CancellationToken,
};
use serde::{de::DeserializeOwned, Serialize};
use uuid::Uuid;

/// No cache operation may hold up a request longer than this.
const OP_TIMEOUT: Duration = Duration::from_millis(500);
/// Generations outlive any reader that could still hold an older one.
const GENERATION_TTL_MS: u64 = 24 * 60 * 60 * 1000;

const ENTITY: &str = "balance";
const GENERATION: &str = "balance-generation";

/// Write the entry only if no invalidation happened since the reader looked.
/// KEYS: entry, generation. ARGV: generation seen, value, ttl ms.
static FILL: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"local g = redis.call('GET', KEYS[2]) or '0'
          if g ~= ARGV[1] then return 0 end
          redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
          return 1",
    )
});

/// Bump the generation and delete the entry, atomically.
/// KEYS: entry, generation. ARGV: generation ttl ms.
static INVALIDATE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"redis.call('INCR', KEYS[2])
          redis.call('PEXPIRE', KEYS[2], ARGV[1])
          redis.call('DEL', KEYS[1])
          return 1",
    )
});

/// What a read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<T> {
    Hit(T),
    /// Not cached; fill with this generation after reading the database.
    /// `None`: do not fill (Redis unavailable or distrusted).
    Miss(Option<String>),
}

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct BalanceCache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: LazyCache,
    ttl: Duration,
}

fn count(outcome: &'static str) {
    metrics::counter!("cache_requests_total", "service" => "billing", "entity" => ENTITY, "outcome" => outcome)
        .increment(1);
}

impl BalanceCache {
    /// Connect if Redis answers now; otherwise start without it (see [`Self::keep_connecting`]).
    pub async fn connect(common: &CommonConfig, ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                redis: LazyCache::connect(common).await,
                ttl,
            }),
        }
    }

    /// The Redis handle, once connected (it reconnects by itself after that).
    pub fn redis(&self) -> Option<Cache> {
        self.inner.redis.get()
    }

    /// Background worker: until connected (or cancelled), retry every few seconds.
    pub async fn keep_connecting(self, cancel: CancellationToken) {
        self.inner.redis.clone().keep_connecting(cancel).await
    }

    fn distrust_for_one_ttl(&self) {
        self.inner.redis.distrust_for(self.inner.ttl);
    }

    fn usable(&self) -> Option<Cache> {
        self.inner
            .redis
            .usable()
            .map_err(|why| count(why.as_str()))
            .ok()
    }

    fn ttl_ms(&self) -> u64 {
        self.inner.ttl.as_millis().try_into().unwrap_or(u64::MAX)
    }

    /// The cached balance of `patient`, or a miss telling how to fill it.
    pub async fn get<T: DeserializeOwned>(&self, patient: Uuid) -> Lookup<T> {
        let Some(redis) = self.usable() else {
            return Lookup::Miss(None);
        };
        let id = patient.to_string();
        let keys = [redis.key(ENTITY, &id), redis.key(GENERATION, &id)];
        let mut conn = redis.conn();
        let mget = redis::cmd("MGET").arg(&keys).to_owned();
        let result = tokio::time::timeout(
            OP_TIMEOUT,
            mget.query_async::<(Option<Vec<u8>>, Option<String>)>(&mut conn),
        )
        .await;
        match result {
            Ok(Ok((Some(bytes), generation))) => match serde_json::from_slice(&bytes) {
                Ok(value) => {
                    count("hit");
                    Lookup::Hit(value)
                }
                Err(_) => {
                    tracing::warn!(patient_id = %patient, "undecodable balance cache entry ignored");
                    count("miss");
                    Lookup::Miss(Some(generation.unwrap_or_else(|| "0".to_owned())))
                }
            },
            Ok(Ok((None, generation))) => {
                count("miss");
                Lookup::Miss(Some(generation.unwrap_or_else(|| "0".to_owned())))
            }
            Ok(Err(e)) => {
                tracing::warn!(patient_id = %patient, error = %e, "balance cache read failed; using the database");
                count("error");
                Lookup::Miss(None)
            }
            Err(_) => {
                tracing::warn!(patient_id = %patient, "balance cache read timed out; using the database");
                count("error");
                Lookup::Miss(None)
            }
        }
    }

    /// Cache `value`, computed after [`Self::get`] returned `generation`,
    /// unless the patient's invoices changed since.
    pub async fn fill<T: Serialize>(&self, patient: Uuid, generation: &str, value: &T) {
        let Some(redis) = self.usable() else {
            return;
        };
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        let id = patient.to_string();
        let mut conn = redis.conn();
        let mut invocation = FILL.prepare_invoke();
        invocation
            .key(redis.key(ENTITY, &id))
            .key(redis.key(GENERATION, &id))
            .arg(generation)
            .arg(bytes)
            .arg(self.ttl_ms());
        match tokio::time::timeout(OP_TIMEOUT, invocation.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(patient_id = %patient, error = %e, "balance cache fill failed")
            }
            Err(_) => tracing::warn!(patient_id = %patient, "balance cache fill timed out"),
        }
    }

    /// Drop the patient's cached balance: call after any committed change to
    /// their invoices.
    pub async fn invalidate(&self, patient: Uuid) {
        // Invalidation runs even while distrusted: it is what makes the cache right again.
        let Some(redis) = self.redis() else {
            // Redis may still hold an entry from before; once we connect, it
            // must not be served until it has surely expired.
            self.distrust_for_one_ttl();
            return;
        };
        let id = patient.to_string();
        let mut conn = redis.conn();
        let mut invocation = INVALIDATE.prepare_invoke();
        invocation
            .key(redis.key(ENTITY, &id))
            .key(redis.key(GENERATION, &id))
            .arg(GENERATION_TTL_MS.max(self.ttl_ms()));
        let failure =
            match tokio::time::timeout(OP_TIMEOUT, invocation.invoke_async::<i64>(&mut conn)).await
            {
                Ok(Ok(_)) => return,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "timed out".to_owned(),
            };
        tracing::warn!(patient_id = %patient, error = %failure,
            "balance cache invalidation failed; bypassing the cache for one TTL");
        count("invalidation_failed");
        self.distrust_for_one_ttl();
    }
}

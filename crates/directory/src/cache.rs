//! Cache-aside for profiles in Redis (`<prefix>directory:<entity>:<id>`, ids
//! only in keys). The cache is an optimization, never the authority: every
//! Redis failure or timeout is a miss, logged with ids only, and the database
//! answers.
//!
//! Staleness is closed off in two ways:
//! - Writes delete the entry after commit and, in the same script, raise a
//!   per-profile *version guard*. A read that fetched an older row before the
//!   write committed cannot put it back: the fill script refuses versions below
//!   the guard.
//! - If the delete fails (Redis unreachable), this process stops reading and
//!   filling the cache for one TTL: any entry the delete missed was written
//!   before it and has expired by then. (Other replicas do not learn of the
//!   failure; their window of staleness is bounded by the TTL.)
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
use redis::AsyncCommands;
use serde::{de::DeserializeOwned, Serialize};
use uuid::Uuid;

/// No cache operation may hold up a request longer than this.
const OP_TIMEOUT: Duration = Duration::from_millis(500);

/// Set the entry unless a write newer than the value's version invalidated it.
/// KEYS: entry, guard. ARGV: version, value, ttl ms.
static FILL: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"local guard = redis.call('GET', KEYS[2])
          if guard and tonumber(guard) > tonumber(ARGV[1]) then return 0 end
          redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
          return 1",
    )
});

/// Raise the guard to the written version and delete the entry, atomically.
/// KEYS: entry, guard. ARGV: version, ttl ms.
static INVALIDATE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"local guard = redis.call('GET', KEYS[2])
          if not guard or tonumber(guard) < tonumber(ARGV[1]) then
            redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
          end
          redis.call('DEL', KEYS[1])
          return 1",
    )
});

/// The kinds of profile cached; the entity part of the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    Patient,
    Provider,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Patient => "patient",
            Entity::Provider => "provider",
        }
    }

    fn guard(self) -> &'static str {
        match self {
            Entity::Patient => "patient-version",
            Entity::Provider => "provider-version",
        }
    }
}

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct ProfileCache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: LazyCache,
    ttl: Duration,
}

impl ProfileCache {
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

    fn usable(&self, entity: Entity) -> Option<Cache> {
        self.inner
            .redis
            .usable()
            .map_err(|why| count(entity, why.as_str()))
            .ok()
    }

    fn ttl_ms(&self) -> u64 {
        self.inner.ttl.as_millis().try_into().unwrap_or(u64::MAX)
    }

    /// The cached profile, or `None` (miss, Redis down, undecodable entry).
    pub async fn get<T: DeserializeOwned>(&self, entity: Entity, id: Uuid) -> Option<T> {
        let redis = self.usable(entity)?;
        let key = redis.key(entity.as_str(), &id.to_string());
        let mut conn = redis.conn();
        let result = tokio::time::timeout(OP_TIMEOUT, conn.get::<_, Option<Vec<u8>>>(&key)).await;
        match result {
            Ok(Ok(Some(bytes))) => match serde_json::from_slice(&bytes) {
                Ok(value) => {
                    count(entity, "hit");
                    Some(value)
                }
                Err(_) => {
                    tracing::warn!(entity = entity.as_str(), %id, "undecodable cache entry ignored");
                    count(entity, "miss");
                    None
                }
            },
            Ok(Ok(None)) => {
                count(entity, "miss");
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(entity = entity.as_str(), %id, error = %e, "cache read failed; using the database");
                count(entity, "error");
                None
            }
            Err(_) => {
                tracing::warn!(entity = entity.as_str(), %id, "cache read timed out; using the database");
                count(entity, "error");
                None
            }
        }
    }

    /// Cache `value`, read from the database at `version`, unless a newer write
    /// invalidated the entry since.
    pub async fn fill<T: Serialize>(&self, entity: Entity, id: Uuid, version: i64, value: &T) {
        let Some(redis) = self.usable(entity) else {
            return;
        };
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        let id_str = id.to_string();
        let mut conn = redis.conn();
        let mut invocation = FILL.prepare_invoke();
        invocation
            .key(redis.key(entity.as_str(), &id_str))
            .key(redis.key(entity.guard(), &id_str))
            .arg(version)
            .arg(bytes)
            .arg(self.ttl_ms());
        match tokio::time::timeout(OP_TIMEOUT, invocation.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(entity = entity.as_str(), %id, error = %e, "cache fill failed")
            }
            Err(_) => tracing::warn!(entity = entity.as_str(), %id, "cache fill timed out"),
        }
    }

    /// Drop the cached profile after a committed write that produced `version`.
    pub async fn invalidate(&self, entity: Entity, id: Uuid, version: i64) {
        // Invalidation runs even while distrusted: it is what makes the cache right again.
        let Some(redis) = self.redis() else {
            // Redis may still hold an entry from before; once we connect, it
            // must not be served until it has surely expired.
            self.distrust_for_one_ttl();
            return;
        };
        let id_str = id.to_string();
        let mut conn = redis.conn();
        let mut invocation = INVALIDATE.prepare_invoke();
        invocation
            .key(redis.key(entity.as_str(), &id_str))
            .key(redis.key(entity.guard(), &id_str))
            .arg(version)
            .arg(self.ttl_ms());
        let failure =
            match tokio::time::timeout(OP_TIMEOUT, invocation.invoke_async::<i64>(&mut conn)).await
            {
                Ok(Ok(_)) => return,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "timed out".to_owned(),
            };
        tracing::warn!(entity = entity.as_str(), %id, error = %failure,
            "cache invalidation failed; bypassing the cache for one TTL");
        count(entity, "invalidation_failed");
        self.distrust_for_one_ttl();
    }
}

fn count(entity: Entity, outcome: &'static str) {
    metrics::counter!("cache_requests_total", "service" => "directory", "entity" => entity.as_str(), "outcome" => outcome)
        .increment(1);
}

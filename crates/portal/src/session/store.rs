//! Sessions in Redis: `<prefix>portal:session:<sha256(id)>` → the session as
//! JSON, sealed with AES-256-GCM under the portal's key and bound to that Redis
//! key (see [`super::seal`]), with a sliding idle TTL (every request extends
//! it) under an absolute lifetime. A short lock per session lets one request
//! refresh the tokens while concurrent ones wait for the result, since refresh
//! tokens rotate on use and a second use would sign the user out everywhere.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use platform::cache::LazyCache;
use redis::AsyncCommands;

use super::{
    seal::{OpenError, SessionKeys},
    SessionData, SessionId,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis is not reachable: nobody can be signed in right now.
    #[error("session store unavailable")]
    Unavailable,
    #[error("session store error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("session not serializable: {0}")]
    Encode(String),
    #[error("session not encryptable")]
    Seal,
}

/// Replace a value sealed under an old key only if it is still the one read:
/// a request that saved the session meanwhile wrote newer data (under the
/// current key), which an old copy must not overwrite.
/// KEYS: the session. ARGV: the value read, the value sealed anew, ttl seconds.
static RESEAL: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
          redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
          return 1",
    )
});

/// How long a refresh may hold a session's lock before others may take over.
const REFRESH_LOCK: Duration = Duration::from_secs(10);

/// The seconds a session may still live: the idle TTL, cut short by its
/// absolute lifetime. Zero when it is over.
pub fn remaining(
    idle: Duration,
    max: Duration,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> u64 {
    let age = (now - created_at).to_std().unwrap_or_default();
    max.saturating_sub(age).min(idle).as_secs()
}

#[derive(Clone)]
pub struct SessionStore {
    redis: LazyCache,
    keys: Arc<SessionKeys>,
    idle: Duration,
    max: Duration,
}

impl SessionStore {
    pub fn new(redis: LazyCache, keys: SessionKeys, idle: Duration, max: Duration) -> Self {
        Self {
            redis,
            keys: Arc::new(keys),
            idle,
            max,
        }
    }

    /// The Redis connection, for the readiness check and the reconnect worker.
    pub fn redis(&self) -> &LazyCache {
        &self.redis
    }

    fn conn(&self) -> Result<(redis::aio::ConnectionManager, platform::cache::Cache), StoreError> {
        let cache = self.redis.get().ok_or(StoreError::Unavailable)?;
        Ok((cache.conn(), cache))
    }

    fn key(cache: &platform::cache::Cache, id: &SessionId) -> String {
        cache.key("session", &id.digest())
    }

    fn remaining(&self, created_at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
        remaining(self.idle, self.max, created_at, now)
    }

    /// The session, its idle timer restarted; `None` when unknown, expired or
    /// unreadable. A value that does not decrypt (tampered, copied from another
    /// session, sealed under a key no longer held, or from before encryption)
    /// signs the user out and is counted, never shown; it is left to expire,
    /// since a replica holding the right key may still read it. A value sealed
    /// under an old key is sealed again under the current one.
    pub async fn load(&self, id: &SessionId) -> Result<Option<SessionData>, StoreError> {
        let (mut conn, cache) = self.conn()?;
        let key = Self::key(&cache, id);
        let raw: Option<Vec<u8>> = conn.get(&key).await?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let opened = match self.keys.open(key.as_bytes(), &raw) {
            Ok(opened) => opened,
            Err(e) => {
                decrypt_failed(e);
                return Ok(None);
            }
        };
        // A format change of the JSON logs everyone out rather than failing.
        let Ok(data) = serde_json::from_slice::<SessionData>(&opened.plaintext) else {
            return Ok(None);
        };
        let ttl = self.remaining(data.created_at, Utc::now());
        if ttl == 0 {
            let _: () = conn.del(&key).await?;
            return Ok(None);
        }
        if opened.stale {
            let fresh = self
                .keys
                .seal(key.as_bytes(), &opened.plaintext)
                .map_err(|_| StoreError::Seal)?;
            let replaced: i64 = RESEAL
                .key(&key)
                .arg(raw)
                .arg(fresh)
                .arg(ttl)
                .invoke_async(&mut conn)
                .await?;
            // Its rate falls to zero once every live session is under the current key.
            metrics::counter!("portal_session_rekeyed_total").increment(replaced.unsigned_abs());
        } else {
            let _: () = conn.expire(&key, ttl as i64).await?;
        }
        Ok(Some(data))
    }

    /// Store `data` under `id`, sealed under the current key, replacing what was there.
    pub async fn save(&self, id: &SessionId, data: &SessionData) -> Result<(), StoreError> {
        let (mut conn, cache) = self.conn()?;
        let key = Self::key(&cache, id);
        let ttl = self.remaining(data.created_at, Utc::now()).max(1);
        let json = serde_json::to_vec(data).map_err(|e| StoreError::Encode(e.to_string()))?;
        let sealed = self
            .keys
            .seal(key.as_bytes(), &json)
            .map_err(|_| StoreError::Seal)?;
        let _: () = conn.set_ex(key, sealed, ttl).await?;
        Ok(())
    }

    /// A new session holding `data`; its id goes into the cookie.
    pub async fn create(&self, data: &SessionData) -> Result<SessionId, StoreError> {
        let id = SessionId::generate();
        self.save(&id, data).await?;
        Ok(id)
    }

    pub async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let (mut conn, cache) = self.conn()?;
        let _: () = conn.del(Self::key(&cache, id)).await?;
        Ok(())
    }

    /// Take the session's refresh lock; `false` when another request holds it.
    pub async fn lock_refresh(&self, id: &SessionId) -> Result<bool, StoreError> {
        let (mut conn, cache) = self.conn()?;
        let key = cache.key("refresh-lock", &id.digest());
        let taken: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(REFRESH_LOCK.as_millis() as u64)
            .query_async(&mut conn)
            .await?;
        Ok(taken.is_some())
    }

    pub async fn unlock_refresh(&self, id: &SessionId) -> Result<(), StoreError> {
        let (mut conn, cache) = self.conn()?;
        let _: () = conn.del(cache.key("refresh-lock", &id.digest())).await?;
        Ok(())
    }
}

/// A stored value that does not open: counted and logged by reason only
/// (nothing of the value, nor the key that would identify the session).
fn decrypt_failed(e: OpenError) {
    metrics::counter!("portal_session_decrypt_failures_total", "reason" => e.reason()).increment(1);
    tracing::warn!(
        reason = e.reason(),
        "session value did not decrypt; treating the visitor as signed out"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_live_the_idle_time_until_their_absolute_end() {
        let idle = Duration::from_secs(30 * 60);
        let max = Duration::from_secs(12 * 3600);
        let created: DateTime<Utc> = "2026-05-04T08:00:00Z".parse().unwrap();
        let at =
            |h: i64, m: i64| created + chrono::Duration::hours(h) + chrono::Duration::minutes(m);
        assert_eq!(remaining(idle, max, created, at(0, 0)), 1800);
        assert_eq!(remaining(idle, max, created, at(11, 50)), 600);
        assert_eq!(remaining(idle, max, created, at(12, 0)), 0);
        assert_eq!(remaining(idle, max, created, at(13, 0)), 0);
    }
}

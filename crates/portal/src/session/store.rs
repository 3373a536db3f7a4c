//! Sessions in Redis: `<prefix>portal:session:<sha256(id)>` → JSON, with a
//! sliding idle TTL (every request extends it) under an absolute lifetime.
//! A short lock per session lets one request refresh the tokens while
//! concurrent ones wait for the result, since refresh tokens rotate on use and
//! a second use would sign the user out everywhere.

use std::time::Duration;

use chrono::{DateTime, Utc};
use platform::cache::LazyCache;
use redis::AsyncCommands;

use super::{SessionData, SessionId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis is not reachable: nobody can be signed in right now.
    #[error("session store unavailable")]
    Unavailable,
    #[error("session store error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("session not serializable: {0}")]
    Encode(String),
}

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
    idle: Duration,
    max: Duration,
}

impl SessionStore {
    pub fn new(redis: LazyCache, idle: Duration, max: Duration) -> Self {
        Self { redis, idle, max }
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
    /// unreadable (a format change logs everyone out rather than failing).
    pub async fn load(&self, id: &SessionId) -> Result<Option<SessionData>, StoreError> {
        let (mut conn, cache) = self.conn()?;
        let key = Self::key(&cache, id);
        let raw: Option<String> = conn.get(&key).await?;
        let Some(data) = raw.and_then(|r| serde_json::from_str::<SessionData>(&r).ok()) else {
            return Ok(None);
        };
        let ttl = self.remaining(data.created_at, Utc::now());
        if ttl == 0 {
            let _: () = conn.del(&key).await?;
            return Ok(None);
        }
        let _: () = conn.expire(&key, ttl as i64).await?;
        Ok(Some(data))
    }

    /// Store `data` under `id`, replacing what was there.
    pub async fn save(&self, id: &SessionId, data: &SessionData) -> Result<(), StoreError> {
        let (mut conn, cache) = self.conn()?;
        let ttl = self.remaining(data.created_at, Utc::now()).max(1);
        let json = serde_json::to_string(data).map_err(|e| StoreError::Encode(e.to_string()))?;
        let _: () = conn.set_ex(Self::key(&cache, id), json, ttl).await?;
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

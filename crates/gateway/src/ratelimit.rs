//! Distributed rate limiting: GCRA in one Redis Lua script (atomic, one round
//! trip, Redis's clock so every gateway instance agrees). When Redis is
//! unreachable, an in-process GCRA takes over at once for API routes (fail
//! open to a local limit) while auth routes fail closed; Redis is re-probed in
//! the background and used again as soon as it answers.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::RwLock;

use crate::domain::{
    gcra::{self, Decision, Quota},
    routing::RouteClass,
};

/// The Lua twin of [`gcra::check`].
const GCRA_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now + 1000)
local used = new_tat - now
return {1, math.floor((tolerance - used) / interval), 0, used}
"#;

/// Redis calls slower than this count as Redis being down.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Where a decision was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Redis,
    Local,
}

/// The limiter could not decide (auth routes while Redis is down).
#[derive(Debug)]
pub struct Unavailable;

pub struct Limiter {
    url: String,
    prefix: String,
    redis: RwLock<Option<ConnectionManager>>,
    redis_up: AtomicBool,
    /// The internal CA a `rediss://` server is verified against.
    tls: Option<Arc<platform::tls::TlsIdentity>>,
    script: redis::Script,
    api: Quota,
    auth: Quota,
    local: Mutex<HashMap<String, u64>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Limiter {
    /// Connects if it can; a gateway starts even while Redis is down.
    pub async fn new(
        url: &str,
        prefix: &str,
        api: Quota,
        auth: Quota,
        tls: Option<Arc<platform::tls::TlsIdentity>>,
    ) -> Arc<Self> {
        let limiter = Arc::new(Self {
            url: url.to_owned(),
            tls,
            prefix: format!("{prefix}gateway:rl:"),
            redis: RwLock::new(None),
            redis_up: AtomicBool::new(false),
            script: redis::Script::new(GCRA_LUA),
            api,
            auth,
            local: Mutex::new(HashMap::new()),
        });
        limiter.reconnect().await;
        limiter
    }

    pub fn quota(&self, class: RouteClass) -> Quota {
        match class {
            RouteClass::Api => self.api,
            RouteClass::Auth => self.auth,
        }
    }

    pub fn redis_up(&self) -> bool {
        self.redis_up.load(Ordering::Relaxed)
    }

    async fn reconnect(&self) -> bool {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(0);
        let connected = match platform::cache::client(&self.url, self.tls.as_ref()) {
            Ok(client) => ConnectionManager::new_with_config(client, config)
                .await
                .ok(),
            Err(_) => None,
        };
        let up = connected.is_some();
        *self.redis.write().await = connected;
        self.redis_up.store(up, Ordering::Relaxed);
        up
    }

    /// Decide one request of `class` for `subject` (user id or client IP).
    pub async fn check(
        &self,
        class: RouteClass,
        subject: &str,
    ) -> Result<(Decision, Backend), Unavailable> {
        let quota = self.quota(class);
        let key = format!("{}{}:{subject}", self.prefix, class.as_str());
        if self.redis_up() {
            match self.check_redis(&key, quota).await {
                Some(decision) => return Ok((decision, Backend::Redis)),
                None => {
                    self.redis_up.store(false, Ordering::Relaxed);
                    tracing::warn!("redis unreachable; local rate limiter takes over");
                }
            }
        }
        match class {
            // Without the shared limit, guessing passwords through several gateway
            // instances would multiply the allowance: refuse instead.
            RouteClass::Auth => Err(Unavailable),
            RouteClass::Api => Ok((self.check_local(&key, quota), Backend::Local)),
        }
    }

    async fn check_redis(&self, key: &str, quota: Quota) -> Option<Decision> {
        let mut conn = self.redis.read().await.clone()?;
        let mut invocation = self.script.key(key);
        invocation
            .arg(quota.interval_ms())
            .arg(quota.interval_ms() * u64::from(quota.limit));
        let call = invocation.invoke_async::<(u8, u64, u64, u64)>(&mut conn);
        match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(Ok((allowed, remaining, retry_after_ms, reset_ms))) => Some(Decision {
                allowed: allowed == 1,
                remaining: remaining as u32,
                retry_after_ms,
                reset_ms,
            }),
            _ => None,
        }
    }

    fn check_local(&self, key: &str, quota: Quota) -> Decision {
        let now = now_ms();
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        let (decision, tat) = gcra::check(quota, local.get(key).copied(), now);
        local.insert(key.to_owned(), tat);
        decision
    }

    /// Re-probe Redis while it is down, and forget expired local entries.
    pub async fn supervise(self: Arc<Self>, cancel: platform::shutdown::CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            if !self.redis_up() {
                let alive = match self.redis.read().await.clone() {
                    Some(mut conn) => tokio::time::timeout(
                        REDIS_TIMEOUT,
                        redis::cmd("PING").query_async::<String>(&mut conn),
                    )
                    .await
                    .is_ok_and(|r| r.is_ok()),
                    None => false,
                };
                if alive || self.reconnect().await {
                    self.redis_up.store(true, Ordering::Relaxed);
                    tracing::info!("redis reachable again; distributed rate limiting resumed");
                }
            }
            let now = now_ms();
            self.local
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, tat| *tat > now);
        }
    }
}

//! Distributed rate limiting: GCRA in one Redis Lua script (atomic, one round
//! trip, Redis's clock so every gateway instance agrees). When Redis is
//! unreachable, an in-process GCRA takes over at once: for API routes with the
//! same quota (fail open to a local limit); for auth routes (login, refresh,
//! registration) with a quarter of theirs, and only for the first
//! `GATEWAY_AUTH_FALLBACK_SECONDS` of the outage, after which they fail closed
//! (503) until Redis answers, so a long outage never multiplies the allowance
//! for guessing passwords by the number of instances. Redis is re-probed in
//! the background and used again as soon as it answers.
//!
//! Addresses found over their API limit are remembered locally until their
//! retry time, so a flood of invalid tokens from one address is refused before
//! any signature is checked.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
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

/// The limiter could not decide (auth routes after the fallback period).
#[derive(Debug)]
pub struct Unavailable;

/// A decision and what it was made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    pub decision: Decision,
    pub backend: Backend,
    /// The quota applied (a quarter of the auth quota in the local fallback).
    pub quota: Quota,
}

/// Whether auth routes may still be limited locally, Redis having been
/// unreachable for `down_for`: only for the first `fallback` of an outage.
pub fn auth_fallback_open(down_for: Duration, fallback: Duration) -> bool {
    down_for < fallback
}

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
    /// How long auth routes fall back to the local limiter.
    auth_fallback: Duration,
    /// Since when Redis is unreachable (`None` while it answers).
    down_since: Mutex<Option<Instant>>,
    local: Mutex<HashMap<String, u64>>,
    /// API subjects over their limit → until when (ms since the epoch).
    over_limit: Mutex<HashMap<String, u64>>,
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
        auth_fallback: Duration,
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
            auth_fallback,
            down_since: Mutex::new(None),
            local: Mutex::new(HashMap::new()),
            over_limit: Mutex::new(HashMap::new()),
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
        self.set_up(up);
        up
    }

    fn set_up(&self, up: bool) {
        self.redis_up.store(up, Ordering::Relaxed);
        let mut since = self.down_since.lock().unwrap_or_else(|e| e.into_inner());
        match (up, *since) {
            (true, _) => *since = None,
            (false, None) => *since = Some(Instant::now()),
            (false, Some(_)) => {}
        }
    }

    /// How long Redis has been unreachable.
    fn down_for(&self) -> Duration {
        self.down_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|since| since.elapsed())
            .unwrap_or_default()
    }

    /// Whether `subject` (a client address, `ip:…`) was found over its API
    /// limit and its retry time has not come: the milliseconds left if so.
    pub fn over_limit(&self, subject: &str) -> Option<u64> {
        let now = now_ms();
        self.over_limit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(subject)
            .filter(|until| **until > now)
            .map(|until| until - now)
    }

    /// Decide one request of `class` for `subject` (user id or client IP).
    pub async fn check(&self, class: RouteClass, subject: &str) -> Result<Checked, Unavailable> {
        let checked = self.decide(class, subject).await?;
        // Only addresses are looked up before a token is checked.
        if class == RouteClass::Api && !checked.decision.allowed && subject.starts_with("ip:") {
            let until = now_ms() + checked.decision.retry_after_ms;
            self.over_limit
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(subject.to_owned(), until);
        }
        Ok(checked)
    }

    async fn decide(&self, class: RouteClass, subject: &str) -> Result<Checked, Unavailable> {
        let quota = self.quota(class);
        let key = format!("{}{}:{subject}", self.prefix, class.as_str());
        if self.redis_up() {
            match self.check_redis(&key, quota).await {
                Some(decision) => {
                    return Ok(Checked {
                        decision,
                        backend: Backend::Redis,
                        quota,
                    })
                }
                None => {
                    self.set_up(false);
                    tracing::warn!("redis unreachable; local rate limiter takes over");
                }
            }
        }
        let quota = match class {
            RouteClass::Api => quota,
            // Each instance counts alone now: a quarter of the quota keeps a
            // few instances together near it, and only for a while.
            RouteClass::Auth if auth_fallback_open(self.down_for(), self.auth_fallback) => {
                quota.quarter()
            }
            RouteClass::Auth => return Err(Unavailable),
        };
        Ok(Checked {
            decision: self.check_local(&key, quota),
            backend: Backend::Local,
            quota,
        })
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
                    self.set_up(true);
                    tracing::info!("redis reachable again; distributed rate limiting resumed");
                }
            }
            let now = now_ms();
            self.local
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, tat| *tat > now);
            self.over_limit
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, until| *until > now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_routes_fall_back_only_for_the_first_minutes_of_an_outage() {
        let five_minutes = Duration::from_secs(300);
        assert!(auth_fallback_open(Duration::ZERO, five_minutes));
        assert!(auth_fallback_open(Duration::from_secs(299), five_minutes));
        assert!(!auth_fallback_open(five_minutes, five_minutes));
        assert!(!auth_fallback_open(Duration::from_secs(3600), five_minutes));
        assert!(
            !auth_fallback_open(Duration::ZERO, Duration::ZERO),
            "0 turns the fallback off"
        );
    }
}

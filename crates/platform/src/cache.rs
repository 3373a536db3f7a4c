//! Redis: cache-aside storage and shared counters. Keys are
//! `<prefix><service>:<entity>:<id>` and never contain PHI.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// A Redis client for `url`: with `tls`, a `rediss://` server is verified
/// against the internal CA (the one place a Redis client is made).
pub fn client(
    url: &str,
    tls: Option<&std::sync::Arc<crate::tls::TlsIdentity>>,
) -> redis::RedisResult<redis::Client> {
    match tls {
        Some(identity) => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(identity.ca_pem().into_bytes()),
            },
        ),
        None => redis::Client::open(url),
    }
}

/// A Redis connection that reconnects by itself, plus this service's key prefix.
#[derive(Clone)]
pub struct Cache {
    conn: ConnectionManager,
    prefix: String,
}

impl Cache {
    /// Connect to `url` (`rediss://` verified against `tls`'s CA when given).
    pub async fn connect(
        url: &str,
        prefix: &str,
        service: &str,
        tls: Option<&std::sync::Arc<crate::tls::TlsIdentity>>,
    ) -> redis::RedisResult<Self> {
        let client = client(url, tls)?;
        // No connection retries: the manager's backoff starts at 1 s and grows to
        // 60 s, and every command waits on the reconnection in progress — so after
        // an outage the cache stayed unusable for up to a minute, each command
        // timing out meanwhile (event consumers fell behind by one timeout per
        // event). Without retries a failed reconnection fails the command at once
        // and the next command tries again: misses during the outage are quick,
        // and the first command after Redis returns reconnects.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(1))
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self {
            conn,
            prefix: format!("{prefix}{service}:"),
        })
    }

    /// The full key for an entity of this service.
    pub fn key(&self, entity: &str, id: &str) -> String {
        format!("{}{entity}:{id}", self.prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A connection handle (cheap to clone).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
    }
}

/// A Redis connection a service can start and run without. It connects when
/// Redis answers (a worker keeps trying after a failed start), and it can be
/// distrusted for a while — after an invalidation failed, entries written
/// before it may be stale, so reads and fills skip Redis until they expired.
#[derive(Clone)]
pub struct LazyCache {
    inner: std::sync::Arc<LazyInner>,
}

struct LazyInner {
    redis: std::sync::RwLock<Option<Cache>>,
    url: String,
    prefix: String,
    service: String,
    tls: Option<std::sync::Arc<crate::tls::TlsIdentity>>,
    distrust_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Why the cache cannot be used right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// Not connected (Redis was down at start and still is).
    Unavailable,
    /// An invalidation failed recently; entries may be stale.
    Distrusted,
}

impl Unusable {
    /// The `outcome` label for cache metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Unusable::Unavailable => "unavailable",
            Unusable::Distrusted => "bypass",
        }
    }
}

const LAZY_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const LAZY_RECONNECT_EVERY: Duration = Duration::from_secs(5);

impl LazyCache {
    /// Connect if Redis answers now; otherwise start without it (see [`Self::keep_connecting`]).
    pub async fn connect(common: &crate::config::CommonConfig) -> Self {
        Self::connect_secured(
            &common.redis_url,
            &common.redis_prefix,
            &common.service,
            common.tls.clone(),
        )
        .await
    }

    /// [`Self::connect`] for a process without the shared settings (the portal
    /// has no database or broker, only Redis), in plain text.
    pub async fn connect_to(url: &str, prefix: &str, service: &str) -> Self {
        Self::connect_secured(url, prefix, service, None).await
    }

    /// [`Self::connect_to`] over TLS verified against `tls`'s CA when given.
    pub async fn connect_secured(
        url: &str,
        prefix: &str,
        service: &str,
        tls: Option<std::sync::Arc<crate::tls::TlsIdentity>>,
    ) -> Self {
        let cache = Self {
            inner: std::sync::Arc::new(LazyInner {
                redis: std::sync::RwLock::new(None),
                url: url.to_owned(),
                prefix: prefix.to_owned(),
                service: service.to_owned(),
                tls,
                distrust_until: std::sync::Mutex::new(None),
            }),
        };
        cache.try_connect().await;
        cache
    }

    /// The Redis handle, once connected (it reconnects by itself after that).
    pub fn get(&self) -> Option<Cache> {
        self.inner.redis.read().ok().and_then(|r| r.clone())
    }

    async fn try_connect(&self) -> bool {
        let i = &self.inner;
        match tokio::time::timeout(
            LAZY_CONNECT_TIMEOUT,
            Cache::connect(&i.url, &i.prefix, &i.service, i.tls.as_ref()),
        )
        .await
        {
            Ok(Ok(cache)) => {
                if let Ok(mut slot) = i.redis.write() {
                    *slot = Some(cache);
                }
                true
            }
            Ok(Err(e)) => {
                tracing::warn!(service = %i.service, error = %e, "Redis unreachable; working without it until it answers");
                false
            }
            Err(_) => {
                tracing::warn!(service = %i.service, "Redis did not answer; working without it until it answers");
                false
            }
        }
    }

    /// Background worker: until connected (or cancelled), retry every few seconds.
    pub async fn keep_connecting(self, cancel: tokio_util::sync::CancellationToken) {
        while self.get().is_none() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(LAZY_RECONNECT_EVERY) => {}
            }
            if self.try_connect().await {
                tracing::info!(service = %self.inner.service, "Redis connected; cache in use");
            }
        }
    }

    /// Redis for reads and fills, unless not connected or distrusted.
    pub fn usable(&self) -> Result<Cache, Unusable> {
        let Ok(mut until) = self.inner.distrust_until.lock() else {
            return Err(Unusable::Distrusted);
        };
        match *until {
            Some(t) if std::time::Instant::now() < t => return Err(Unusable::Distrusted),
            Some(_) => *until = None,
            None => {}
        }
        drop(until);
        self.get().ok_or(Unusable::Unavailable)
    }

    /// Skip Redis for `period` (one entry TTL after a failed invalidation).
    pub fn distrust_for(&self, period: Duration) {
        if let Ok(mut until) = self.inner.distrust_until.lock() {
            *until = Some(std::time::Instant::now() + period);
        }
    }
}

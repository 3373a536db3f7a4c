//! Scheduling's settings.

use std::time::Duration;

use platform::config::{CommonConfig, ConfigError, Env};

pub const DEFAULT_PORT: u16 = 8083;

#[derive(Clone, Debug)]
pub struct Config {
    pub common: CommonConfig,
    /// How long a day's computed slots stay in Redis (events invalidate sooner).
    pub cache_ttl: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("scheduling"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::load(&mut env, DEFAULT_PORT);
        let cfg = Self {
            common,
            cache_ttl: Duration::from_secs(env.parsed("CACHE_TTL_SECONDS", 300)),
        };
        env.finish()?;
        Ok(cfg)
    }
}

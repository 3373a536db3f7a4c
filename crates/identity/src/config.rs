//! Identity's settings.

use std::{path::PathBuf, time::Duration};

use platform::config::{CommonConfig, ConfigError, Env};

pub const DEFAULT_PORT: u16 = 8081;

#[derive(Clone, Debug)]
pub struct Config {
    pub common: CommonConfig,
    /// Directory of Ed25519 PEM keys (`IDENTITY_SIGNING_KEYS_DIR`).
    pub signing_keys_dir: PathBuf,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Argon2 hashes allowed at once (each takes ≈19 MiB).
    pub hash_concurrency: usize,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("identity"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::load(&mut env, DEFAULT_PORT);
        let cfg = Self {
            common,
            signing_keys_dir: PathBuf::from(env.required("SIGNING_KEYS_DIR")),
            access_ttl: Duration::from_secs(env.parsed("ACCESS_TTL_SECONDS", 600)),
            refresh_ttl: Duration::from_secs(env.parsed("REFRESH_TTL_SECONDS", 30 * 24 * 3600)),
            hash_concurrency: env.parsed("HASH_CONCURRENCY", 4),
        };
        if cfg.access_ttl < Duration::from_secs(30) || cfg.access_ttl > Duration::from_secs(3600) {
            env.invalid("IDENTITY_ACCESS_TTL_SECONDS must be between 30 and 3600");
        }
        env.finish()?;
        Ok(cfg)
    }
}

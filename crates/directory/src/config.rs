//! The directory's settings.

use std::time::Duration;

use platform::{
    care::CarePolicy,
    config::{CommonConfig, ConfigError, Env},
};

pub const DEFAULT_PORT: u16 = 8082;

#[derive(Clone, Debug)]
pub struct Config {
    pub common: CommonConfig,
    /// How long a cached profile lives in Redis (`DIRECTORY_CACHE_TTL_SECONDS`).
    /// Writes delete it at once; the TTL bounds staleness when they cannot.
    pub cache_ttl: Duration,
    /// The care windows in which a provider reads a patient's summary
    /// (`CAREBOOK_CARE_OPENS_BEFORE_DAYS`, `CAREBOOK_CARE_FOLLOW_UP_DAYS`; the
    /// same settings records reads).
    pub care: CarePolicy,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("directory"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::load(&mut env, DEFAULT_PORT);
        let cfg = Self {
            common,
            cache_ttl: Duration::from_secs(env.parsed("CACHE_TTL_SECONDS", 300)),
            care: CarePolicy::load(&mut env),
        };
        if cfg.cache_ttl < Duration::from_secs(1) || cfg.cache_ttl > Duration::from_secs(3600) {
            env.invalid("DIRECTORY_CACHE_TTL_SECONDS must be between 1 and 3600");
        }
        env.finish()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Env {
        platform::testing::local_env("directory", extra)
    }

    #[test]
    fn defaults_to_port_8082_its_own_database_and_five_minute_cache() {
        let cfg = Config::load(env(&[])).unwrap();
        assert_eq!(cfg.common.bind.port(), 8082);
        assert!(cfg.common.database_url.ends_with("/carebook_directory"));
        assert_eq!(cfg.cache_ttl, Duration::from_secs(300));
        assert_eq!(cfg.care, CarePolicy::default());
    }

    #[test]
    fn care_windows_are_the_shared_care_settings() {
        let cfg = Config::load(env(&[
            ("CAREBOOK_CARE_OPENS_BEFORE_DAYS", "3"),
            ("CAREBOOK_CARE_FOLLOW_UP_DAYS", "30"),
        ]))
        .unwrap();
        assert_eq!(cfg.care.opens_before, chrono::Duration::days(3));
        assert_eq!(cfg.care.follow_up, chrono::Duration::days(30));
        let err = Config::load(env(&[("CAREBOOK_CARE_OPENS_BEFORE_DAYS", "31")])).unwrap_err();
        assert!(err.to_string().contains("CARE_OPENS_BEFORE_DAYS"));
    }

    #[test]
    fn cache_ttl_is_bounded() {
        let err = Config::load(env(&[("DIRECTORY_CACHE_TTL_SECONDS", "0")])).unwrap_err();
        assert!(err.to_string().contains("DIRECTORY_CACHE_TTL_SECONDS"));
    }
}

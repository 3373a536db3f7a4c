//! Billing's settings.

use std::time::Duration;

use platform::config::{CommonConfig, ConfigError, Env};

use crate::domain::totals::BASIS_POINTS;

pub const DEFAULT_PORT: u16 = 8085;

#[derive(Clone, Debug)]
pub struct Config {
    pub common: CommonConfig,
    /// How long a patient's balance stays in Redis (every change deletes it sooner).
    pub cache_ttl: Duration,
    /// Tax rate in basis points on invoices billing issues from appointment
    /// events (`BILLING_TAX_RATE_BP`, default 0: medical care is usually exempt).
    pub tax_rate_bp: u32,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("billing"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::load(&mut env, DEFAULT_PORT);
        let cfg = Self {
            common,
            cache_ttl: Duration::from_secs(env.parsed("CACHE_TTL_SECONDS", 300)),
            tax_rate_bp: env.parsed("TAX_RATE_BP", 0),
        };
        if cfg.cache_ttl.is_zero() {
            env.invalid("BILLING_CACHE_TTL_SECONDS must be at least 1");
        }
        if cfg.tax_rate_bp > BASIS_POINTS {
            env.invalid(format!(
                "BILLING_TAX_RATE_BP must be between 0 and {BASIS_POINTS} (basis points)"
            ));
        }
        env.finish()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Env {
        platform::testing::local_env("billing", extra)
    }

    #[test]
    fn defaults_name_the_billing_database_and_port() {
        let c = Config::load(env(&[])).unwrap();
        assert_eq!(c.common.bind.port(), 8085);
        assert!(c.common.database_url.ends_with("/carebook_billing"));
        assert_eq!(c.tax_rate_bp, 0);
        assert_eq!(c.cache_ttl, Duration::from_secs(300));
    }

    #[test]
    fn out_of_range_settings_are_reported() {
        let err = Config::load(env(&[
            ("BILLING_TAX_RATE_BP", "10001"),
            ("BILLING_CACHE_TTL_SECONDS", "0"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("BILLING_TAX_RATE_BP"), "{err}");
        assert!(err.contains("BILLING_CACHE_TTL_SECONDS"), "{err}");
    }
}

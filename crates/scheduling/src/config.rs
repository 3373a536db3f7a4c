//! Scheduling's settings.

use std::time::Duration;

use platform::config::{CommonConfig, ConfigError, Env};

use crate::domain::cancellation::FeeCap;

pub const DEFAULT_PORT: u16 = 8083;

#[derive(Clone, Debug)]
pub struct Config {
    pub common: CommonConfig,
    /// How long a day's computed slots stay in Redis (events invalidate sooner).
    pub cache_ttl: Duration,
    /// The clinic's ceiling on a type's late-cancellation and no-show fee, as a
    /// percentage of the type's price (`SCHEDULING_MAX_FEE_PERCENT`, default 50).
    pub max_fee: FeeCap,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("scheduling"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::load(&mut env, DEFAULT_PORT);
        let percent = env.parsed("MAX_FEE_PERCENT", FeeCap::DEFAULT.percent());
        let max_fee = FeeCap::new(percent).unwrap_or_else(|| {
            env.invalid(format!(
                "SCHEDULING_MAX_FEE_PERCENT={percent} is invalid: a percentage from 0 to 100"
            ));
            FeeCap::DEFAULT
        });
        let cfg = Self {
            common,
            cache_ttl: Duration::from_secs(env.parsed("CACHE_TTL_SECONDS", 300)),
            max_fee,
        };
        env.finish()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::local_env;

    #[test]
    fn the_fee_cap_defaults_to_half_the_price_and_must_be_a_percentage() {
        let config = Config::load(local_env("scheduling", &[])).unwrap();
        assert_eq!(config.max_fee.percent(), 50);
        let config = Config::load(local_env(
            "scheduling",
            &[("SCHEDULING_MAX_FEE_PERCENT", "20")],
        ))
        .unwrap();
        assert_eq!(config.max_fee.percent(), 20);
        for bad in ["101", "-5", "half"] {
            let err = Config::load(local_env(
                "scheduling",
                &[("SCHEDULING_MAX_FEE_PERCENT", bad)],
            ))
            .unwrap_err();
            assert!(
                err.0
                    .iter()
                    .any(|e| e.contains("SCHEDULING_MAX_FEE_PERCENT")),
                "{bad}: {err}"
            );
        }
    }
}

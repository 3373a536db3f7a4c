//! Scheduling's settings.

use std::time::Duration;

use platform::config::{CommonConfig, ConfigError, Env, TlsMode};

use crate::domain::{cancellation::FeeCap, holds::HoldPolicy, links::LinkKey};

pub const DEFAULT_PORT: u16 = 8083;

#[derive(Clone, Debug)]
pub struct Config {
    pub common: CommonConfig,
    /// How long a day's computed slots stay in Redis (events invalidate sooner).
    pub cache_ttl: Duration,
    /// The clinic's ceiling on a type's late-cancellation and no-show fee, as a
    /// percentage of the type's price (`SCHEDULING_MAX_FEE_PERCENT`, default 50).
    pub max_fee: FeeCap,
    /// How long a patient's hold (`SCHEDULING_HOLD_MINUTES`, 1–60, default 10)
    /// and a waitlist offer (`SCHEDULING_OFFER_MINUTES`, 1–1440, default 15) last.
    pub holds: HoldPolicy,
    /// The key self-service links are signed with (`SCHEDULING_LINK_KEY`,
    /// base64 of 32 random bytes; required when TLS is required, random per
    /// start otherwise). Debug-printing never shows it.
    pub link_key: LinkKey,
    /// How often the backfill worker looks for lapsed holds besides being
    /// woken by changes (`SCHEDULING_BACKFILL_POLL_MS`, default 1000).
    pub backfill_poll: Duration,
}

/// How to make a key, for the messages that ask for one.
const MAKE_A_KEY: &str = "generate one with `openssl rand -base64 32`";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("scheduling"))
    }

    /// The defaults on `common`, with a fresh link key: for tests and tools
    /// that build the service in-process.
    pub fn new(common: CommonConfig) -> Self {
        Self {
            common,
            cache_ttl: Duration::from_secs(300),
            max_fee: FeeCap::DEFAULT,
            holds: HoldPolicy::default(),
            link_key: LinkKey::generate(),
            backfill_poll: Duration::from_secs(1),
        }
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
        let hold_minutes: i64 = env.parsed("HOLD_MINUTES", HoldPolicy::DEFAULT_HOLD_MINUTES);
        if !(1..=60).contains(&hold_minutes) {
            env.invalid("SCHEDULING_HOLD_MINUTES must be between 1 and 60");
        }
        let offer_minutes: i64 = env.parsed("OFFER_MINUTES", HoldPolicy::DEFAULT_OFFER_MINUTES);
        if !(1..=1440).contains(&offer_minutes) {
            env.invalid("SCHEDULING_OFFER_MINUTES must be between 1 and 1440");
        }
        // Required unless TLS is explicitly off (as the TLS settings themselves).
        let tls_required =
            env.optional("TLS").and_then(|v| v.parse::<TlsMode>().ok()) != Some(TlsMode::Off);
        let link_key = match env.service_only("LINK_KEY") {
            Some(raw) => LinkKey::parse(&raw).unwrap_or_else(|_| {
                env.invalid(format!(
                    "SCHEDULING_LINK_KEY is invalid: not base64 of exactly 32 bytes ({MAKE_A_KEY})"
                ));
                LinkKey::generate()
            }),
            None if tls_required => {
                env.invalid(format!(
                    "SCHEDULING_LINK_KEY must be set when TLS is required: the key that signs the \
                     cancel and reschedule links in emails, the same on every replica ({MAKE_A_KEY})"
                ));
                LinkKey::generate()
            }
            None => {
                tracing::warn!(
                    "SCHEDULING_LINK_KEY is not set: links in emails are signed with a random key \
                     and stop working when this process restarts"
                );
                LinkKey::generate()
            }
        };
        let cfg = Self {
            common,
            cache_ttl: Duration::from_secs(env.parsed("CACHE_TTL_SECONDS", 300)),
            max_fee,
            holds: HoldPolicy {
                hold: chrono::Duration::minutes(hold_minutes),
                offer: chrono::Duration::minutes(offer_minutes),
            },
            link_key,
            backfill_poll: env.millis("BACKFILL_POLL_MS", Duration::from_secs(1)),
        };
        if cfg.backfill_poll < Duration::from_millis(50) {
            env.invalid("SCHEDULING_BACKFILL_POLL_MS must be at least 50");
        }
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

    #[test]
    fn holds_last_ten_minutes_and_offers_fifteen_unless_configured() {
        let config = Config::load(local_env("scheduling", &[])).unwrap();
        assert_eq!(config.holds, HoldPolicy::default());
        assert_eq!(config.holds.hold, chrono::Duration::minutes(10));
        assert_eq!(config.holds.offer, chrono::Duration::minutes(15));
        let config = Config::load(local_env(
            "scheduling",
            &[
                ("SCHEDULING_HOLD_MINUTES", "5"),
                ("SCHEDULING_OFFER_MINUTES", "60"),
            ],
        ))
        .unwrap();
        assert_eq!(config.holds.hold, chrono::Duration::minutes(5));
        assert_eq!(config.holds.offer, chrono::Duration::minutes(60));
        for (key, bad) in [
            ("SCHEDULING_HOLD_MINUTES", "0"),
            ("SCHEDULING_HOLD_MINUTES", "61"),
            ("SCHEDULING_OFFER_MINUTES", "soon"),
        ] {
            let err = Config::load(local_env("scheduling", &[(key, bad)])).unwrap_err();
            assert!(err.0.iter().any(|e| e.contains(key)), "{key}={bad}: {err}");
        }
    }

    #[test]
    fn the_link_key_must_be_32_bytes_of_base64_and_is_never_printed() {
        let key = "c2NoZWR1bGluZy1saW5rLWtleS1mb3ItdGVzdHMtMzI=";
        let config =
            Config::load(local_env("scheduling", &[("SCHEDULING_LINK_KEY", key)])).unwrap();
        assert!(!format!("{config:?}").contains(key));
        let err = Config::load(local_env(
            "scheduling",
            &[("SCHEDULING_LINK_KEY", "c2hvcnQ=")],
        ))
        .unwrap_err();
        assert!(
            err.0.iter().any(|e| e.contains("SCHEDULING_LINK_KEY")),
            "{err}"
        );
        // Without TLS (the local environment) a missing key is a random one…
        assert!(Config::load(local_env("scheduling", &[])).is_ok());
        // …with TLS required it must be given.
        let err =
            Config::load(local_env("scheduling", &[("CAREBOOK_TLS", "required")])).unwrap_err();
        assert!(
            err.0
                .iter()
                .any(|e| e.contains("SCHEDULING_LINK_KEY must be set")),
            "{err}"
        );
    }
}

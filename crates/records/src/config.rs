//! Records' settings.

use std::{path::PathBuf, time::Duration};

use platform::{
    care::CarePolicy,
    config::{CommonConfig, ConfigError, Env},
};

use crate::{
    domain::access::{
        DEFAULT_BREAK_GLASS_DAILY_LIMIT, DEFAULT_BREAK_GLASS_MINUTES, MAX_BREAK_GLASS_MINUTES,
        MIN_BREAK_GLASS_MINUTES,
    },
    keys::MasterKeys,
};

pub const DEFAULT_PORT: u16 = 8086;

/// A 20,000-character note in multi-byte characters, JSON-escaped, fits.
const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct Config {
    pub common: CommonConfig,
    /// `RECORDS_MASTER_KEYS` (`key_id:base64,…`, first current) or
    /// `RECORDS_MASTER_KEYS_DIR` (`<key_id>.key` files, last name current).
    /// Debug-printing shows key ids only.
    pub master_keys: MasterKeys,
    /// How long cached (encrypted) entries stay in Redis; writes invalidate sooner.
    pub cache_ttl: Duration,
    /// How long a break-glass grant lasts when the provider does not say
    /// (`RECORDS_BREAK_GLASS_MINUTES`, 5–240, default 30).
    pub break_glass: chrono::Duration,
    /// Break-glass grants per provider per rolling 24 hours
    /// (`RECORDS_BREAK_GLASS_DAILY_LIMIT`, 1–20, default 3).
    pub break_glass_daily_limit: u32,
    /// When appointments open and close care windows (`CAREBOOK_CARE_*`).
    pub care: CarePolicy,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("records"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let mut common = CommonConfig::load(&mut env, DEFAULT_PORT);
        if env.optional("MAX_BODY_BYTES").is_none() {
            common.max_body_bytes = DEFAULT_MAX_BODY_BYTES;
        }
        let master_keys = match (
            env.service_only("MASTER_KEYS"),
            env.service_only("MASTER_KEYS_DIR"),
        ) {
            (Some(spec), None) => MasterKeys::parse(&spec)
                .map_err(|e| env.invalid(format!("RECORDS_MASTER_KEYS is invalid: {e}")))
                .ok(),
            (None, Some(dir)) => MasterKeys::from_dir(&PathBuf::from(dir))
                .map_err(|e| env.invalid(format!("RECORDS_MASTER_KEYS_DIR is invalid: {e}")))
                .ok(),
            (Some(_), Some(_)) => {
                env.invalid("set RECORDS_MASTER_KEYS or RECORDS_MASTER_KEYS_DIR, not both");
                None
            }
            (None, None) => {
                env.invalid("RECORDS_MASTER_KEYS or RECORDS_MASTER_KEYS_DIR must be set (generate a key with `carebook keys generate-records`)");
                None
            }
        };
        let cache_ttl = Duration::from_secs(env.parsed("CACHE_TTL_SECONDS", 300));
        let minutes: i64 = env.parsed("BREAK_GLASS_MINUTES", DEFAULT_BREAK_GLASS_MINUTES);
        if !(MIN_BREAK_GLASS_MINUTES..=MAX_BREAK_GLASS_MINUTES).contains(&minutes) {
            env.invalid(format!(
                "RECORDS_BREAK_GLASS_MINUTES must be between {MIN_BREAK_GLASS_MINUTES} and {MAX_BREAK_GLASS_MINUTES}"
            ));
        }
        let daily_limit: u32 =
            env.parsed("BREAK_GLASS_DAILY_LIMIT", DEFAULT_BREAK_GLASS_DAILY_LIMIT);
        if !(1..=20).contains(&daily_limit) {
            env.invalid("RECORDS_BREAK_GLASS_DAILY_LIMIT must be between 1 and 20");
        }
        let care = CarePolicy::load(&mut env);
        if cache_ttl.is_zero() {
            env.invalid("RECORDS_CACHE_TTL_SECONDS must be at least 1");
        }
        env.finish()?;
        Ok(Self {
            common,
            master_keys: master_keys
                .ok_or_else(|| ConfigError(vec!["RECORDS_MASTER_KEYS is invalid".to_owned()]))?,
            cache_ttl,
            break_glass: chrono::Duration::minutes(minutes),
            break_glass_daily_limit: daily_limit,
            care,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::STANDARD, Engine};

    fn env(extra: &[(&str, &str)]) -> Env {
        platform::testing::local_env("records", extra)
    }

    #[test]
    fn master_keys_come_from_the_service_setting() {
        let key = format!("k1:{}", STANDARD.encode([7u8; 32]));
        let cfg = Config::load(env(&[("RECORDS_MASTER_KEYS", &key)])).unwrap();
        assert_eq!(cfg.common.bind.port(), 8086);
        assert_eq!(
            cfg.common.database_url,
            "postgres://postgres@127.0.0.1:5432/carebook_records"
        );
        assert_eq!(cfg.break_glass, chrono::Duration::minutes(30));
        assert_eq!(cfg.break_glass_daily_limit, 3);
        assert_eq!(cfg.care, CarePolicy::default());
        assert_eq!(cfg.common.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert!(!format!("{cfg:?}").contains(&STANDARD.encode([7u8; 32])));
    }

    #[test]
    fn missing_or_bad_keys_are_reported_without_the_material() {
        let err = Config::load(env(&[])).unwrap_err().to_string();
        assert!(err.contains("RECORDS_MASTER_KEYS"), "{err}");
        let err = Config::load(env(&[("RECORDS_MASTER_KEYS", "k1:c2VjcmV0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("RECORDS_MASTER_KEYS is invalid"), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
        // A shared CAREBOOK_ value never supplies keys.
        let key = format!("k1:{}", STANDARD.encode([7u8; 32]));
        assert!(Config::load(env(&[("CAREBOOK_MASTER_KEYS", &key)])).is_err());
        let err = Config::load(env(&[
            ("RECORDS_MASTER_KEYS", &key),
            ("RECORDS_BREAK_GLASS_MINUTES", "0"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("BREAK_GLASS_MINUTES"), "{err}");
    }

    #[test]
    fn break_glass_and_care_windows_are_configurable_within_bounds() {
        let key = format!("k1:{}", STANDARD.encode([7u8; 32]));
        let cfg = Config::load(env(&[
            ("RECORDS_MASTER_KEYS", &key),
            ("RECORDS_BREAK_GLASS_MINUTES", "240"),
            ("RECORDS_BREAK_GLASS_DAILY_LIMIT", "5"),
            ("CAREBOOK_CARE_FOLLOW_UP_DAYS", "30"),
        ]))
        .unwrap();
        assert_eq!(cfg.break_glass, chrono::Duration::hours(4));
        assert_eq!(cfg.break_glass_daily_limit, 5);
        assert_eq!(cfg.care.follow_up, chrono::Duration::days(30));
        for (name, value) in [
            ("RECORDS_BREAK_GLASS_MINUTES", "241"),
            ("RECORDS_BREAK_GLASS_MINUTES", "4"),
            ("RECORDS_BREAK_GLASS_DAILY_LIMIT", "0"),
            ("CAREBOOK_CARE_OPENS_BEFORE_DAYS", "31"),
        ] {
            let err = Config::load(env(&[("RECORDS_MASTER_KEYS", &key), (name, value)]))
                .unwrap_err()
                .to_string();
            let setting = name.split_once('_').unwrap().1;
            assert!(err.contains(setting), "{name}: {err}");
        }
    }
}

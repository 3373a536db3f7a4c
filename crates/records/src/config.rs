//! Records' settings.

use std::{path::PathBuf, time::Duration};

use platform::config::{CommonConfig, ConfigError, Env};

use crate::keys::MasterKeys;

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
    /// How long a break-glass grant lasts.
    pub break_glass: chrono::Duration,
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
        let minutes: i64 = env.parsed("BREAK_GLASS_MINUTES", 60);
        if !(1..=24 * 60).contains(&minutes) {
            env.invalid("RECORDS_BREAK_GLASS_MINUTES must be between 1 and 1440");
        }
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
        assert_eq!(cfg.break_glass, chrono::Duration::minutes(60));
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
}

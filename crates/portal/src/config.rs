//! The portal's settings (`PORTAL_*`, falling back to `CAREBOOK_*`).

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use platform::{
    config::{load_tls, ConfigError, Env},
    tls::TlsIdentity,
};

use crate::session::{seal::InvalidKey, SessionKeys};

pub const DEFAULT_PORT: u16 = 8087;

#[derive(Clone, Debug)]
pub struct Config {
    pub bind: SocketAddr,
    /// Where the public API is: the gateway (`PORTAL_API_URL`). The portal
    /// reaches every service through it, like any other client.
    pub api_url: String,
    /// Sessions live in Redis (`PORTAL_REDIS_URL` / `CAREBOOK_REDIS_URL`).
    pub redis_url: String,
    pub redis_prefix: String,
    /// Where `htmx.min.js` is (`PORTAL_HTMX_DIR`; default the npm package in `tools/`).
    pub htmx_dir: PathBuf,
    /// Mark the session cookie `Secure` (`PORTAL_SECURE_COOKIES=true`): set it
    /// whenever browsers reach the gateway over HTTPS.
    pub secure_cookies: bool,
    /// A session ends after this long without a request (`PORTAL_SESSION_IDLE_MINUTES`).
    pub session_idle: Duration,
    /// …and after this long in any case (`PORTAL_SESSION_MAX_HOURS`).
    pub session_max: Duration,
    /// Per API call (`PORTAL_API_TIMEOUT_MS`).
    pub api_timeout: Duration,
    /// Largest form body accepted (`PORTAL_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// What sessions are encrypted under in Redis: `PORTAL_SESSION_KEY` (base64
    /// of 32 random bytes; required), plus `PORTAL_SESSION_KEYS_OLD`
    /// (comma-separated, read-only, during a rotation). Only the portal's own
    /// variables supply them, never a shared `CAREBOOK_` one. Debug output
    /// shows no key material.
    pub session_keys: SessionKeys,
    /// The portal's TLS identity (`CAREBOOK_TLS`, see `platform::config::load_tls`):
    /// it serves the gateway over mTLS, calls the gateway's internal listener
    /// with its certificate, and reaches Redis over TLS. `None` when TLS is off.
    pub tls: Option<Arc<TlsIdentity>>,
}

/// How to make a session key, for the error that says one is missing.
const MAKE_A_KEY: &str = "make one with `head -c32 /dev/urandom | base64`";

/// The session keys, or the problem with them (never echoing material).
fn session_keys(env: &mut Env) -> Option<SessionKeys> {
    let Some(current) = env.service_only("SESSION_KEY") else {
        env.invalid(format!(
            "PORTAL_SESSION_KEY must be set to base64 of 32 random bytes ({MAKE_A_KEY})"
        ));
        return None;
    };
    let old = env.service_only("SESSION_KEYS_OLD").unwrap_or_default();
    SessionKeys::parse(&current, &old)
        .map_err(|e| {
            env.invalid(match e {
                InvalidKey::Current => format!(
                    "PORTAL_SESSION_KEY is invalid: not base64 of exactly 32 bytes ({MAKE_A_KEY})"
                ),
                InvalidKey::Old(n) => format!(
                    "PORTAL_SESSION_KEYS_OLD is invalid: entry {n} is not base64 of exactly 32 bytes"
                ),
            })
        })
        .ok()
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("portal"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let tls = load_tls(&mut env);
        // With TLS the portal goes through the gateway's internal listener
        // (mTLS), never its public plain-HTTP port.
        let api_url = env.api_url(tls.is_some());
        let bind = env.parsed("BIND", SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)));
        let redis_url = env.required("REDIS_URL");
        if tls.is_some() && !redis_url.is_empty() && !redis_url.starts_with("rediss://") {
            env.invalid("PORTAL_REDIS_URL must be rediss:// when TLS is required");
        }
        let redis_prefix = env.parsed("REDIS_PREFIX", "carebook:".to_owned());
        let htmx_dir = PathBuf::from(
            env.optional("HTMX_DIR")
                .unwrap_or_else(|| "tools/node_modules/htmx.org/dist".to_owned()),
        );
        let secure_cookies = env.parsed("SECURE_COOKIES", false);
        let session_idle = Duration::from_secs(60 * env.parsed("SESSION_IDLE_MINUTES", 30u64));
        let session_max = Duration::from_secs(3600 * env.parsed("SESSION_MAX_HOURS", 12u64));
        let api_timeout = env.millis("API_TIMEOUT_MS", Duration::from_secs(10));
        let max_body_bytes = env.parsed("MAX_BODY_BYTES", 64 * 1024);
        let session_keys = session_keys(&mut env);
        if session_idle < Duration::from_secs(60) || session_idle > session_max {
            env.invalid(
                "PORTAL_SESSION_IDLE_MINUTES must be at least 1 and at most PORTAL_SESSION_MAX_HOURS",
            );
        }
        if max_body_bytes < 1024 {
            env.invalid("PORTAL_MAX_BODY_BYTES must be at least 1024");
        }
        env.finish()?;
        // `session_keys` reported its own problem, so `finish` failed without it.
        let session_keys = session_keys
            .ok_or_else(|| ConfigError(vec!["PORTAL_SESSION_KEY is invalid".to_owned()]))?;
        Ok(Self {
            bind,
            api_url,
            redis_url,
            redis_prefix,
            htmx_dir,
            secure_cookies,
            session_idle,
            session_max,
            api_timeout,
            max_body_bytes,
            session_keys,
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key of zeros in base64: tests only.
    const TEST_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    /// The local defaults with a session key; `extra` may override it.
    fn env(extra: &[(&str, &str)]) -> Env {
        let mut vars = vec![("PORTAL_SESSION_KEY", TEST_KEY)];
        vars.extend_from_slice(extra);
        platform::testing::local_env("portal", &vars)
    }

    #[test]
    fn defaults_to_port_8087_the_local_gateway_and_plain_cookies() {
        let cfg = Config::load(env(&[])).unwrap();
        assert_eq!(cfg.bind.port(), 8087);
        assert_eq!(cfg.api_url, "http://127.0.0.1:8080");
        assert!(!cfg.secure_cookies);
        assert_eq!(cfg.session_idle, Duration::from_secs(30 * 60));
        assert!(cfg.htmx_dir.ends_with("htmx.org/dist"));
    }

    #[test]
    fn bad_values_are_reported_together() {
        let err = Config::load(env(&[
            ("PORTAL_API_URL", "ftp://gateway"),
            ("PORTAL_SESSION_IDLE_MINUTES", "0"),
            ("PORTAL_SECURE_COOKIES", "maybe"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("PORTAL_API_URL"), "{err}");
        assert!(err.contains("PORTAL_SESSION_IDLE_MINUTES"), "{err}");
        assert!(err.contains("PORTAL_SECURE_COOKIES"), "{err}");
    }

    #[test]
    fn a_trailing_slash_on_the_api_url_is_dropped() {
        let cfg = Config::load(env(&[("PORTAL_API_URL", "https://api.example.test/")])).unwrap();
        assert_eq!(cfg.api_url, "https://api.example.test");
    }

    #[test]
    fn the_portal_refuses_to_start_without_a_session_key_and_says_how_to_make_one() {
        let err = Config::load(platform::testing::local_env("portal", &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("PORTAL_SESSION_KEY must be set"), "{err}");
        assert!(err.contains("head -c32 /dev/urandom | base64"), "{err}");
        // A shared CAREBOOK_ value never supplies it.
        let err = Config::load(platform::testing::local_env(
            "portal",
            &[("CAREBOOK_SESSION_KEY", TEST_KEY)],
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("PORTAL_SESSION_KEY must be set"), "{err}");
    }

    #[test]
    fn bad_session_keys_are_reported_without_their_material() {
        let err = Config::load(env(&[("PORTAL_SESSION_KEY", "c2VjcmV0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("PORTAL_SESSION_KEY is invalid"), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
        let err = Config::load(env(&[(
            "PORTAL_SESSION_KEYS_OLD",
            &format!("{TEST_KEY},c2VjcmV0"),
        )]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("PORTAL_SESSION_KEYS_OLD is invalid: entry 2"),
            "{err}"
        );
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }

    #[test]
    fn old_session_keys_are_kept_for_reading_and_never_printed() {
        let old = SessionKeys::generate();
        let cfg = Config::load(env(&[(
            "PORTAL_SESSION_KEYS_OLD",
            &format!("{old}, {old}"),
        )]))
        .unwrap();
        assert_eq!(cfg.session_keys.old_count(), 2);
        let printed = format!("{cfg:?}");
        assert!(!printed.contains(&old), "{printed}");
        assert!(!printed.contains(TEST_KEY), "{printed}");
    }
}

//! The portal's settings (`PORTAL_*`, falling back to `CAREBOOK_*`).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use platform::config::{ConfigError, Env};

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
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("portal"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let api_url = env
            .parsed("API_URL", "http://127.0.0.1:8080".to_owned())
            .trim_end_matches('/')
            .to_owned();
        if !(api_url.starts_with("http://") || api_url.starts_with("https://"))
            || reqwest::Url::parse(&api_url).is_err()
        {
            env.invalid(format!("PORTAL_API_URL: {api_url:?} is not an http(s) URL"));
        }
        let cfg = Self {
            bind: env.parsed("BIND", SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT))),
            api_url,
            redis_url: env.required("REDIS_URL"),
            redis_prefix: env.parsed("REDIS_PREFIX", "carebook:".to_owned()),
            htmx_dir: PathBuf::from(
                env.optional("HTMX_DIR")
                    .unwrap_or_else(|| "tools/node_modules/htmx.org/dist".to_owned()),
            ),
            secure_cookies: env.parsed("SECURE_COOKIES", false),
            session_idle: Duration::from_secs(60 * env.parsed("SESSION_IDLE_MINUTES", 30u64)),
            session_max: Duration::from_secs(3600 * env.parsed("SESSION_MAX_HOURS", 12u64)),
            api_timeout: env.millis("API_TIMEOUT_MS", Duration::from_secs(10)),
            max_body_bytes: env.parsed("MAX_BODY_BYTES", 64 * 1024),
        };
        if cfg.session_idle < Duration::from_secs(60) || cfg.session_idle > cfg.session_max {
            env.invalid(
                "PORTAL_SESSION_IDLE_MINUTES must be at least 1 and at most PORTAL_SESSION_MAX_HOURS",
            );
        }
        if cfg.max_body_bytes < 1024 {
            env.invalid("PORTAL_MAX_BODY_BYTES must be at least 1024");
        }
        env.finish()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Env {
        platform::testing::local_env("portal", extra)
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
}

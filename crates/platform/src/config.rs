//! Typed settings read from the environment once, at start.
//!
//! Every service reads `<SERVICE>_<KEY>` first, then the shared `CAREBOOK_<KEY>`,
//! so one process running all services (`carebook serve all`) and one container
//! per service use the same names. All problems are collected and reported
//! together, so an operator fixes a bad deployment in one pass.

use std::{collections::HashMap, fmt, net::SocketAddr, str::FromStr, time::Duration};

/// Where settings come from: the process environment, or a map in tests.
pub struct Env {
    service: String,
    vars: HashMap<String, String>,
    errors: Vec<String>,
}

/// Every invalid or missing setting found while loading a configuration.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl Env {
    /// Settings for `service` from the process environment.
    pub fn for_service(service: &str) -> Self {
        Self::from_map(service, std::env::vars().collect())
    }

    /// Settings for `service` from an explicit map (tests, tools).
    pub fn from_map(service: &str, vars: HashMap<String, String>) -> Self {
        Self {
            service: service.to_owned(),
            vars,
            errors: Vec::new(),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    fn keys(&self, key: &str) -> [String; 2] {
        [
            format!("{}_{key}", self.service.to_uppercase()),
            format!("CAREBOOK_{key}"),
        ]
    }

    /// The raw value of `key` and the variable it came from, if set and not empty.
    fn lookup(&self, key: &str) -> Option<(String, String)> {
        self.keys(key).into_iter().find_map(|name| {
            self.vars
                .get(&name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name.clone(), v.trim().to_owned()))
        })
    }

    /// A required string setting.
    pub fn required(&mut self, key: &str) -> String {
        match self.lookup(key) {
            Some((_, v)) => v,
            None => {
                let [own, shared] = self.keys(key);
                self.errors.push(format!("{own} or {shared} must be set"));
                String::new()
            }
        }
    }

    /// An optional string setting.
    pub fn optional(&self, key: &str) -> Option<String> {
        self.lookup(key).map(|(_, v)| v)
    }

    /// A setting only the service itself can carry (`<SERVICE>_<KEY>`).
    pub fn service_only(&self, key: &str) -> Option<String> {
        let [own, _] = self.keys(key);
        self.vars
            .get(&own)
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.trim().to_owned())
    }

    /// The service's own database: `<SERVICE>_DATABASE_URL`, or `carebook_<service>`
    /// on the shared server `CAREBOOK_POSTGRES_URL`.
    pub fn database_url(&mut self) -> String {
        match self.service_only("DATABASE_URL") {
            Some(url) => url,
            None => {
                let server = self.required("POSTGRES_URL");
                format!("{}/carebook_{}", server.trim_end_matches('/'), self.service)
            }
        }
    }

    /// A setting parsed with `FromStr`, `default` when unset.
    pub fn parsed<T>(&mut self, key: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.lookup(key) {
            None => default,
            Some((name, raw)) => match raw.parse() {
                Ok(v) => v,
                Err(e) => {
                    self.errors.push(format!("{name}={raw:?} is invalid: {e}"));
                    default
                }
            },
        }
    }

    /// A duration given in milliseconds.
    pub fn millis(&mut self, key: &str, default: Duration) -> Duration {
        Duration::from_millis(self.parsed(key, default.as_millis() as u64))
    }

    /// Record a problem found while validating values together.
    pub fn invalid(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    /// Ok when every setting read so far was valid.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(self.errors))
        }
    }
}

/// Settings every service has: where it listens and how it reaches its backing services.
#[derive(Clone, Debug)]
pub struct CommonConfig {
    /// Short service name (`identity`, `scheduling`, …); names its database and queues.
    pub service: String,
    pub bind: SocketAddr,
    /// Full URL of this service's own database.
    pub database_url: String,
    pub database_max_connections: u32,
    pub redis_url: String,
    /// Prefix of every Redis key this service writes (`carebook:` in production).
    pub redis_prefix: String,
    pub amqp_url: String,
    /// The topic exchange domain events are published to.
    pub events_exchange: String,
    /// Prefix of every queue this service declares.
    pub queue_prefix: String,
    pub auth: AuthConfig,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub outbox_poll_interval: Duration,
}

/// How access tokens are checked.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Where the identity service publishes its public keys.
    pub jwks_url: String,
    pub issuer: String,
    pub audience: String,
}

pub const DEFAULT_ISSUER: &str = "carebook-identity";
pub const DEFAULT_AUDIENCE: &str = "carebook";

impl CommonConfig {
    /// Read the shared settings; `default_port` is the service's conventional port.
    pub fn load(env: &mut Env, default_port: u16) -> Self {
        let service = env.service().to_owned();
        let bind = env.parsed("BIND", SocketAddr::from(([127, 0, 0, 1], default_port)));
        let database_url = env.database_url();
        let cfg = Self {
            bind,
            database_url,
            database_max_connections: env.parsed("DATABASE_MAX_CONNECTIONS", 10),
            redis_url: env.required("REDIS_URL"),
            redis_prefix: env.parsed("REDIS_PREFIX", "carebook:".to_owned()),
            amqp_url: env.required("AMQP_URL"),
            events_exchange: env.parsed("EVENTS_EXCHANGE", "carebook.events".to_owned()),
            queue_prefix: env.parsed("QUEUE_PREFIX", "carebook".to_owned()),
            auth: AuthConfig {
                jwks_url: env.required("JWKS_URL"),
                issuer: env.parsed("JWT_ISSUER", DEFAULT_ISSUER.to_owned()),
                audience: env.parsed("JWT_AUDIENCE", DEFAULT_AUDIENCE.to_owned()),
            },
            max_body_bytes: env.parsed("MAX_BODY_BYTES", 64 * 1024),
            request_timeout: env.millis("REQUEST_TIMEOUT_MS", Duration::from_secs(10)),
            outbox_poll_interval: env.millis("OUTBOX_POLL_MS", Duration::from_millis(250)),
            service,
        };
        if cfg.database_max_connections == 0 {
            env.invalid("DATABASE_MAX_CONNECTIONS must be at least 1");
        }
        if cfg.max_body_bytes < 1024 {
            env.invalid("MAX_BODY_BYTES must be at least 1024");
        }
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(
            "identity",
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    const BASE: [(&str, &str); 4] = [
        (
            "CAREBOOK_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/",
        ),
        ("CAREBOOK_REDIS_URL", "redis://127.0.0.1:6379"),
        ("CAREBOOK_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
        (
            "CAREBOOK_JWKS_URL",
            "http://127.0.0.1:8081/.well-known/jwks.json",
        ),
    ];

    #[test]
    fn service_database_is_named_after_the_service() {
        let mut e = env(&BASE);
        let cfg = CommonConfig::load(&mut e, 8081);
        e.finish().unwrap();
        assert_eq!(
            cfg.database_url,
            "postgres://postgres@127.0.0.1:5432/carebook_identity"
        );
        assert_eq!(cfg.bind.port(), 8081);
    }

    #[test]
    fn service_specific_value_wins_over_shared_one() {
        let mut pairs = BASE.to_vec();
        pairs.push(("IDENTITY_BIND", "0.0.0.0:9000"));
        pairs.push(("CAREBOOK_BIND", "127.0.0.1:1"));
        let mut e = env(&pairs);
        let cfg = CommonConfig::load(&mut e, 8081);
        e.finish().unwrap();
        assert_eq!(cfg.bind, "0.0.0.0:9000".parse().unwrap());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut e = env(&[("CAREBOOK_BIND", "not-an-address")]);
        CommonConfig::load(&mut e, 8081);
        let err = e.finish().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("CAREBOOK_BIND=\"not-an-address\" is invalid"),
            "{text}"
        );
        assert!(text.contains("IDENTITY_POSTGRES_URL or CAREBOOK_POSTGRES_URL must be set"));
        assert!(text.contains("REDIS_URL"));
        assert!(text.contains("AMQP_URL"));
        assert_eq!(err.0.len(), 5, "{text}");
    }
}

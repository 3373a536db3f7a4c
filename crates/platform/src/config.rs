//! Typed settings read from the environment once, at start.
//!
//! Every service reads `<SERVICE>_<KEY>` first, then the shared `CAREBOOK_<KEY>`,
//! so one process running all services (`carebook serve all`) and one container
//! per service use the same names. All problems are collected and reported
//! together, so an operator fixes a bad deployment in one pass.

use std::{
    collections::HashMap, fmt, net::SocketAddr, path::PathBuf, str::FromStr, sync::Arc,
    time::Duration,
};

use crate::tls::{TlsFiles, TlsIdentity};

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

    /// Where a client of the public API reaches it (`<SERVICE>_API_URL`): the
    /// gateway's internal listener over mTLS (`https://127.0.0.1:8443` by
    /// default) when `tls`, its public port (`http://127.0.0.1:8080`)
    /// otherwise; an `http://` URL with TLS required is refused.
    pub fn api_url(&mut self, tls: bool) -> String {
        let default = if tls {
            "https://127.0.0.1:8443"
        } else {
            "http://127.0.0.1:8080"
        };
        let url = self
            .parsed("API_URL", default.to_owned())
            .trim_end_matches('/')
            .to_owned();
        let name = format!("{}_API_URL", self.service.to_uppercase());
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || reqwest::Url::parse(&url).is_err()
        {
            self.invalid(format!("{name}: {url:?} is not an http(s) URL"));
        } else if tls && !url.starts_with("https://") {
            self.invalid(format!(
                "{name} must be https:// (the gateway's internal listener) when TLS is required"
            ));
        }
        url
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

/// Whether internal connections must be encrypted (`CAREBOOK_TLS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// The default: every hop TLS with verification, mTLS between our processes.
    Required,
    /// Plain text everywhere; for a developer who knows why. Logged loudly at start.
    Off,
}

impl FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "required" => Ok(TlsMode::Required),
            "off" => Ok(TlsMode::Off),
            other => Err(format!("{other:?} is not one of required, off")),
        }
    }
}

/// Which broker user publishes each service's events. RabbitMQ checks an
/// event's `user-id` against the user of the connection that published it, so
/// a consumer that knows the producer's user knows who really sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventPublishers {
    /// Each service publishes as its own user `<prefix><service>` (least privilege).
    PerService { prefix: String },
    /// Every service publishes as this one user (tests on a shared broker).
    Shared(String),
}

impl EventPublishers {
    /// The broker user that publishes `producer`'s events.
    pub fn user_of(&self, producer: contracts::Service) -> String {
        match self {
            EventPublishers::PerService { prefix } => format!("{prefix}{}", producer.as_str()),
            EventPublishers::Shared(user) => user.clone(),
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
    /// Retry delays, retention of processed events and idempotency keys, the
    /// outbox relay's lease (`platform::events::EventSettings`).
    pub events: crate::events::EventSettings,
    /// This service's certificate, key and the internal CA; `None` only when
    /// `CAREBOOK_TLS=off` (or in tests on the shared plaintext servers).
    pub tls: Option<Arc<TlsIdentity>>,
    pub event_publishers: EventPublishers,
}

/// How access tokens are checked.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Where the identity service publishes its public keys.
    pub jwks_url: String,
    pub issuer: String,
    pub audience: String,
    /// How the JWKS is fetched: the CA to trust and the client certificate to
    /// show identity (its API port asks every client for one).
    pub tls: Option<Arc<TlsIdentity>>,
    /// Where disabled accounts are listed (`None`: tokens live until they expire).
    pub revocations: Option<crate::auth::RevocationSource>,
    /// When the JWKS is fetched and how long a token check waits for it
    /// (`JWKS_REFRESH_SECONDS`, `JWKS_WAIT_MS`).
    pub jwks: crate::auth::JwksPolicy,
}

impl AuthConfig {
    /// Read the token settings (shared by the services and the gateway).
    pub fn load(env: &mut Env, tls: Option<Arc<TlsIdentity>>) -> Self {
        let jwks_url = env.required("JWKS_URL");
        if tls.is_some() && !jwks_url.is_empty() && !jwks_url.starts_with("https://") {
            env.invalid(format!(
                "JWKS_URL must be https:// when TLS is required (got {})",
                scheme_of(&jwks_url)
            ));
        }
        // Identity lists disabled accounts in its part of the shared Redis.
        let revocations =
            env.optional("REDIS_URL")
                .map(|redis_url| crate::auth::RevocationSource {
                    redis_url,
                    key: crate::auth::RevocationSource::key_for(
                        &env.optional("REDIS_PREFIX")
                            .unwrap_or_else(|| "carebook:".to_owned()),
                    ),
                    tls: tls.clone(),
                });
        Self {
            jwks_url,
            issuer: env.parsed("JWT_ISSUER", DEFAULT_ISSUER.to_owned()),
            audience: env.parsed("JWT_AUDIENCE", DEFAULT_AUDIENCE.to_owned()),
            tls,
            revocations,
            jwks: crate::auth::JwksPolicy::load(env),
        }
    }
}

/// `CAREBOOK_TLS` and the files of this service's TLS identity:
/// `<SERVICE>_TLS_CERT_FILE`, `<SERVICE>_TLS_KEY_FILE` and `CAREBOOK_TLS_CA_FILE`,
/// or else the development layout in `CAREBOOK_TLS_DIR` (`ca.pem`,
/// `<service>.pem`, `<service>-key.pem`, as `carebook certs generate` writes).
/// `None` when TLS is off; a config error when it is required and unusable.
pub fn load_tls(env: &mut Env) -> Option<Arc<TlsIdentity>> {
    if env.parsed("TLS", TlsMode::Required) == TlsMode::Off {
        return None;
    }
    let service = env.service().to_owned();
    let dir = env.optional("TLS_DIR").map(PathBuf::from);
    let from_dir = dir.as_ref().map(|d| TlsFiles::in_dir(d, &service));
    let pick = |env: &Env, key: &str, fallback: Option<&PathBuf>| {
        env.optional(key)
            .map(PathBuf::from)
            .or_else(|| fallback.cloned())
    };
    let files = (
        pick(env, "TLS_CA_FILE", from_dir.as_ref().map(|f| &f.ca)),
        pick(env, "TLS_CERT_FILE", from_dir.as_ref().map(|f| &f.cert)),
        pick(env, "TLS_KEY_FILE", from_dir.as_ref().map(|f| &f.key)),
    );
    let (Some(ca), Some(cert), Some(key)) = files else {
        let own = service.to_uppercase();
        env.invalid(format!(
            "TLS is required: set CAREBOOK_TLS_DIR (see `carebook certs generate`), or \
             {own}_TLS_CERT_FILE, {own}_TLS_KEY_FILE and CAREBOOK_TLS_CA_FILE; \
             CAREBOOK_TLS=off turns encryption off"
        ));
        return None;
    };
    match TlsIdentity::load(TlsFiles { ca, cert, key }) {
        Ok(identity) => Some(identity),
        Err(e) => {
            env.invalid(format!("TLS: {e}"));
            None
        }
    }
}

/// The scheme of a URL, for messages that must not repeat the URL (it may
/// hold a password).
fn scheme_of(url: &str) -> &str {
    url.split_once("://").map_or("no scheme", |(s, _)| s)
}

/// A PostgreSQL URL made to require TLS with full verification: without an
/// `sslmode` it gets `sslmode=verify-full` and the CA as `sslrootcert`; an
/// explicit weaker mode is refused. The error never repeats the URL.
pub fn verified_postgres_url(url: &str, ca: &std::path::Path) -> Result<String, String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    match params.iter().find(|(k, _)| k == "sslmode") {
        Some((_, mode)) if mode == "verify-full" => {}
        Some((_, mode)) => {
            return Err(format!(
                "sslmode={mode} does not verify the server; TLS requires sslmode=verify-full"
            ))
        }
        None => params.push(("sslmode".into(), "verify-full".into())),
    }
    if !params.iter().any(|(k, _)| k == "sslrootcert") {
        params.push(("sslrootcert".into(), ca.display().to_string()));
    }
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(format!("{base}?{}", query.join("&")))
}

pub const DEFAULT_ISSUER: &str = "carebook-identity";
pub const DEFAULT_AUDIENCE: &str = "carebook";

impl CommonConfig {
    /// Read the shared settings; `default_port` is the service's conventional port.
    pub fn load(env: &mut Env, default_port: u16) -> Self {
        let service = env.service().to_owned();
        let bind = env.parsed("BIND", SocketAddr::from(([127, 0, 0, 1], default_port)));
        let tls = load_tls(env);
        let mut database_url = env.database_url();
        let redis_url = env.required("REDIS_URL");
        let amqp_url = env.required("AMQP_URL");
        if let Some(identity) = &tls {
            match verified_postgres_url(&database_url, &identity.files().ca) {
                Ok(url) => database_url = url,
                Err(e) => env.invalid(format!("the database URL: {e}")),
            }
            for (what, url, scheme) in [
                ("REDIS_URL", &redis_url, "rediss"),
                ("AMQP_URL", &amqp_url, "amqps"),
            ] {
                if !url.is_empty() && scheme_of(url) != scheme {
                    env.invalid(format!(
                        "{what} must be {scheme}:// when TLS is required (got {})",
                        scheme_of(url)
                    ));
                }
            }
        }
        let per_service = EventPublishers::PerService {
            prefix: env.parsed("AMQP_USER_PREFIX", "carebook_".to_owned()),
        };
        // One broker account for every service (a developer's plain-text run on
        // a shared broker) must be said, and is refused where TLS is required.
        let event_publishers = match env.optional("AMQP_SHARED_PUBLISHER") {
            Some(user) if tls.is_none() => EventPublishers::Shared(user),
            Some(_) => {
                env.invalid("AMQP_SHARED_PUBLISHER is only for CAREBOOK_TLS=off: with TLS each service publishes as its own user");
                per_service
            }
            None => per_service,
        };
        let cfg = Self {
            bind,
            database_url,
            database_max_connections: env.parsed("DATABASE_MAX_CONNECTIONS", 10),
            redis_url,
            redis_prefix: env.parsed("REDIS_PREFIX", "carebook:".to_owned()),
            amqp_url,
            events_exchange: env.parsed("EVENTS_EXCHANGE", "carebook.events".to_owned()),
            queue_prefix: env.parsed("QUEUE_PREFIX", "carebook".to_owned()),
            auth: AuthConfig::load(env, tls.clone()),
            max_body_bytes: env.parsed("MAX_BODY_BYTES", 64 * 1024),
            request_timeout: env.millis("REQUEST_TIMEOUT_MS", Duration::from_secs(10)),
            outbox_poll_interval: env.millis("OUTBOX_POLL_MS", Duration::from_millis(250)),
            events: crate::events::EventSettings::load(env),
            service,
            tls,
            event_publishers,
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

    #[test]
    fn the_api_url_defaults_by_tls_and_must_be_https_with_it() {
        let mut e = env(&[]);
        assert_eq!(e.api_url(true), "https://127.0.0.1:8443");
        assert_eq!(e.api_url(false), "http://127.0.0.1:8080");
        assert!(e.finish().is_ok());
        let mut e = env(&[("IDENTITY_API_URL", "https://gw.test:8443/")]);
        assert_eq!(e.api_url(true), "https://gw.test:8443");
        assert!(e.finish().is_ok());
        for (url, tls) in [
            ("http://gw.test", true),
            ("ftp://gw.test", false),
            ("nonsense", false),
        ] {
            let mut e = env(&[("IDENTITY_API_URL", url)]);
            e.api_url(tls);
            let err = e.finish().unwrap_err().to_string();
            assert!(err.contains("IDENTITY_API_URL"), "{url}: {err}");
        }
    }

    const BASE: [(&str, &str); 5] = [
        ("CAREBOOK_TLS", "off"),
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
        assert_eq!(err.0.len(), 6, "{text}");
        assert!(text.contains("TLS is required"), "{text}");
    }

    #[test]
    fn postgres_urls_are_made_to_verify_the_server() {
        let ca = std::path::Path::new("/certs/ca.pem");
        assert_eq!(
            verified_postgres_url("postgres://u:p@db:5432/x", ca).unwrap(),
            "postgres://u:p@db:5432/x?sslmode=verify-full&sslrootcert=/certs/ca.pem"
        );
        assert_eq!(
            verified_postgres_url("postgres://db/x?application_name=a&sslmode=verify-full", ca)
                .unwrap(),
            "postgres://db/x?application_name=a&sslmode=verify-full&sslrootcert=/certs/ca.pem"
        );
        assert_eq!(
            verified_postgres_url("postgres://db/x?sslrootcert=/other.pem", ca).unwrap(),
            "postgres://db/x?sslrootcert=/other.pem&sslmode=verify-full"
        );
        for weak in ["disable", "prefer", "require", "verify-ca"] {
            let err =
                verified_postgres_url(&format!("postgres://u:secret@db/x?sslmode={weak}"), ca)
                    .unwrap_err();
            assert!(err.contains(weak) && !err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn with_tls_required_plaintext_urls_are_refused_without_repeating_them() {
        let dir = std::env::temp_dir().join(format!("cb-config-{}", uuid::Uuid::new_v4()));
        let mut e = env(&[
            ("CAREBOOK_TLS_DIR", dir.to_str().unwrap()),
            ("CAREBOOK_POSTGRES_URL", "postgres://u:pw@db:5432"),
            ("CAREBOOK_REDIS_URL", "redis://:secret@cache:6379"),
            ("CAREBOOK_AMQP_URL", "amqp://u:secret@mq:5672/%2f"),
            ("CAREBOOK_JWKS_URL", "http://identity/.well-known/jwks.json"),
        ]);
        CommonConfig::load(&mut e, 8081);
        let text = e.finish().unwrap_err().to_string();
        assert!(text.contains("cannot read the CA certificate"), "{text}");
        // Without usable material the schemes are not judged; the message says what to do.
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn tls_off_is_explicit_and_per_service_publishers_are_the_default() {
        let mut e = env(&BASE);
        let cfg = CommonConfig::load(&mut e, 8081);
        e.finish().unwrap();
        assert!(cfg.tls.is_none());
        assert_eq!(
            cfg.event_publishers.user_of(contracts::Service::Scheduling),
            "carebook_scheduling"
        );
        // One account for every service only when said, and only without TLS.
        let mut vars = BASE.to_vec();
        vars.push(("CAREBOOK_AMQP_SHARED_PUBLISHER", "guest"));
        let mut shared = env(&vars);
        let cfg = CommonConfig::load(&mut shared, 8081);
        shared.finish().unwrap();
        assert_eq!(
            cfg.event_publishers.user_of(contracts::Service::Identity),
            "guest"
        );
        let mut missing = env(&BASE[1..]);
        CommonConfig::load(&mut missing, 8081);
        assert!(missing
            .finish()
            .unwrap_err()
            .to_string()
            .contains("TLS is required"));
    }
}

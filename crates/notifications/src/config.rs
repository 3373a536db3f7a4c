//! Notifications' settings: the shared ones, the SMTP server, the sender
//! address, reminder offsets and the delivery worker's pace.

use std::{fmt, time::Duration};

use lettre::message::Mailbox;
use platform::config::{CommonConfig, ConfigError, Env};

use crate::domain::{backoff::RetryPolicy, reminders::parse_offsets};

pub const DEFAULT_PORT: u16 = 8084;

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP: only for a sink on this host (MailDev in development).
    None,
    /// Connect in plain text, then require STARTTLS (submission, port 587).
    StartTls,
    /// TLS from the first byte (implicit TLS, port 465).
    Tls,
}

impl std::str::FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(SmtpTls::None),
            "starttls" => Ok(SmtpTls::StartTls),
            "tls" => Ok(SmtpTls::Tls),
            other => Err(format!("{other:?} is not one of none, starttls, tls")),
        }
    }
}

/// A value that must never appear in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where and how mail is handed over.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The sender of every email (`Carebook <no-reply@carebook.dev>`).
    pub from: Mailbox,
    /// Limit on each SMTP command; also bounds how long shutdown waits for a send.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// Plain SMTP to a sink on `127.0.0.1:port` (tests, development).
    pub fn local(port: u16) -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: default_from(),
            timeout: Duration::from_secs(5),
        }
    }
}

fn default_from() -> Mailbox {
    Mailbox::new(
        Some("Carebook".to_owned()),
        // A constant, valid address: nothing to check at run time.
        lettre::Address::new_dangerous("no-reply", "carebook.dev"),
    )
}

/// How the delivery worker paces itself.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// How often the worker looks for due reminders and deliveries.
    pub poll_interval: Duration,
    /// Deliveries claimed (and sent concurrently) at once.
    pub batch: i64,
    /// When and how often a failed send is retried.
    pub retry: RetryPolicy,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            batch: 8,
            retry: RetryPolicy::default(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub common: CommonConfig,
    pub smtp: SmtpConfig,
    /// Reminders go out this long before the start (`24h,2h` by default).
    pub reminder_offsets: Vec<chrono::Duration>,
    pub worker: WorkerConfig,
}

impl Config {
    /// Defaults around the given shared settings and SMTP server.
    pub fn new(common: CommonConfig, smtp: SmtpConfig) -> Self {
        Self {
            common,
            smtp,
            reminder_offsets: vec![chrono::Duration::hours(24), chrono::Duration::hours(2)],
            worker: WorkerConfig::default(),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("notifications"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::load(&mut env, DEFAULT_PORT);
        let tls: SmtpTls = env.parsed("SMTP_TLS", SmtpTls::None);
        let default_port = match tls {
            SmtpTls::None => 1025,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        };
        let host = env.parsed("SMTP_HOST", "127.0.0.1".to_owned());
        let username = env.optional("SMTP_USERNAME");
        let password = env.optional("SMTP_PASSWORD").map(Secret);
        if username.is_some() != password.is_some() {
            env.invalid("SMTP_USERNAME and SMTP_PASSWORD must be set together");
        }
        if username.is_some() && tls == SmtpTls::None && !is_loopback(&host) {
            env.invalid(
                "SMTP credentials would cross the network in clear text: set SMTP_TLS to starttls or tls",
            );
        }
        let from = match env.optional("FROM") {
            None => default_from(),
            Some(raw) => raw.parse().unwrap_or_else(|e| {
                env.invalid(format!("NOTIFICATIONS_FROM={raw:?} is not a mailbox: {e}"));
                default_from()
            }),
        };
        let offsets_raw = env.parsed("REMINDERS", "24h,2h".to_owned());
        let reminder_offsets = parse_offsets(&offsets_raw).unwrap_or_else(|e| {
            env.invalid(format!("NOTIFICATIONS_REMINDERS={offsets_raw:?}: {e}"));
            Vec::new()
        });
        let defaults = RetryPolicy::default();
        let retry = RetryPolicy {
            max_attempts: env.parsed("MAX_ATTEMPTS", defaults.max_attempts),
            base: env.millis("RETRY_BASE_MS", defaults.base),
            max_delay: env.millis("RETRY_MAX_MS", defaults.max_delay),
        };
        if retry.max_attempts == 0 {
            env.invalid("MAX_ATTEMPTS must be at least 1");
        }
        if retry.base.is_zero() || retry.max_delay < retry.base {
            env.invalid("RETRY_BASE_MS must be positive and at most RETRY_MAX_MS");
        }
        let cfg = Self {
            common,
            smtp: SmtpConfig {
                host,
                port: env.parsed("SMTP_PORT", default_port),
                tls,
                username,
                password,
                from,
                timeout: env.millis("SMTP_TIMEOUT_MS", Duration::from_secs(5)),
            },
            reminder_offsets,
            worker: WorkerConfig {
                poll_interval: env.millis("WORKER_POLL_MS", Duration::from_secs(1)),
                batch: env.parsed("WORKER_BATCH", 8),
                retry,
            },
        };
        if !(1..=100).contains(&cfg.worker.batch) {
            env.invalid("WORKER_BATCH must be between 1 and 100");
        }
        env.finish()?;
        Ok(cfg)
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Env {
        platform::testing::local_env("notifications", extra)
    }

    #[test]
    fn defaults_suit_a_local_maildev() {
        let cfg = Config::load(env(&[])).unwrap();
        assert_eq!(cfg.common.bind.port(), 8084);
        assert_eq!((cfg.smtp.host.as_str(), cfg.smtp.port), ("127.0.0.1", 1025));
        assert_eq!(cfg.smtp.tls, SmtpTls::None);
        assert_eq!(
            cfg.reminder_offsets,
            vec![chrono::Duration::hours(24), chrono::Duration::hours(2)]
        );
        assert_eq!(
            cfg.smtp.from.to_string(),
            "Carebook <no-reply@carebook.dev>"
        );
    }

    #[test]
    fn smtp_settings_are_read_and_the_password_never_printed() {
        let cfg = Config::load(env(&[
            ("NOTIFICATIONS_SMTP_HOST", "smtp.example.org"),
            ("NOTIFICATIONS_SMTP_TLS", "starttls"),
            ("NOTIFICATIONS_SMTP_USERNAME", "mailer"),
            ("NOTIFICATIONS_SMTP_PASSWORD", "hunter2-secret"),
            ("NOTIFICATIONS_FROM", "Clinic <clinic@example.org>"),
            ("NOTIFICATIONS_REMINDERS", "48h,90m"),
        ]))
        .unwrap();
        assert_eq!(cfg.smtp.port, 587);
        assert_eq!(cfg.smtp.username.as_deref(), Some("mailer"));
        assert_eq!(cfg.smtp.from.email.to_string(), "clinic@example.org");
        assert_eq!(
            cfg.reminder_offsets,
            vec![chrono::Duration::hours(48), chrono::Duration::minutes(90)]
        );
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn unsafe_or_invalid_settings_are_all_reported() {
        let err = Config::load(env(&[
            ("NOTIFICATIONS_SMTP_HOST", "smtp.example.org"),
            ("NOTIFICATIONS_SMTP_USERNAME", "mailer"),
            ("NOTIFICATIONS_SMTP_PASSWORD", "x"),
            ("NOTIFICATIONS_SMTP_TLS", "none"),
            ("NOTIFICATIONS_FROM", "not a mailbox"),
            ("NOTIFICATIONS_REMINDERS", "soon"),
            ("NOTIFICATIONS_MAX_ATTEMPTS", "0"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("clear text"), "{text}");
        assert!(text.contains("NOTIFICATIONS_FROM"), "{text}");
        assert!(text.contains("NOTIFICATIONS_REMINDERS"), "{text}");
        assert!(text.contains("MAX_ATTEMPTS"), "{text}");
        assert!(!text.contains("\"x\""), "{text}");
    }
}

//! Notifications' settings: the shared ones, the SMTP server, the sender
//! address, reminder offsets, who reviews break-glass access, where the portal
//! is (for the links in emails), how long a confirmation waits for its
//! self-service links, and the delivery worker's pace.
//!
//! Mail never crosses a network in clear text unless an operator says so
//! twice: `NOTIFICATIONS_SMTP_TLS` defaults to `none` only for a server on
//! this host (the development sink) and to `starttls` otherwise; `none` for
//! another host is refused unless `NOTIFICATIONS_SMTP_ALLOW_PLAINTEXT=true`
//! (and credentials never go to another host in clear text, allowed or not).
//! With TLS the server's certificate is always verified (the public roots,
//! plus the CA of `NOTIFICATIONS_SMTP_CA_FILE` for a private relay).

use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use lettre::message::Mailbox;
use platform::config::{CommonConfig, ConfigError, Env};
use rustls_pki_types::{pem::PemObject, CertificateDer};

use crate::domain::{account::PortalUrl, backoff::RetryPolicy, reminders::parse_offsets};

pub const DEFAULT_PORT: u16 = 8084;

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP: a sink on this host (MailDev in development), or a relay
    /// another host explicitly allowed (`NOTIFICATIONS_SMTP_ALLOW_PLAINTEXT`).
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

/// A private CA the SMTP server's certificate may chain to, besides the
/// public roots (`NOTIFICATIONS_SMTP_CA_FILE`): read and checked at start.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCa {
    pub path: PathBuf,
    /// The file's PEM, holding at least one certificate.
    pub pem: Vec<u8>,
}

impl fmt::Debug for SmtpCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpCa").field("path", &self.path).finish()
    }
}

impl SmtpCa {
    /// Read a PEM file of one or more CA certificates.
    pub fn read(path: &Path) -> Result<Self, String> {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{} is not PEM: {e}", path.display()))?;
        if certificates.is_empty() {
            return Err(format!("{} holds no PEM certificate", path.display()));
        }
        Ok(Self {
            path: path.to_owned(),
            pem,
        })
    }
}

/// Where and how mail is handed over.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Trusted besides the public roots when `tls` is not `None`.
    pub ca: Option<SmtpCa>,
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
            ca: None,
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
    /// Told of every break-glass access (`NOTIFICATIONS_PRIVACY_CONTACT`, an
    /// email address); when unset, every admin is.
    pub privacy_contact: Option<lettre::Address>,
    /// The portal as the recipients of emails reach it
    /// (`NOTIFICATIONS_PORTAL_URL`, default `http://127.0.0.1:8080`): links
    /// to verify an address, reset a password, sign in, claim a waitlist
    /// offer and cancel or reschedule an appointment go below it, and so do
    /// providers' calendar feed URLs (the gateway serves the API there too).
    pub portal_url: PortalUrl,
    /// How long the patient's confirmation of a booking or reschedule waits
    /// for the version's self-service links when they have not arrived yet
    /// (`NOTIFICATIONS_LINKS_WAIT_MS`, 10 s by default, at most 10 minutes):
    /// it goes out as soon as they arrive, or without them after this long.
    pub links_wait: Duration,
    pub worker: WorkerConfig,
}

/// [`Config::links_wait`] by default: scheduling publishes the links with the
/// booking, so they normally follow it within a second.
pub const DEFAULT_LINKS_WAIT: Duration = Duration::from_secs(10);

impl Config {
    /// Defaults around the given shared settings and SMTP server.
    pub fn new(common: CommonConfig, smtp: SmtpConfig) -> Self {
        Self {
            common,
            smtp,
            reminder_offsets: vec![chrono::Duration::hours(24), chrono::Duration::hours(2)],
            privacy_contact: None,
            portal_url: PortalUrl::local(),
            links_wait: DEFAULT_LINKS_WAIT,
            worker: WorkerConfig::default(),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("notifications"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::load(&mut env, DEFAULT_PORT);
        let host = env.parsed("SMTP_HOST", "127.0.0.1".to_owned());
        let tls: SmtpTls = env.parsed("SMTP_TLS", default_tls(&host));
        let default_port = match tls {
            SmtpTls::None => 1025,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        };
        let allow_plaintext = match env.service_only("SMTP_ALLOW_PLAINTEXT").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                env.invalid(format!(
                    "NOTIFICATIONS_SMTP_ALLOW_PLAINTEXT={other:?} is invalid: use true or false"
                ));
                false
            }
        };
        if let Err(why) = plaintext_allowed(&host, tls, allow_plaintext) {
            env.invalid(why);
        }
        let ca = match env.optional("SMTP_CA_FILE") {
            None => None,
            Some(_) if tls == SmtpTls::None => {
                env.invalid(
                    "NOTIFICATIONS_SMTP_CA_FILE is set but SMTP_TLS is none: set SMTP_TLS to starttls or tls",
                );
                None
            }
            Some(path) => SmtpCa::read(Path::new(&path))
                .map_err(|e| env.invalid(format!("NOTIFICATIONS_SMTP_CA_FILE: {e}")))
                .ok(),
        };
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
        let privacy_contact = env.service_only("PRIVACY_CONTACT").and_then(|raw| {
            raw.parse::<lettre::Address>()
                .map_err(|e| {
                    env.invalid(format!(
                        "NOTIFICATIONS_PRIVACY_CONTACT={raw:?} is not an email address: {e}"
                    ))
                })
                .ok()
        });
        // The value is not quoted back: a URL may carry credentials by mistake.
        let portal_url = match env.service_only("PORTAL_URL") {
            None => PortalUrl::local(),
            Some(raw) => raw.parse().unwrap_or_else(|e| {
                env.invalid(format!(
                    "NOTIFICATIONS_PORTAL_URL is not the portal's address: it {e}"
                ));
                PortalUrl::local()
            }),
        };
        let links_wait = env.millis("LINKS_WAIT_MS", DEFAULT_LINKS_WAIT);
        if links_wait > Duration::from_secs(600) {
            env.invalid("LINKS_WAIT_MS must be at most 600000 (10 minutes)");
        }
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
                ca,
                username,
                password,
                from,
                timeout: env.millis("SMTP_TIMEOUT_MS", Duration::from_secs(5)),
            },
            reminder_offsets,
            privacy_contact,
            portal_url,
            links_wait,
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

/// A server on this host (`localhost`, `127.0.0.0/8`, `::1`): its traffic
/// never leaves the machine.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `SMTP_TLS` when unset: plain text to the development sink on this host,
/// STARTTLS (submission, port 587) to any other.
pub fn default_tls(host: &str) -> SmtpTls {
    if is_loopback(host) {
        SmtpTls::None
    } else {
        SmtpTls::StartTls
    }
}

/// Whether mail may go to `host` with `tls`: plain text to another host only
/// when explicitly allowed. The allowance exists for a relay reached over a
/// private, already-protected link (a sidecar in the same pod network, an
/// IPsec/WireGuard tunnel) that speaks no TLS; it says the link, not SMTP,
/// protects the mail.
pub fn plaintext_allowed(host: &str, tls: SmtpTls, allow_plaintext: bool) -> Result<(), String> {
    if tls != SmtpTls::None || is_loopback(host) || allow_plaintext {
        return Ok(());
    }
    Err(format!(
        "NOTIFICATIONS_SMTP_TLS=none would send mail to {host} in clear text: \
         use starttls or tls, or set NOTIFICATIONS_SMTP_ALLOW_PLAINTEXT=true \
         if the link to that relay is private and protected"
    ))
}

/// A self-signed CA certificate (P-256) for tests; its key was discarded.
#[cfg(test)]
pub(crate) const TEST_CA_PEM: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBlzCCAT2gAwIBAgIUF7cJ9svj9lUDI0i/AylM0EfVDrswCgYIKoZIzj0EAwIw\n\
IDEeMBwGA1UEAwwVQ2FyZWJvb2sgdGVzdCBTTVRQIENBMCAXDTI2MTIwMjE0MjQ0\n\
MVoYDzIxMjYxMTA4MTQyNDQxWjAgMR4wHAYDVQQDDBVDYXJlYm9vayB0ZXN0IFNN\n\
VFAgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARS1XzmhrCiZRoWmG07X5cP\n\
9WlCIkg1o7pPjvTqKZMxILJ63zeMkzsYeBxt1Bdr7UFGH5RvtbxfMFZnoQkUczaG\n\
o1MwUTAdBgNVHQ4EFgQUTHcTxwBFlHulumZWKUHs/aIBLwwwHwYDVR0jBBgwFoAU\n\
THcTxwBFlHulumZWKUHs/aIBLwwwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD\n\
AgNIADBFAiBdsvxyyEtD0C8WIrc3SzaVQ4kJdP4O27oZtCFgSSEt0QIhAKmTwnHU\n\
q6+ZvxmDonANZHL51HJujIOuENx+JaCE4cwo\n\
-----END CERTIFICATE-----\n\
";

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Env {
        platform::testing::local_env("notifications", extra)
    }

    fn load_err(extra: &[(&str, &str)]) -> String {
        Config::load(env(extra)).unwrap_err().to_string()
    }

    fn temp_file(content: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("smtp-ca-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn only_a_server_on_this_host_defaults_to_plain_text() {
        for host in [
            "127.0.0.1",
            "127.0.0.53",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
        ] {
            assert_eq!(default_tls(host), SmtpTls::None, "{host}");
        }
        for host in [
            "smtp.example.org",
            "10.0.0.7",
            "mailpit",
            "localhost.example.org",
            "::2",
        ] {
            assert_eq!(default_tls(host), SmtpTls::StartTls, "{host}");
        }
    }

    #[test]
    fn a_remote_host_defaults_to_starttls_on_the_submission_port() {
        let cfg = Config::load(env(&[("NOTIFICATIONS_SMTP_HOST", "smtp.example.org")])).unwrap();
        assert_eq!(cfg.smtp.tls, SmtpTls::StartTls);
        assert_eq!(cfg.smtp.port, 587);
        assert!(cfg.smtp.ca.is_none());
        let local = Config::load(env(&[("NOTIFICATIONS_SMTP_HOST", "localhost")])).unwrap();
        assert_eq!((local.smtp.tls, local.smtp.port), (SmtpTls::None, 1025));
        // Implicit TLS is taken as asked, on its port.
        let tls = Config::load(env(&[
            ("NOTIFICATIONS_SMTP_HOST", "smtp.example.org"),
            ("NOTIFICATIONS_SMTP_TLS", "tls"),
        ]))
        .unwrap();
        assert_eq!((tls.smtp.tls, tls.smtp.port), (SmtpTls::Tls, 465));
    }

    #[test]
    fn plain_text_to_another_host_is_refused_unless_explicitly_allowed() {
        let remote_plain = [
            ("NOTIFICATIONS_SMTP_HOST", "relay.internal"),
            ("NOTIFICATIONS_SMTP_TLS", "none"),
        ];
        let err = load_err(&remote_plain);
        assert!(err.contains("NOTIFICATIONS_SMTP_ALLOW_PLAINTEXT"), "{err}");
        assert!(err.contains("relay.internal"), "{err}");

        let allowed = [
            remote_plain[0],
            remote_plain[1],
            ("NOTIFICATIONS_SMTP_ALLOW_PLAINTEXT", "true"),
        ];
        let cfg = Config::load(env(&allowed)).unwrap();
        assert_eq!((cfg.smtp.tls, cfg.smtp.port), (SmtpTls::None, 1025));

        // The allowance is the service's own setting, and says true or false.
        let shared = [
            remote_plain[0],
            remote_plain[1],
            ("CAREBOOK_SMTP_ALLOW_PLAINTEXT", "true"),
        ];
        assert!(load_err(&shared).contains("ALLOW_PLAINTEXT"));
        let vague = [
            remote_plain[0],
            remote_plain[1],
            ("NOTIFICATIONS_SMTP_ALLOW_PLAINTEXT", "yes"),
        ];
        assert!(load_err(&vague).contains("use true or false"));

        // Never for credentials: they would cross the network in clear text.
        let with_credentials = [
            remote_plain[0],
            remote_plain[1],
            ("NOTIFICATIONS_SMTP_ALLOW_PLAINTEXT", "true"),
            ("NOTIFICATIONS_SMTP_USERNAME", "mailer"),
            ("NOTIFICATIONS_SMTP_PASSWORD", "hunter2-secret"),
        ];
        let err = load_err(&with_credentials);
        assert!(err.contains("credentials"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");

        // Nothing to allow on this host.
        assert!(Config::load(env(&[("NOTIFICATIONS_SMTP_TLS", "none")])).is_ok());
        assert_eq!(plaintext_allowed("::1", SmtpTls::None, false), Ok(()));
        assert_eq!(
            plaintext_allowed("mx.example.org", SmtpTls::StartTls, false),
            Ok(())
        );
        assert!(plaintext_allowed("mx.example.org", SmtpTls::None, false).is_err());
        assert_eq!(
            plaintext_allowed("mx.example.org", SmtpTls::None, true),
            Ok(())
        );
    }

    #[test]
    fn a_private_ca_is_read_at_start_and_must_hold_a_certificate() {
        let ca = temp_file(TEST_CA_PEM);
        let cfg = Config::load(env(&[
            ("NOTIFICATIONS_SMTP_HOST", "relay.clinic.internal"),
            ("NOTIFICATIONS_SMTP_CA_FILE", ca.to_str().unwrap()),
        ]))
        .unwrap();
        let loaded = cfg.smtp.ca.as_ref().unwrap();
        assert_eq!(loaded.path, ca);
        assert_eq!(loaded.pem, TEST_CA_PEM.as_bytes());
        assert!(!format!("{cfg:?}").contains("BEGIN CERTIFICATE"));

        let not_a_certificate =
            temp_file("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        let err = load_err(&[
            ("NOTIFICATIONS_SMTP_HOST", "relay.clinic.internal"),
            (
                "NOTIFICATIONS_SMTP_CA_FILE",
                not_a_certificate.to_str().unwrap(),
            ),
        ]);
        assert!(err.contains("no PEM certificate"), "{err}");
        let err = load_err(&[
            ("NOTIFICATIONS_SMTP_HOST", "relay.clinic.internal"),
            ("NOTIFICATIONS_SMTP_CA_FILE", "/nonexistent/ca.pem"),
        ]);
        assert!(
            err.contains("NOTIFICATIONS_SMTP_CA_FILE: cannot read"),
            "{err}"
        );
        // A CA for a connection without TLS is a misunderstanding, not a no-op.
        let err = load_err(&[
            ("NOTIFICATIONS_SMTP_TLS", "none"),
            ("NOTIFICATIONS_SMTP_CA_FILE", ca.to_str().unwrap()),
        ]);
        assert!(err.contains("SMTP_TLS is none"), "{err}");
        std::fs::remove_file(ca).unwrap();
        std::fs::remove_file(not_a_certificate).unwrap();
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
        assert_eq!(cfg.links_wait, Duration::from_secs(10));
    }

    #[test]
    fn the_wait_for_links_is_read_and_bounded() {
        let cfg = Config::load(env(&[("NOTIFICATIONS_LINKS_WAIT_MS", "2500")])).unwrap();
        assert_eq!(cfg.links_wait, Duration::from_millis(2500));
        let err = load_err(&[("NOTIFICATIONS_LINKS_WAIT_MS", "3600000")]);
        assert!(err.contains("LINKS_WAIT_MS"), "{err}");
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
    fn the_privacy_contact_is_an_email_address_checked_at_start() {
        assert_eq!(Config::load(env(&[])).unwrap().privacy_contact, None);
        let cfg = Config::load(env(&[(
            "NOTIFICATIONS_PRIVACY_CONTACT",
            " privacy@clinic.example ",
        )]))
        .unwrap();
        assert_eq!(
            cfg.privacy_contact.map(|a| a.to_string()).as_deref(),
            Some("privacy@clinic.example")
        );
        for bad in [
            "not an address",
            "Privacy <privacy@clinic.example>",
            "@clinic",
        ] {
            let err = load_err(&[("NOTIFICATIONS_PRIVACY_CONTACT", bad)]);
            assert!(
                err.contains("NOTIFICATIONS_PRIVACY_CONTACT")
                    && err.contains("not an email address"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_portal_url_is_an_absolute_http_url_checked_at_start() {
        let cfg = Config::load(env(&[])).unwrap();
        assert_eq!(cfg.portal_url.to_string(), "http://127.0.0.1:8080");
        let cfg = Config::load(env(&[(
            "NOTIFICATIONS_PORTAL_URL",
            " https://portal.clinic.example/ ",
        )]))
        .unwrap();
        assert_eq!(cfg.portal_url.to_string(), "https://portal.clinic.example");
        for bad in [
            "portal.clinic.example",
            "ftp://portal.clinic.example",
            "https://portal.clinic.example/?x=1",
            "https://admin:secret@portal.clinic.example",
        ] {
            let err = load_err(&[("NOTIFICATIONS_PORTAL_URL", bad)]);
            assert!(
                err.contains("NOTIFICATIONS_PORTAL_URL") && err.contains("portal's address"),
                "{bad}: {err}"
            );
            assert!(!err.contains("secret"), "{err}");
        }
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

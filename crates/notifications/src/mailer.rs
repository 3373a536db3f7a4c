//! Handing emails to the SMTP server (lettre), and what its answers mean for a
//! delivery: a 5xx reply is permanent (do not retry), anything else — a 4xx
//! reply, a refused connection, a timeout — may work later.

use std::time::Duration;

use lettre::{
    message::{header::ContentType, Attachment, Mailbox, MultiPart},
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
        PoolConfig,
    },
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};

use crate::{
    config::{SmtpConfig, SmtpTls},
    domain::message::Content,
};

/// Why a send did not go through, classified without the server's text (which
/// may quote the recipient's address).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The server refused for good (5xx), or the message cannot be built.
    #[error("permanent: {0}")]
    Permanent(String),
    /// Try again later (4xx, connection refused or lost, timeout).
    #[error("transient: {0}")]
    Transient(String),
}

impl SendError {
    /// The stored and logged form: `smtp-550`, `connection`, `timeout`, …
    pub fn code(&self) -> &str {
        match self {
            SendError::Permanent(c) | SendError::Transient(c) => c,
        }
    }
}

fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    if let Some(code) = e.status() {
        let label = format!("smtp-{code}");
        return if e.is_permanent() {
            SendError::Permanent(label)
        } else {
            SendError::Transient(label)
        };
    }
    if e.is_timeout() {
        SendError::Transient("timeout".into())
    } else if e.is_tls() {
        SendError::Transient("tls".into())
    } else {
        SendError::Transient("connection".into())
    }
}

/// How long a pooled SMTP connection may sit unused. Servers drop idle
/// sessions after a few minutes (RFC 5321 §4.5.3.2 asks for at least five);
/// closing ours first keeps a send from meeting a connection the server has
/// just timed out.
const SMTP_IDLE: Duration = Duration::from_secs(30);

/// The SMTP transport. Cheap to clone. Connections are pooled (up to the
/// sends in flight at once): a TLS handshake and EHLO per email cost the
/// server and us more than the email itself. Each pooled connection is
/// checked with `NOOP` before it carries a message, so a restarted server
/// costs a reconnect, not a failed send.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// An email ready to hand over.
pub struct Outgoing<'a> {
    pub to: Mailbox,
    pub subject: &'a str,
    pub message_id: &'a str,
    pub content: &'a Content,
}

/// TLS towards `config.host`, its certificate verified against the public
/// roots and the configured private CA. Verification is never turned off.
fn tls_parameters(config: &SmtpConfig) -> Result<TlsParameters, lettre::transport::smtp::Error> {
    let mut builder = TlsParameters::builder(config.host.clone());
    if let Some(ca) = &config.ca {
        builder = builder.add_root_certificate(Certificate::from_pem(&ca.pem)?);
    }
    builder.build()
}

impl Mailer {
    /// `connections`: the most sends in flight at once (the worker's batch).
    pub fn new(
        config: &SmtpConfig,
        connections: u32,
    ) -> Result<Self, lettre::transport::smtp::Error> {
        let pool = PoolConfig::new()
            .max_size(connections.max(1))
            .idle_timeout(SMTP_IDLE);
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .timeout(Some(config.timeout))
            .pool_config(pool);
        builder = match config.tls {
            SmtpTls::None => builder.tls(Tls::None),
            SmtpTls::StartTls => builder.tls(Tls::Required(tls_parameters(config)?)),
            SmtpTls::Tls => builder.tls(Tls::Wrapper(tls_parameters(config)?)),
        };
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.0.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: config.from.clone(),
        })
    }

    /// The sender address (the invitation's ORGANIZER).
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Build the MIME message: text and HTML alternatives, plus the `.ics`
    /// attachment when the email has one.
    pub fn message(&self, email: &Outgoing<'_>) -> Result<Message, SendError> {
        let bodies = MultiPart::alternative_plain_html(
            email.content.text.clone(),
            email.content.html.clone(),
        );
        let body = match &email.content.calendar {
            None => bodies,
            Some(calendar) => {
                let calendar_type = ContentType::parse(calendar.method.content_type())
                    .map_err(|_| SendError::Permanent("content-type".into()))?;
                MultiPart::mixed().multipart(bodies).singlepart(
                    Attachment::new("appointment.ics".to_owned())
                        .body(calendar.ics.clone(), calendar_type),
                )
            }
        };
        Message::builder()
            .from(self.from.clone())
            .to(email.to.clone())
            .subject(email.subject)
            .message_id(Some(email.message_id.to_owned()))
            .multipart(body)
            .map_err(|_| SendError::Permanent("message".into()))
    }

    /// Send; `Ok` means the server accepted the message (250 after DATA).
    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::SmtpCa,
        domain::{ics::Method, message::CalendarFile},
    };

    #[tokio::test]
    async fn messages_carry_alternatives_the_invitation_and_a_stable_message_id() {
        let mailer = Mailer::new(&SmtpConfig::local(2525), 1).unwrap();
        let content = Content {
            text: "Hello".into(),
            html: "<p>Hello</p>".into(),
            calendar: Some(CalendarFile {
                ics: "BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nEND:VCALENDAR\r\n".into(),
                method: Method::Cancel,
            }),
        };
        let message = mailer
            .message(&Outgoing {
                to: "Paula <paula@example.org>".parse().unwrap(),
                subject: "Appointment cancelled: Consultation",
                message_id: "<a.cancelled.v2.b@carebook.dev>",
                content: &content,
            })
            .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <a.cancelled.v2.b@carebook.dev>"),
            "{raw}"
        );
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("Content-Type: text/calendar; method=CANCEL"),
            "{raw}"
        );
        assert!(raw.contains("filename=\"appointment.ics\""), "{raw}");
        assert!(
            raw.contains("From: Carebook <no-reply@carebook.dev>"),
            "{raw}"
        );
    }

    #[tokio::test]
    async fn messages_without_a_calendar_file_are_just_the_alternatives() {
        let mailer = Mailer::new(&SmtpConfig::local(2525), 1).unwrap();
        let content = Content {
            text: "Hello".into(),
            html: "<p>Hello</p>".into(),
            calendar: None,
        };
        let message = mailer
            .message(&Outgoing {
                to: "privacy@clinic.example".parse().unwrap(),
                subject: "Break-glass access to a patient's record",
                message_id: "<g.break-glass.v1.r@carebook.dev>",
                content: &content,
            })
            .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(!raw.contains("multipart/mixed"), "{raw}");
        assert!(!raw.contains("text/calendar"), "{raw}");
        assert!(
            raw.contains("Message-ID: <g.break-glass.v1.r@carebook.dev>"),
            "{raw}"
        );
    }

    #[tokio::test]
    async fn a_private_ca_is_handed_to_the_tls_stack() {
        let with_ca = |pem: &[u8]| SmtpConfig {
            host: "relay.clinic.internal".into(),
            port: 587,
            tls: SmtpTls::StartTls,
            ca: Some(SmtpCa {
                path: "ca.pem".into(),
                pem: pem.to_vec(),
            }),
            ..SmtpConfig::local(587)
        };
        assert!(Mailer::new(&with_ca(crate::config::TEST_CA_PEM.as_bytes()), 1).is_ok());
        let implicit = SmtpConfig {
            tls: SmtpTls::Tls,
            ..with_ca(crate::config::TEST_CA_PEM.as_bytes())
        };
        assert!(Mailer::new(&implicit, 1).is_ok());
        // The certificate really reaches rustls's root store: a broken one is refused there.
        let broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(Mailer::new(&with_ca(broken), 1).is_err());
    }

    #[test]
    fn permanent_and_transient_failures_are_told_apart_by_code_only() {
        assert_eq!(SendError::Permanent("smtp-550".into()).code(), "smtp-550");
        assert_eq!(
            SendError::Transient("connection".into()).code(),
            "connection"
        );
    }
}

//! The emails identity asks for about an account: a link to confirm a new
//! address, a link to reset the password, and three notices (someone tried to
//! register with the address, the password changed, unusual sign-in attempts).
//! None has a calendar file; times are in UTC and say so.
//!
//! The links point at the portal (`NOTIFICATIONS_PORTAL_URL`):
//! `/verify-email?token=…`, `/password-reset/confirm?token=…`, `/login`,
//! `/password-reset` and `/account`. A token is a secret: it is never logged, never in a
//! `Debug` output, and the delivery keeps it only until the email is sent
//! (`store::deliveries::settle` removes it from the stored payload).

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::context;
use serde::{Deserialize, Serialize};

/// The account events are the contract's `user.*` v1 payloads, stored with
/// each delivery as the event carried them (the token removed once sent).
pub use contracts::identity::{
    PasswordChanged, PasswordResetRequested, RegistrationAttempted, SigninAlert,
    VerificationRequested,
};

use super::{
    format::{clean, local_long},
    message::{Content, Templates},
};

/// Longest name shown.
const MAX_NAME: usize = 120;

/// How long a verification link works, as `user.verification_requested` v1
/// promises (the exact end, from the event, is shown beside it).
pub const VERIFICATION_VALID_FOR: &str = "24 hours";
/// How long a reset link works, as `user.password_reset_requested` v1 promises.
pub const RESET_VALID_FOR: &str = "30 minutes";

/// The portal's pages the emails link to, below [`PortalUrl`].
pub mod paths {
    /// Confirms an address: `?token=` the verification token.
    pub const VERIFY_EMAIL: &str = "/verify-email";
    /// Sets a new password: `?token=` the reset token.
    pub const RESET_CONFIRM: &str = "/password-reset/confirm";
    /// Asks for a reset link.
    pub const RESET: &str = "/password-reset";
    /// Signs in.
    pub const LOGIN: &str = "/login";
    /// The signed-in holder's account: password, two-step verification, sessions.
    pub const ACCOUNT: &str = "/account";
    /// Claims a waitlist offer: `/{token}` the offer's claim token.
    pub const WAITLIST_OFFER: &str = "/waitlist/offers";
    /// Confirms a self-service cancel or reschedule: `/{token}` the link's token.
    pub const APPOINTMENT_LINK: &str = "/appointment-links";
}

/// Where the portal is for someone reading an email
/// (`NOTIFICATIONS_PORTAL_URL`): an absolute `http(s)` URL, perhaps with a
/// path prefix, without credentials, query or fragment.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalUrl(url::Url);

impl PortalUrl {
    /// `http://127.0.0.1:8080`: the gateway of a local stack.
    pub fn local() -> Self {
        Self::from_str("http://127.0.0.1:8080").unwrap_or_else(|_| unreachable!())
    }

    /// The portal page at `path` (one of [`paths`]), with `?token=` when given
    /// (percent-encoded).
    pub fn link(&self, path: &str, token: Option<&str>) -> String {
        let mut url = self.0.clone();
        let prefix = self.0.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        if let Some(token) = token {
            url.query_pairs_mut().append_pair("token", token);
        }
        url.to_string()
    }

    /// The portal page at `path` (one of [`paths`]) for one token, as the
    /// last path segment (percent-encoded): `…/waitlist/offers/{token}`.
    pub fn page(&self, path: &str, token: &str) -> String {
        let mut url = self.0.clone();
        let prefix = self.0.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(token);
        }
        url.to_string()
    }
}

impl FromStr for PortalUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(raw.trim()).map_err(|e| {
            format!("is not an absolute URL ({e}); use e.g. https://portal.example")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("uses {:?}, not http or https", url.scheme()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("has no host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or fragment".into());
        }
        Ok(Self(url))
    }
}

impl fmt::Display for PortalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

impl fmt::Debug for PortalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortalUrl({self})")
    }
}

/// One email about an account, with the event payload it is rendered from.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AccountEmail {
    /// `user.verification_requested`: confirm a new address (single-use link).
    Verification(VerificationRequested),
    /// `user.registration_attempted`: the address already has an account.
    RegistrationAttempted(RegistrationAttempted),
    /// `user.password_reset_requested`: a single-use link to set a new password.
    PasswordReset(PasswordResetRequested),
    /// `user.password_changed`: other sessions were signed out.
    PasswordChanged(PasswordChanged),
    /// `user.signin_alert`: many failed sign-ins from many addresses.
    SigninAlert(SigninAlert),
}

/// The stored kinds (`deliveries.kind`), also the metrics labels.
pub mod kinds {
    pub const VERIFY_EMAIL: &str = "verify-email";
    pub const REGISTRATION_ATTEMPTED: &str = "registration-attempted";
    pub const PASSWORD_RESET: &str = "password-reset";
    pub const PASSWORD_CHANGED: &str = "password-changed";
    pub const SIGNIN_ALERT: &str = "signin-alert";
}

/// The subject lines: fixed, naming nobody.
pub mod subjects {
    pub const VERIFY_EMAIL: &str = "Confirm your email address";
    pub const REGISTRATION_ATTEMPTED: &str = "Someone tried to register with your email address";
    pub const PASSWORD_RESET: &str = "Reset your Carebook password";
    pub const PASSWORD_CHANGED: &str = "Your Carebook password was changed";
    pub const SIGNIN_ALERT: &str = "Unusual sign-in attempts on your Carebook account";
}

impl AccountEmail {
    /// The email an account event asks for; `Ok(None)` for another event type.
    pub fn from_event(
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<Option<Self>, serde_json::Error> {
        use contracts::Event;
        Ok(Some(match event_type {
            VerificationRequested::TYPE => Self::Verification(Deserialize::deserialize(data)?),
            RegistrationAttempted::TYPE => {
                Self::RegistrationAttempted(Deserialize::deserialize(data)?)
            }
            PasswordResetRequested::TYPE => Self::PasswordReset(Deserialize::deserialize(data)?),
            PasswordChanged::TYPE => Self::PasswordChanged(Deserialize::deserialize(data)?),
            SigninAlert::TYPE => Self::SigninAlert(Deserialize::deserialize(data)?),
            _ => return Ok(None),
        }))
    }

    /// Read a delivery's `kind` and `snapshot` back; `None` for another kind.
    pub fn read(
        kind: &str,
        snapshot: &serde_json::Value,
    ) -> Option<Result<Self, serde_json::Error>> {
        let d = snapshot;
        Some(match kind {
            kinds::VERIFY_EMAIL => Deserialize::deserialize(d).map(Self::Verification),
            kinds::REGISTRATION_ATTEMPTED => {
                Deserialize::deserialize(d).map(Self::RegistrationAttempted)
            }
            kinds::PASSWORD_RESET => Deserialize::deserialize(d).map(Self::PasswordReset),
            kinds::PASSWORD_CHANGED => Deserialize::deserialize(d).map(Self::PasswordChanged),
            kinds::SIGNIN_ALERT => Deserialize::deserialize(d).map(Self::SigninAlert),
            _ => return None,
        })
    }

    /// Stored kind and metrics label.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Verification(_) => kinds::VERIFY_EMAIL,
            Self::RegistrationAttempted(_) => kinds::REGISTRATION_ATTEMPTED,
            Self::PasswordReset(_) => kinds::PASSWORD_RESET,
            Self::PasswordChanged(_) => kinds::PASSWORD_CHANGED,
            Self::SigninAlert(_) => kinds::SIGNIN_ALERT,
        }
    }

    pub fn subject(&self) -> &'static str {
        match self {
            Self::Verification(_) => subjects::VERIFY_EMAIL,
            Self::RegistrationAttempted(_) => subjects::REGISTRATION_ATTEMPTED,
            Self::PasswordReset(_) => subjects::PASSWORD_RESET,
            Self::PasswordChanged(_) => subjects::PASSWORD_CHANGED,
            Self::SigninAlert(_) => subjects::SIGNIN_ALERT,
        }
    }

    /// The account (the delivery's recipient).
    pub fn user_id(&self) -> uuid::Uuid {
        match self {
            Self::Verification(e) => e.user_id,
            Self::RegistrationAttempted(e) => e.user_id,
            Self::PasswordReset(e) => e.user_id,
            Self::PasswordChanged(e) => e.user_id,
            Self::SigninAlert(e) => e.user_id,
        }
    }

    /// Where to write: the address the event names (for a verification, the
    /// new one, which no read model knows yet).
    pub fn address(&self) -> &str {
        match self {
            Self::Verification(e) => &e.email,
            Self::RegistrationAttempted(e) => &e.email,
            Self::PasswordReset(e) => &e.email,
            Self::PasswordChanged(e) => &e.email,
            Self::SigninAlert(e) => &e.email,
        }
    }

    /// The holder's name, as identity knows it.
    pub fn name(&self) -> &str {
        match self {
            Self::Verification(e) => &e.name,
            Self::RegistrationAttempted(e) => &e.name,
            Self::PasswordReset(e) => &e.name,
            Self::PasswordChanged(e) => &e.name,
            Self::SigninAlert(e) => &e.name,
        }
    }

    /// When the link stops working, for the emails that carry one.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Verification(e) => Some(e.expires_at),
            Self::PasswordReset(e) => Some(e.expires_at),
            _ => None,
        }
    }

    /// Whether the link has stopped working at `now` (the email is no longer
    /// worth sending: it would only lead to an error page).
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }
}

/// Names the email and its account only: the payload holds a token and an
/// address, which must not reach a log through `{:?}`.
impl fmt::Debug for AccountEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountEmail")
            .field("kind", &self.key())
            .field("user_id", &self.user_id())
            .finish_non_exhaustive()
    }
}

/// `40 failed sign-in attempts`, `1 failed sign-in attempt`.
fn count(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `Tuesday 3 March 2026, 09:00 UTC`.
fn shown(at: DateTime<Utc>) -> String {
    local_long(at, Tz::UTC)
}

/// Render `email` with links below `portal`.
pub fn compose(
    templates: &Templates,
    email: &AccountEmail,
    portal: &PortalUrl,
) -> Result<Content, minijinja::Error> {
    let recipient_name = Some(clean(email.name(), MAX_NAME))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "there".into());
    let login_link = portal.link(paths::LOGIN, None);
    let reset_link = portal.link(paths::RESET, None);
    let account_link = portal.link(paths::ACCOUNT, None);
    let common = context! { recipient_name, login_link, reset_link, account_link };
    let (template, ctx) = match email {
        AccountEmail::Verification(e) => (
            "verify_email",
            context! {
                link => portal.link(paths::VERIFY_EMAIL, Some(&e.token)),
                valid_for => VERIFICATION_VALID_FOR,
                expires => shown(e.expires_at),
                ..common
            },
        ),
        AccountEmail::RegistrationAttempted(e) => (
            "registration_attempted",
            context! { at => shown(e.at), ..common },
        ),
        AccountEmail::PasswordReset(e) => (
            "password_reset",
            context! {
                link => portal.link(paths::RESET_CONFIRM, Some(&e.token)),
                valid_for => RESET_VALID_FOR,
                expires => shown(e.expires_at),
                ..common
            },
        ),
        AccountEmail::PasswordChanged(e) => (
            "password_changed",
            context! { at => shown(e.at), by_reset => e.by_reset, ..common },
        ),
        AccountEmail::SigninAlert(e) => (
            "signin_alert",
            context! {
                failures => count(e.failures, "failed sign-in attempt", "failed sign-in attempts"),
                addresses => count(e.addresses, "network address", "different network addresses"),
                since => shown(e.since),
                ..common
            },
        ),
    };
    let (text, html) = templates.render(template, &ctx)?;
    Ok(Content {
        text,
        html,
        calendar: None,
    })
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use uuid::Uuid;

    pub fn user_id() -> Uuid {
        Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000e1").unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    pub fn verification() -> VerificationRequested {
        VerificationRequested {
            user_id: user_id(),
            email: "ada@example.org".into(),
            name: "Ada Patient".into(),
            token: "vt_3Jq9-x_Yz".into(),
            expires_at: at("2026-03-04T09:00:00Z"),
        }
    }

    pub fn reset() -> PasswordResetRequested {
        PasswordResetRequested {
            user_id: user_id(),
            email: "ada@example.org".into(),
            name: "Ada Patient".into(),
            token: "rt_8Vn2+/=&".into(),
            expires_at: at("2026-03-03T09:30:00Z"),
        }
    }

    pub fn every() -> Vec<AccountEmail> {
        vec![
            AccountEmail::Verification(verification()),
            AccountEmail::RegistrationAttempted(RegistrationAttempted {
                user_id: user_id(),
                email: "ada@example.org".into(),
                name: "Ada Patient".into(),
                at: at("2026-03-03T09:00:00Z"),
            }),
            AccountEmail::PasswordReset(reset()),
            AccountEmail::PasswordChanged(PasswordChanged {
                user_id: user_id(),
                email: "ada@example.org".into(),
                name: "Ada Patient".into(),
                at: at("2026-03-03T09:10:00Z"),
                by_reset: true,
            }),
            AccountEmail::SigninAlert(SigninAlert {
                user_id: user_id(),
                email: "ada@example.org".into(),
                name: "Ada Patient".into(),
                failures: 40,
                addresses: 12,
                since: at("2026-03-03T08:00:00Z"),
            }),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::Event;

    fn portal() -> PortalUrl {
        "https://portal.clinic.example".parse().unwrap()
    }

    fn render(email: &AccountEmail) -> Content {
        compose(&Templates::new().unwrap(), email, &portal()).unwrap()
    }

    #[test]
    fn subjects_are_fixed_and_name_nobody() {
        let subjects: Vec<_> = fixtures::every()
            .iter()
            .map(AccountEmail::subject)
            .collect();
        assert_eq!(
            subjects,
            [
                "Confirm your email address",
                "Someone tried to register with your email address",
                "Reset your Carebook password",
                "Your Carebook password was changed",
                "Unusual sign-in attempts on your Carebook account",
            ]
        );
    }

    #[test]
    fn events_and_stored_snapshots_read_back_as_the_same_email() {
        let types = [
            VerificationRequested::TYPE,
            RegistrationAttempted::TYPE,
            PasswordResetRequested::TYPE,
            PasswordChanged::TYPE,
            SigninAlert::TYPE,
        ];
        for (email, event_type) in fixtures::every().into_iter().zip(types) {
            let data = serde_json::to_value(&email).unwrap();
            assert_eq!(
                AccountEmail::from_event(event_type, &data).unwrap(),
                Some(email.clone())
            );
            assert_eq!(
                AccountEmail::read(email.key(), &data).unwrap().unwrap(),
                email
            );
            assert_eq!(email.user_id(), fixtures::user_id());
            assert_eq!(email.address(), "ada@example.org");
        }
        let data = serde_json::to_value(fixtures::verification()).unwrap();
        assert!(AccountEmail::from_event("user.registered", &data)
            .unwrap()
            .is_none());
        assert!(AccountEmail::read("booked", &data).is_none());
        // The shape of one kind is not another's.
        assert!(AccountEmail::read(kinds::SIGNIN_ALERT, &data)
            .unwrap()
            .is_err());
    }

    #[test]
    fn debug_output_shows_neither_the_token_nor_the_address_nor_the_name() {
        for email in fixtures::every() {
            let shown = format!("{email:?}");
            assert!(
                !shown.contains("vt_3Jq9") && !shown.contains("rt_8Vn2"),
                "{shown}"
            );
            assert!(!shown.contains("ada@") && !shown.contains("Ada"), "{shown}");
            assert!(shown.contains(email.key()), "{shown}");
        }
    }

    #[test]
    fn portal_links_keep_a_path_prefix_and_encode_the_token() {
        let local = PortalUrl::local();
        assert_eq!(local.to_string(), "http://127.0.0.1:8080");
        assert_eq!(
            local.link(paths::VERIFY_EMAIL, Some("abc_-123")),
            "http://127.0.0.1:8080/verify-email?token=abc_-123"
        );
        let prefixed: PortalUrl = "https://clinic.example/carebook/".parse().unwrap();
        assert_eq!(
            prefixed.link(paths::RESET_CONFIRM, Some("a+b/c=&d")),
            "https://clinic.example/carebook/password-reset/confirm?token=a%2Bb%2Fc%3D%26d"
        );
        assert_eq!(
            prefixed.link(paths::LOGIN, None),
            "https://clinic.example/carebook/login"
        );
        assert_eq!(
            portal().link(paths::RESET, None),
            "https://portal.clinic.example/password-reset"
        );
    }

    #[test]
    fn token_pages_put_the_token_in_one_encoded_path_segment() {
        assert_eq!(
            portal().page(paths::WAITLIST_OFFER, "wo_Zk3r-x"),
            "https://portal.clinic.example/waitlist/offers/wo_Zk3r-x"
        );
        let prefixed: PortalUrl = "https://clinic.example/carebook/".parse().unwrap();
        assert_eq!(
            prefixed.page(paths::APPOINTMENT_LINK, "a/b?c#d e"),
            "https://clinic.example/carebook/appointment-links/a%2Fb%3Fc%23d%20e"
        );
    }

    #[test]
    fn only_absolute_http_urls_are_portal_urls() {
        for good in [
            "http://127.0.0.1:8080",
            "https://portal.clinic.example",
            " https://clinic.example/carebook ",
        ] {
            assert!(good.parse::<PortalUrl>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "portal.clinic.example",
            "/login",
            "ftp://portal.clinic.example",
            "javascript:alert(1)",
            "mailto:ada@example.org",
            "https://user:pass@portal.clinic.example",
            "https://portal.clinic.example/?next=x",
            "https://portal.clinic.example/#top",
            "http://",
        ] {
            assert!(bad.parse::<PortalUrl>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_verification_email_links_to_the_portal_with_its_token_and_says_when_it_expires() {
        let c = render(&AccountEmail::Verification(fixtures::verification()));
        assert!(c.calendar.is_none());
        let link = "https://portal.clinic.example/verify-email?token=vt_3Jq9-x_Yz";
        assert!(c.text.contains(&format!("\n{link}\n")), "{}", c.text);
        for body in [&c.text, &c.html] {
            assert!(body.contains("Hello Ada Patient,"), "{body}");
            assert!(body.contains("24 hours"), "{body}");
            assert!(body.contains("Wednesday 4 March 2026, 09:00 UTC"), "{body}");
            assert!(body.contains("only once"), "{body}");
        }
        assert!(
            c.html.contains(
                "href=\"https:&#x2f;&#x2f;portal.clinic.example&#x2f;verify-email?token=vt_3Jq9-x_Yz\""
            ),
            "{}",
            c.html
        );
    }

    #[test]
    fn a_reset_email_links_to_the_confirm_page_for_30_minutes() {
        let c = render(&AccountEmail::PasswordReset(fixtures::reset()));
        let link = "https://portal.clinic.example/password-reset/confirm?token=rt_8Vn2%2B%2F%3D%26";
        assert!(c.text.contains(&format!("\n{link}\n")), "{}", c.text);
        for body in [&c.text, &c.html] {
            assert!(body.contains("30 minutes"), "{body}");
            assert!(body.contains("Tuesday 3 March 2026, 09:30 UTC"), "{body}");
            assert!(body.contains("ignore this email"), "{body}");
        }
    }

    #[test]
    fn a_registration_attempt_offers_sign_in_and_reset_and_carries_no_token() {
        let c = render(&fixtures::every()[1]);
        for body in [&c.text, &c.html] {
            assert!(body.contains("already has a Carebook account"), "{body}");
            assert!(body.contains("Tuesday 3 March 2026, 09:00 UTC"), "{body}");
            assert!(!body.contains("token"), "{body}");
        }
        assert!(c.text.contains("https://portal.clinic.example/login\n"));
        assert!(c
            .text
            .contains("https://portal.clinic.example/password-reset\n"));
    }

    #[test]
    fn a_password_change_says_how_and_what_to_do_if_it_was_not_you() {
        let email = fixtures::every()[3].clone();
        let c = render(&email);
        for body in [&c.text, &c.html] {
            assert!(body.contains("Tuesday 3 March 2026, 09:10 UTC"), "{body}");
            assert!(body.contains("with a password-reset link"), "{body}");
            assert!(body.contains("other sessions"), "{body}");
            assert!(body.contains("contact the clinic"), "{body}");
        }
        let AccountEmail::PasswordChanged(mut changed) = email else {
            unreachable!()
        };
        changed.by_reset = false;
        let c = render(&AccountEmail::PasswordChanged(changed));
        assert!(c.text.contains("signed in to your account"), "{}", c.text);
        assert!(!c.text.contains("with a password-reset link"), "{}", c.text);
    }

    #[test]
    fn a_signin_alert_counts_failures_and_addresses_and_suggests_a_new_password_and_totp() {
        let c = render(&fixtures::every()[4]);
        for body in [&c.text, &c.html] {
            assert!(
                body.contains("40 failed sign-in attempts from 12 different network addresses since Tuesday 3 March 2026, 08:00 UTC"),
                "{body}"
            );
            assert!(body.contains("change your password"), "{body}");
            assert!(body.contains("two-step verification"), "{body}");
            assert!(!body.contains("token"), "{body}");
        }
        assert!(
            c.text.contains("https://portal.clinic.example/account\n"),
            "{}",
            c.text
        );
        let mut one = match fixtures::every().remove(4) {
            AccountEmail::SigninAlert(a) => a,
            _ => unreachable!(),
        };
        (one.failures, one.addresses) = (1, 1);
        let c = render(&AccountEmail::SigninAlert(one));
        assert!(
            c.text
                .contains("1 failed sign-in attempt from 1 network address since"),
            "{}",
            c.text
        );
    }

    #[test]
    fn names_are_escaped_in_html_and_cannot_forge_lines_in_text() {
        let mut v = fixtures::verification();
        v.name = "<script>x</script>\nBcc: all".into();
        let c = render(&AccountEmail::Verification(v.clone()));
        assert!(!c.html.contains("<script>"), "{}", c.html);
        assert!(
            c.text.contains("Hello <script>x</script> Bcc: all,"),
            "{}",
            c.text
        );
        v.name = "  ".into();
        let c = render(&AccountEmail::Verification(v));
        assert!(c.text.starts_with("Hello there,"), "{}", c.text);
    }

    #[test]
    fn links_expire_at_their_time() {
        let v = AccountEmail::Verification(fixtures::verification());
        let end = fixtures::verification().expires_at;
        assert!(!v.expired(end - chrono::Duration::seconds(1)));
        assert!(v.expired(end));
        // Notices have no link to expire.
        assert!(!fixtures::every()[3].expired(end + chrono::Duration::days(365)));
    }
}

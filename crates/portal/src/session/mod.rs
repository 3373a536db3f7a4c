//! Browser sessions: an opaque random id in an HttpOnly cookie, the state in
//! Redis under a hash of that id, encrypted under the portal's session key.
//! The state holds the user's API tokens (never sent to the browser), their
//! role and ids, the CSRF token of their forms, a one-time message for the
//! next page, and the secrets of a sign-in or an enrolment under way (the
//! login's second-step token, a new authenticator's secret), which therefore
//! never travel through the browser.

pub mod cookie;
pub mod csrf;
pub mod seal;
pub mod store;

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use platform::auth::Role;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use seal::SessionKeys;
pub use store::{SessionStore, StoreError};

/// A session id: 256 random bits, base64url. Only the browser has it; Redis
/// keys hold its SHA-256, so a Redis dump gives no usable cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// An id from a cookie; `None` unless it has the shape we issue.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the Redis key carries instead of the id.
    pub fn digest(&self) -> String {
        Sha256::digest(self.0.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// What a session remembers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionData {
    /// The synchronizer token every form and htmx request must echo.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    /// Set once the visitor logged in.
    pub user: Option<SignedIn>,
    /// Shown once, on the next page.
    pub flash: Option<Flash>,
    /// A login waiting for its second factor (the visitor is not signed in yet).
    #[serde(default)]
    pub pending_login: Option<PendingLogin>,
    /// An authenticator the signed-in user is setting up, until confirmed.
    #[serde(default)]
    pub totp_setup: Option<TotpSetup>,
    /// Slots held from this session's booking pages and not yet confirmed.
    #[serde(default)]
    pub holds: Vec<PendingHold>,
}

impl SessionData {
    /// A visitor's session before login: just a CSRF token for the login form.
    pub fn anonymous(now: DateTime<Utc>) -> Self {
        Self {
            csrf: csrf::new_token(),
            created_at: now,
            user: None,
            flash: None,
            pending_login: None,
            totp_setup: None,
            holds: Vec::new(),
        }
    }

    /// A fresh session for a user who just logged in (new id, new CSRF token:
    /// nothing from before the login carries over).
    pub fn signed_in(user: SignedIn, now: DateTime<Utc>) -> Self {
        Self {
            user: Some(user),
            ..Self::anonymous(now)
        }
    }
}

/// How many unconfirmed holds a session remembers (the API allows a patient 3).
const MAX_PENDING_HOLDS: usize = 5;

/// A slot this session held while someone confirms: `key` is the slot
/// button's one-time key, so pressing it twice opens the same hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingHold {
    pub key: Uuid,
    pub patient_id: Uuid,
    pub hold_id: Uuid,
}

impl SessionData {
    /// The hold made by the slot button with `key`, if this session made one.
    pub fn hold_for_key(&self, key: Uuid) -> Option<Uuid> {
        self.holds.iter().find(|h| h.key == key).map(|h| h.hold_id)
    }

    /// Forget the unconfirmed holds for `patient_id` (another time is being
    /// chosen for them) and return them, to be let go.
    pub fn take_holds_of(&mut self, patient_id: Uuid) -> Vec<Uuid> {
        let (theirs, others) = std::mem::take(&mut self.holds)
            .into_iter()
            .partition(|h| h.patient_id == patient_id);
        self.holds = others;
        theirs.into_iter().map(|h| h.hold_id).collect()
    }

    /// Remember a new hold (the oldest is forgotten past a few).
    pub fn remember_hold(&mut self, hold: PendingHold) {
        self.holds.retain(|h| h.hold_id != hold.hold_id);
        self.holds.push(hold);
        let extra = self.holds.len().saturating_sub(MAX_PENDING_HOLDS);
        self.holds.drain(..extra);
    }

    /// Forget a hold that was confirmed or let go.
    pub fn forget_hold(&mut self, hold_id: Uuid) {
        self.holds.retain(|h| h.hold_id != hold_id);
    }
}

/// The logged-in user.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignedIn {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub patient_id: Option<Uuid>,
    pub provider_id: Option<Uuid>,
    pub tokens: Tokens,
}

/// The user's API tokens; never logged, never sent to the browser.
#[derive(Clone, Serialize, Deserialize)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub access_expires_at: DateTime<Utc>,
}

impl Tokens {
    pub fn from_pair(pair: &crate::api::models::TokenPair, now: DateTime<Utc>) -> Self {
        let lifetime = i64::try_from(pair.expires_in).unwrap_or(0);
        Self {
            access: pair.access_token.clone(),
            refresh: pair.refresh_token.clone(),
            access_expires_at: now + chrono::Duration::seconds(lifetime),
        }
    }

    /// Refresh a little before expiry, so a token never lapses mid-request.
    pub fn needs_refresh(&self, now: DateTime<Utc>) -> bool {
        now + chrono::Duration::seconds(30) >= self.access_expires_at
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_expires_at", &self.access_expires_at)
            .finish_non_exhaustive()
    }
}

/// The password step of a login passed; the second factor is still to come.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The API's single-use step token; never sent to the browser.
    pub mfa_token: String,
    /// When the API stops accepting the step token.
    pub expires_at: DateTime<Utc>,
    /// Where to go once signed in.
    pub next: Option<String>,
    /// The account must set up an authenticator first: the one being set up.
    pub enrolment: Option<TotpSetup>,
}

impl PendingLogin {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("expires_at", &self.expires_at)
            .field("enrolling", &self.enrolment.is_some())
            .finish_non_exhaustive()
    }
}

/// A new authenticator's secret, shown until a code from it confirms it.
#[derive(Clone, Serialize, Deserialize)]
pub struct TotpSetup {
    /// Base32.
    pub secret: String,
    pub otpauth_uri: String,
}

impl fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSetup(..)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashKind {
    Success,
    Info,
}

/// A one-time message for the next page ("Appointment cancelled").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
}

impl Flash {
    pub fn success(text: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Success,
            text: text.into(),
        }
    }

    pub fn info(text: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Info,
            text: text.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_well_formed_and_stored_only_as_a_digest() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(a.digest().len(), 64);
        assert!(!a.digest().contains(a.as_str()));
        assert_eq!(format!("{a:?}"), "SessionId(..)");
    }

    #[test]
    fn ids_of_another_shape_are_refused() {
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
            &"é".repeat(43),
        ] {
            assert!(SessionId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tokens_refresh_shortly_before_they_expire_and_never_print() {
        let now: DateTime<Utc> = "2026-05-04T09:00:00Z".parse().unwrap();
        let tokens = Tokens {
            access: "secret-access".into(),
            refresh: "secret-refresh".into(),
            access_expires_at: now + chrono::Duration::minutes(10),
        };
        assert!(!tokens.needs_refresh(now));
        assert!(tokens.needs_refresh(now + chrono::Duration::seconds(571)));
        let printed = format!("{tokens:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }

    #[test]
    fn a_pending_login_expires_and_never_prints_its_secrets() {
        let now: DateTime<Utc> = "2026-05-04T09:00:00Z".parse().unwrap();
        let pending = PendingLogin {
            mfa_token: "secret-step".into(),
            expires_at: now + chrono::Duration::minutes(5),
            next: None,
            enrolment: Some(TotpSetup {
                secret: "SECRETBASE32".into(),
                otpauth_uri: "otpauth://totp/x?secret=SECRETBASE32".into(),
            }),
        };
        assert!(!pending.expired(now));
        assert!(pending.expired(now + chrono::Duration::minutes(5)));
        let printed = format!("{pending:?}");
        assert!(!printed.contains("secret-step"), "{printed}");
        assert!(!printed.contains("SECRET"), "{printed}");
    }

    #[test]
    fn sessions_stored_before_pending_logins_existed_still_load() {
        let json = r#"{"csrf":"c","created_at":"2026-05-04T09:00:00Z","user":null,"flash":null}"#;
        let data: SessionData = serde_json::from_str(json).unwrap();
        assert!(data.pending_login.is_none() && data.totp_setup.is_none());
        assert!(data.holds.is_empty());
    }

    #[test]
    fn a_new_time_for_a_patient_lets_their_earlier_holds_go() {
        let mut data = SessionData::anonymous(Utc::now());
        let id = Uuid::from_u128;
        let hold = |key, patient, hold_id| PendingHold {
            key: id(key),
            patient_id: id(patient),
            hold_id: id(hold_id),
        };
        data.remember_hold(hold(1, 10, 100));
        data.remember_hold(hold(2, 20, 200));
        assert_eq!(data.hold_for_key(id(1)), Some(id(100)));
        assert_eq!(data.take_holds_of(id(10)), vec![id(100)]);
        assert_eq!(data.hold_for_key(id(1)), None);
        assert_eq!(data.hold_for_key(id(2)), Some(id(200)));
        data.forget_hold(id(200));
        assert!(data.holds.is_empty());
        for n in 0..8 {
            data.remember_hold(hold(n, 10 + n, 100 + n));
        }
        assert_eq!(data.holds.len(), MAX_PENDING_HOLDS);
        assert_eq!(
            data.hold_for_key(id(7)),
            Some(id(107)),
            "the newest are kept"
        );
        assert_eq!(data.hold_for_key(id(0)), None);
    }

    #[test]
    fn logging_in_starts_over_with_a_new_csrf_token() {
        let now = Utc::now();
        let before = SessionData::anonymous(now);
        let user = SignedIn {
            user_id: Uuid::nil(),
            name: "P".into(),
            email: "p@example.test".into(),
            role: Role::Patient,
            patient_id: Some(Uuid::nil()),
            provider_id: None,
            tokens: Tokens {
                access: "a".into(),
                refresh: "r".into(),
                access_expires_at: now,
            },
        };
        let after = SessionData::signed_in(user, now);
        assert_ne!(before.csrf, after.csrf);
        assert!(after.user.is_some());
    }
}

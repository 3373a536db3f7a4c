//! What identity publishes.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{examples, Event, Role, Service};

/// `user.registered` v1: a new account. Carries the name and email so the
/// directory and notifications keep their own read models (event-carried state
/// transfer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub role: Role,
    pub name: String,
    pub email: String,
    /// The IANA time zone the person registered from (the portal sends the
    /// browser's), when known: emails show times in it first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl Event for UserRegistered {
    type Payload = Self;
    const TYPE: &'static str = "user.registered";
    const VERSION: u32 = 1;
    const PRODUCER: Service = Service::Identity;
    const SUMMARY: &'static str = "An account was created (a patient registered, or an admin created a provider or staff account).";

    fn example() -> Self {
        Self {
            user_id: crate::examples::PATIENT,
            role: Role::Patient,
            name: "Ada Patient".into(),
            email: "ada@example.org".into(),
            time_zone: Some("America/New_York".into()),
        }
    }
}

/// An email identity asks notifications to send about an account. Each names
/// the address and the holder's name (staff and admins are in no other read
/// model). A `token` is single-use and short-lived; identity keeps only its
/// hash, and notifications forgets the link once the email is sent.
macro_rules! account_event {
    ($(#[$doc:meta])* $name:ident = $key:literal: $summary:literal, sensitive: $sensitive:literal { $($field:ident: $ty:ty = $ex:expr),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        pub struct $name {
            pub user_id: Uuid,
            pub email: String,
            pub name: String,
            $(pub $field: $ty,)*
        }

        impl Event for $name {
            type Payload = Self;
            const TYPE: &'static str = $key;
            const VERSION: u32 = 1;
            const PRODUCER: Service = Service::Identity;
            const SUMMARY: &'static str = $summary;
            const SENSITIVE: bool = $sensitive;

            fn example() -> Self {
                Self {
                    user_id: examples::PATIENT,
                    email: "ada@example.org".into(),
                    name: "Ada Patient".into(),
                    $($field: $ex,)*
                }
            }
        }
    };
}

account_event! {
    /// `user.verification_requested` v1: a new address to confirm (24 h).
    VerificationRequested = "user.verification_requested":
        "A new account's address must be confirmed: email a single-use link.", sensitive: true {
        token: String = "vt_3Jq9…".into(),
        expires_at: DateTime<Utc> = examples::at(9, 0),
    }
}

account_event! {
    /// `user.registration_attempted` v1: someone tried to register with an
    /// address that has an account (the answer to them was the same 202).
    RegistrationAttempted = "user.registration_attempted":
        "Someone tried to register with an address that already has an account.", sensitive: false {
        at: DateTime<Utc> = examples::at(9, 0),
    }
}

account_event! {
    /// `user.password_reset_requested` v1: a single-use reset link (30 minutes).
    PasswordResetRequested = "user.password_reset_requested":
        "A password reset was asked for: email a single-use link.", sensitive: true {
        token: String = "rt_8Vn2…".into(),
        expires_at: DateTime<Utc> = examples::at(9, 0),
    }
}

account_event! {
    /// `user.password_changed` v1: the password changed (by the holder or by a
    /// reset); other sessions were signed out.
    PasswordChanged = "user.password_changed":
        "An account's password was changed; its other sessions were signed out.", sensitive: false {
        at: DateTime<Utc> = examples::at(9, 0),
        by_reset: bool = false,
    }
}

account_event! {
    /// `user.signin_alert` v1: many failed sign-ins against the account from
    /// many addresses (sent once per episode).
    SigninAlert = "user.signin_alert":
        "Unusual sign-in attempts against an account: tell its holder once.", sensitive: false {
        failures: u32 = 40,
        addresses: u32 = 12,
        since: DateTime<Utc> = examples::at(8, 0),
    }
}

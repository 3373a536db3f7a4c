//! Identity's errors and their problem+json form.
//!
//! Whatever a caller without the account's password can see never depends on
//! whether an account exists, is verified or is disabled: those answers come
//! only after the right password.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use platform::Problem;

use crate::domain::{
    admin::InvalidReason, name::InvalidName, time_zone::UnknownTimeZone, PasswordError,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The email is not a usable address.
    #[error("invalid email")]
    InvalidEmail,
    #[error("invalid name: {0}")]
    InvalidName(#[from] InvalidName),
    /// The time zone is not a tz database name.
    #[error("invalid time zone: {0}")]
    InvalidTimeZone(#[from] UnknownTimeZone),
    /// The password fails the policy (length, common list, contains email).
    #[error("weak password: {0}")]
    WeakPassword(#[from] PasswordError),
    /// The new password (of a reset or a change) fails the policy.
    #[error("weak new password: {0}")]
    WeakNewPassword(PasswordError),
    /// An account with this email exists (an administrator creating one; self-
    /// registration never says so).
    #[error("email taken")]
    EmailTaken,
    /// Self-registration is for patients; other roles are created by an admin.
    #[error("role requires admin")]
    RoleRequiresAdmin,
    /// Wrong email or password; deliberately not saying which.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The right password, but the address was never confirmed.
    #[error("email unverified")]
    EmailUnverified,
    /// The right password, but an administrator disabled the account.
    #[error("account disabled")]
    AccountDisabled,
    /// Too many failed sign-ins from this address (for this account, or for
    /// any); try again after the given seconds.
    #[error("too many attempts")]
    TooManyAttempts { retry_after: u64 },
    /// Unknown, expired or revoked refresh token.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// A refresh token was used twice: its whole family is now revoked.
    #[error("refresh token reused")]
    RefreshTokenReused,
    /// The session reached its end (a fixed time after the login): log in again.
    #[error("session expired")]
    SessionExpired,
    /// An emailed link's token is unknown, expired or used.
    #[error("invalid token")]
    InvalidToken,
    /// The login's MFA step token is unknown, expired or used.
    #[error("invalid mfa token")]
    InvalidMfaToken,
    /// The second-factor code is wrong (or was used already).
    #[error("invalid mfa code")]
    InvalidMfaCode,
    /// The second factor must be set up before it can be used.
    #[error("mfa enrolment required")]
    MfaEnrolmentRequired,
    /// TOTP is on already: turn it off first to enrol a new secret.
    #[error("mfa already enabled")]
    MfaAlreadyEnabled,
    /// There is no enrolment to confirm, or TOTP is not on.
    #[error("mfa not enabled")]
    MfaNotEnabled,
    /// The account's role must sign in with a second factor; it stays on.
    #[error("mfa required for role")]
    MfaRequiredForRole,
    /// The current password given to change it is wrong.
    #[error("wrong current password")]
    WrongCurrentPassword,
    /// An administrator tried to disable their own account.
    #[error("cannot disable self")]
    CannotDisableSelf,
    #[error("invalid reason: {0}")]
    InvalidReason(#[from] InvalidReason),
    /// A query parameter out of bounds.
    #[error("invalid query: {0}")]
    InvalidQuery(&'static str, String),
    /// The `cursor` did not come from a previous page.
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("user not found")]
    UserNotFound,
    #[error("session not found")]
    SessionNotFound,
    /// A backing service the request needs (Redis) cannot be reached.
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    #[error(transparent)]
    Problem(#[from] Problem),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Problem(Problem::from(e))
    }
}

impl From<crate::passwords::HashError> for Error {
    fn from(e: crate::passwords::HashError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        match e {
            Error::InvalidEmail => Problem::validation("Enter a valid email address.")
                .with_field("email", "not a valid email address"),
            Error::InvalidName(reason) => Problem::validation(reason.to_string()).with_field("name", reason.to_string()),
            Error::InvalidTimeZone(reason) => Problem::validation(format!("time_zone {reason}")).with_field("time_zone", reason.to_string()),
            Error::WeakPassword(reason) => Problem::new(S::UNPROCESSABLE_ENTITY, "weak-password", "Password does not meet the policy")
                .with_detail(reason.to_string())
                .with_field("password", reason.to_string()),
            Error::WeakNewPassword(reason) => Problem::new(S::UNPROCESSABLE_ENTITY, "weak-password", "Password does not meet the policy")
                .with_detail(reason.to_string())
                .with_field("new_password", reason.to_string()),
            Error::EmailTaken => Problem::conflict("email-taken", "Email already registered")
                .with_detail("An account with this email exists."),
            Error::RoleRequiresAdmin => Problem::new(S::FORBIDDEN, "role-requires-admin", "Role requires an administrator")
                .with_detail("Only patients register themselves; an administrator creates provider and staff accounts."),
            Error::InvalidCredentials => Problem::new(S::UNAUTHORIZED, "invalid-credentials", "Invalid credentials")
                .with_detail("The email or password is wrong."),
            Error::EmailUnverified => Problem::new(S::FORBIDDEN, "email-unverified", "Email address not verified")
                .with_detail("Open the link we emailed you to confirm your address, or ask for a new one."),
            Error::AccountDisabled => Problem::new(S::FORBIDDEN, "account-disabled", "Account disabled")
                .with_detail("This account has been disabled; contact the clinic."),
            Error::TooManyAttempts { retry_after } => Problem::new(S::TOO_MANY_REQUESTS, "too-many-attempts", "Too many failed attempts")
                .with_detail("Too many failed sign-ins from your address; wait and try again.")
                .with_retry_after(retry_after),
            Error::InvalidRefreshToken => Problem::new(S::UNAUTHORIZED, "invalid-refresh-token", "Invalid refresh token")
                .with_detail("The refresh token is unknown, expired or revoked; log in again."),
            Error::RefreshTokenReused => Problem::new(S::UNAUTHORIZED, "refresh-token-reused", "Refresh token reused")
                .with_detail("This refresh token was already used; every session of this login was signed out. Log in again."),
            Error::SessionExpired => Problem::new(S::UNAUTHORIZED, "session-expired", "Session expired")
                .with_detail("Sessions end a fixed time after the login; log in again."),
            Error::InvalidToken => Problem::new(S::BAD_REQUEST, "invalid-token", "Invalid or expired link")
                .with_detail("The link is unknown, expired or already used; ask for a new one."),
            Error::InvalidMfaToken => Problem::new(S::UNAUTHORIZED, "invalid-mfa-token", "Invalid or expired sign-in step")
                .with_detail("The second step of this sign-in expired or was used; log in again."),
            Error::InvalidMfaCode => Problem::new(S::UNAUTHORIZED, "invalid-mfa-code", "Invalid code")
                .with_detail("The code is wrong or was used already; enter the current code from your app, or a recovery code."),
            Error::MfaEnrolmentRequired => Problem::new(S::FORBIDDEN, "mfa-enrolment-required", "Second factor not set up")
                .with_detail("Set up an authenticator app first (POST /api/v1/auth/mfa/totp, then /confirm)."),
            Error::MfaAlreadyEnabled => Problem::conflict("mfa-already-enabled", "Second factor already on")
                .with_detail("Turn the authenticator off before enrolling a new one."),
            Error::MfaNotEnabled => Problem::conflict("mfa-not-enabled", "No authenticator to confirm or turn off")
                .with_detail("Start an enrolment first (POST /api/v1/auth/mfa/totp)."),
            Error::MfaRequiredForRole => Problem::new(S::FORBIDDEN, "mfa-required", "Second factor required")
                .with_detail("Your role must sign in with a second factor; it cannot be turned off."),
            Error::WrongCurrentPassword => Problem::new(S::FORBIDDEN, "invalid-current-password", "Current password is wrong")
                .with_detail("Enter your current password to change it.")
                .with_field("current_password", "is wrong"),
            Error::CannotDisableSelf => Problem::conflict("cannot-disable-self", "Cannot disable your own account")
                .with_detail("Ask another administrator."),
            Error::InvalidReason(reason) => Problem::validation(reason.to_string()).with_field("reason", reason.to_string()),
            Error::InvalidQuery(field, message) => Problem::validation(format!("{field} {message}")).with_field(field, message),
            Error::InvalidCursor => Problem::new(S::BAD_REQUEST, "invalid-cursor", "Invalid cursor")
                .with_detail("Pass the `next_cursor` of a previous page unchanged."),
            Error::UserNotFound => Problem::not_found("user"),
            Error::SessionNotFound => Problem::not_found("session"),
            Error::Unavailable(what) => Problem::unavailable(what),
            Error::Problem(p) => p,
            Error::Internal(cause) => Problem::internal(&cause),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

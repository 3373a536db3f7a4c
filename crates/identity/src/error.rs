//! Identity's errors and their problem+json form.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use platform::Problem;

use crate::domain::{name::InvalidName, PasswordError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The email is not a usable address.
    #[error("invalid email")]
    InvalidEmail,
    #[error("invalid name: {0}")]
    InvalidName(#[from] InvalidName),
    /// The password fails the policy (length, common list, contains email).
    #[error("weak password: {0}")]
    WeakPassword(#[from] PasswordError),
    /// An account with this email exists.
    #[error("email taken")]
    EmailTaken,
    /// Self-registration is for patients; other roles are created by an admin.
    #[error("role requires admin")]
    RoleRequiresAdmin,
    /// Wrong email or password; deliberately not saying which.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failures for this email; try again after the given seconds.
    #[error("login locked")]
    LoginLocked { retry_after: u64 },
    /// Unknown, expired or revoked refresh token.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// A refresh token was used twice: its whole family is now revoked.
    #[error("refresh token reused")]
    RefreshTokenReused,
    #[error("user not found")]
    UserNotFound,
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

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        match e {
            Error::InvalidEmail => Problem::validation("Enter a valid email address.")
                .with_field("email", "not a valid email address"),
            Error::InvalidName(reason) => Problem::validation(reason.to_string()).with_field("name", reason.to_string()),
            Error::WeakPassword(reason) => Problem::new(S::UNPROCESSABLE_ENTITY, "weak-password", "Password does not meet the policy")
                .with_detail(reason.to_string())
                .with_field("password", reason.to_string()),
            Error::EmailTaken => Problem::conflict("email-taken", "Email already registered")
                .with_detail("An account with this email exists; log in or reset the password."),
            Error::RoleRequiresAdmin => Problem::new(S::FORBIDDEN, "role-requires-admin", "Role requires an administrator")
                .with_detail("Only patients register themselves; an administrator creates provider and staff accounts."),
            Error::InvalidCredentials => Problem::new(S::UNAUTHORIZED, "invalid-credentials", "Invalid credentials")
                .with_detail("The email or password is wrong."),
            Error::LoginLocked { retry_after } => Problem::new(S::TOO_MANY_REQUESTS, "login-locked", "Too many failed logins")
                .with_detail("Too many failed attempts for this email; wait and try again.")
                .with_retry_after(retry_after),
            Error::InvalidRefreshToken => Problem::new(S::UNAUTHORIZED, "invalid-refresh-token", "Invalid refresh token")
                .with_detail("The refresh token is unknown, expired or revoked; log in again."),
            Error::RefreshTokenReused => Problem::new(S::UNAUTHORIZED, "refresh-token-reused", "Refresh token reused")
                .with_detail("This refresh token was already used; every session of this login was signed out. Log in again."),
            Error::UserNotFound => Problem::not_found("user"),
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

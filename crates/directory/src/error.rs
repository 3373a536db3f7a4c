//! The directory's errors and their problem+json form.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use platform::Problem;

use crate::domain::{search::SearchError, Violations};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more fields are invalid (each is listed in `errors`).
    #[error("invalid request")]
    Invalid(Violations),
    /// The `cursor` did not come from a previous page.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The caller's role or identity does not allow this.
    #[error("forbidden")]
    Forbidden,
    /// No provider with this id (also: an unknown preferred provider).
    #[error("provider not found")]
    ProviderNotFound,
    /// No patient profile with this id (yet: profiles follow registration by moments).
    #[error("patient not found")]
    PatientNotFound,
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

impl From<Violations> for Error {
    fn from(v: Violations) -> Self {
        Error::Invalid(v)
    }
}

impl From<SearchError> for Error {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Invalid(v) => Error::Invalid(v),
            SearchError::Cursor(_) => Error::InvalidCursor,
        }
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(violations) => violations.iter().fold(
                Problem::validation("One or more fields are not valid; see `errors`."),
                |p, v| p.with_field(v.field.clone(), v.message.clone()),
            ),
            Error::InvalidCursor => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid-cursor", "Invalid cursor")
                    .with_detail("Pass the `next_cursor` of a previous page unchanged.")
            }
            Error::Forbidden => Problem::forbidden(),
            Error::ProviderNotFound => {
                Problem::new(StatusCode::NOT_FOUND, "provider-not-found", "Provider not found")
                    .with_detail("No provider with this id.")
            }
            Error::PatientNotFound => {
                Problem::new(StatusCode::NOT_FOUND, "patient-not-found", "Patient not found")
                    .with_detail("No patient profile with this id; a new account's profile appears moments after registration.")
            }
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

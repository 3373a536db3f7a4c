//! Records' errors and their problem+json form. Nothing clinical ever reaches
//! a problem body or a log line: ids and codes only.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use platform::Problem;

use crate::domain::entries::{ParseError, Violations};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The same answer whether or not the patient exists: no existence oracle.
    #[error("forbidden")]
    Forbidden,
    /// A provider with only break-glass (no open care window) tried to write:
    /// break-glass is read-only.
    #[error("care relationship required")]
    CareRelationshipRequired,
    /// The provider had as many break-glass grants in the last 24 hours as
    /// allowed; another fits in `retry_after` seconds.
    #[error("break-glass limit reached")]
    BreakGlassLimit { retry_after: u64 },
    #[error("break-glass grant not found")]
    GrantNotFound,
    /// A break-glass grant is reviewed once.
    #[error("already reviewed")]
    AlreadyReviewed,
    #[error("patient not found")]
    PatientNotFound,
    #[error("entry not found")]
    EntryNotFound,
    #[error("no such record kind")]
    UnknownKind,
    #[error("invalid entry")]
    Invalid(Vec<(String, String)>),
    /// Not the fields of the kind, or values of the wrong type.
    #[error("invalid body")]
    InvalidBody(String),
    #[error("entry entered in error")]
    EnteredInError,
    /// Someone else added a version first.
    #[error("version conflict")]
    VersionConflict,
    /// `If-Match` named another version than the latest.
    #[error("precondition failed")]
    PreconditionFailed,
    /// Stored content failed authentication (tampering, a wrong or missing key).
    #[error("record integrity error")]
    Integrity,
    #[error("keys unavailable")]
    KeysUnavailable,
    #[error(transparent)]
    Problem(#[from] Problem),
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![(field.to_owned(), message.into())])
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Problem(Problem::from(e))
    }
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::Shape(message) => Error::InvalidBody(message),
            ParseError::Invalid(Violations(v)) => Error::Invalid(v),
        }
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::Forbidden => Problem::forbidden(),
            Error::CareRelationshipRequired => Problem::new(
                StatusCode::FORBIDDEN,
                "care-relationship-required",
                "Care relationship required",
            )
            .with_detail("Break-glass access is read-only: writing to this record needs a care relationship (an appointment with the patient)."),
            Error::BreakGlassLimit { retry_after } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "break-glass-limit",
                "Break-glass limit reached",
            )
            .with_detail("Break-glass was granted to you as often as allowed in 24 hours; try again after Retry-After seconds, or ask a colleague with a care relationship.")
            .with_retry_after(retry_after),
            Error::GrantNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "break-glass-not-found",
                "Break-glass grant not found",
            )
            .with_detail("No break-glass grant with this id."),
            Error::AlreadyReviewed => Problem::conflict("already-reviewed", "Already reviewed")
                .with_detail("This break-glass grant has been reviewed; a review is final."),
            Error::PatientNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "patient-not-found",
                "Patient not found",
            )
            .with_detail("No patient with this id."),
            Error::EntryNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "entry-not-found",
                "Entry not found",
            )
            .with_detail("This patient's record has no such entry of this kind."),
            Error::UnknownKind => Problem::not_found("route"),
            Error::Invalid(fields) => {
                let summary = fields
                    .iter()
                    .map(|(f, m)| format!("{f}: {m}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                fields.into_iter().fold(
                    Problem::validation(summary),
                    |p, (field, message)| p.with_field(field, message),
                )
            }
            Error::InvalidBody(message) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-body",
                "The body does not have the expected fields",
            )
            .with_detail(message),
            Error::EnteredInError => Problem::conflict(
                "entry-entered-in-error",
                "Entry entered in error",
            )
            .with_detail("This entry was marked entered in error; record a new entry instead."),
            Error::VersionConflict => Problem::conflict("version-conflict", "Version conflict")
                .with_detail("Another version of this entry was written at the same time; read it and retry."),
            Error::PreconditionFailed => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "version-mismatch",
                "Not the latest version",
            )
            .with_detail("If-Match names a version that is no longer the latest; read the entry again."),
            Error::Integrity => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "record-integrity-error",
                "Record integrity error",
            )
            .with_detail("A stored record failed its integrity check. It has been reported; nothing was returned."),
            Error::KeysUnavailable => {
                Problem::unavailable("Record keys cannot be reached right now.")
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

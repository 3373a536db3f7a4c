//! Notifications' errors and their problem+json form.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use platform::Problem;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query parameter failed validation.
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The provider has no calendar feed, or the feed URL's token is unknown
    /// or was replaced (which of these is never said).
    #[error("calendar feed not found")]
    FeedNotFound,
    #[error(transparent)]
    Problem(#[from] Problem),
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Problem(Problem::from(e))
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid { field, message } => {
                Problem::validation(format!("{field}: {message}")).with_field(field, message)
            }
            Error::FeedNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "calendar-feed-not-found",
                "Calendar feed not found",
            )
            .with_detail("No calendar feed here: it may have been replaced or deleted."),
            Error::Problem(p) => p,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

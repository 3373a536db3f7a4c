//! Scheduling's errors and their problem+json form.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use platform::Problem;

use crate::domain::{
    availability::InvalidAvailability,
    lifecycle::{Action, IllegalTransition, TooEarly},
    slots::Unbookable,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("provider not found")]
    ProviderNotFound,
    #[error("appointment type not found")]
    TypeNotFound,
    #[error("appointment not found")]
    AppointmentNotFound,
    #[error("patient not found")]
    PatientNotFound,
    /// The provider has no time off with this id.
    #[error("time off not found")]
    TimeOffNotFound,
    /// The provider has no override on this date.
    #[error("date override not found")]
    OverrideNotFound,
    /// The requested start breaks a booking rule (each rule its own problem type).
    #[error(transparent)]
    Unbookable(#[from] Unbookable),
    /// Another active appointment holds the provider's time (the exclusion constraint said so).
    #[error("slot taken")]
    SlotTaken,
    /// The patient already has an appointment overlapping this one.
    #[error("patient double booked")]
    PatientDoubleBooked,
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// A visit step before its time (check-in before the hour before the
    /// start; complete or no-show before the start).
    #[error(transparent)]
    TooEarly(#[from] TooEarly),
    /// The same Idempotency-Key was sent with a different request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    #[error(transparent)]
    InvalidAvailability(#[from] InvalidAvailability),
    /// A field failed validation.
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Problem(#[from] Problem),
    #[error("internal: {0}")]
    Internal(String),
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

impl From<crate::store::appointments::WriteError> for Error {
    fn from(e: crate::store::appointments::WriteError) -> Self {
        use crate::store::appointments::WriteError as W;
        match e {
            W::ProviderOverlap => Error::SlotTaken,
            W::PatientOverlap => Error::PatientDoubleBooked,
            W::Contended => Error::Problem(
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "booking-contended",
                    "Booking clashed with another",
                )
                .with_detail("Another booking for the same time was in progress; retry.")
                .with_retry_after(1),
            ),
            W::Db(e) => e.into(),
        }
    }
}

fn unprocessable(kind: &'static str, title: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, kind, title).with_detail(detail)
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::ProviderNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "provider-not-found",
                "Provider not found",
            )
            .with_detail("No provider with this id."),
            Error::TypeNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "appointment-type-not-found",
                "Appointment type not found",
            )
            .with_detail("This provider offers no appointment type with this id."),
            Error::AppointmentNotFound => Problem::not_found("appointment"),
            Error::PatientNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "patient-not-found",
                "Patient not found",
            )
            .with_detail("No patient with this id."),
            Error::TimeOffNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "time-off-not-found",
                "Time off not found",
            )
            .with_detail("This provider has no time off with this id."),
            Error::OverrideNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "date-override-not-found",
                "Date override not found",
            )
            .with_detail("This provider has no override on this date; the weekly hours apply."),
            Error::Unbookable(u) => match u {
                Unbookable::InPast => unprocessable(
                    "start-in-past",
                    "The start is in the past",
                    "Pick a time in the future.",
                ),
                Unbookable::InsideMinimumNotice => unprocessable(
                    "inside-minimum-notice",
                    "Too short notice",
                    "This appointment type must be booked further in advance.",
                ),
                Unbookable::BeyondHorizon => unprocessable(
                    "beyond-booking-horizon",
                    "Too far ahead",
                    "This appointment type cannot be booked that far in advance.",
                ),
                Unbookable::NotOnGrid => unprocessable(
                    "not-on-slot-grid",
                    "Not a slot start",
                    "Appointments start on the slot grid; pick a start from the free slots.",
                ),
                Unbookable::OutsideAvailability => unprocessable(
                    "outside-availability",
                    "Provider not available",
                    "The provider does not work at that time.",
                ),
            },
            Error::SlotTaken => Problem::conflict("slot-taken", "Slot taken")
                .with_detail("Someone booked this time first; pick another slot."),
            Error::PatientDoubleBooked => {
                Problem::conflict("patient-double-booked", "Overlapping appointment")
                    .with_detail("The patient already has an appointment at that time.")
            }
            Error::IllegalTransition(t) => {
                Problem::conflict("illegal-transition", "Not possible in the current state")
                    .with_detail(format!(
                        "The appointment is {}; that change is not possible.",
                        t.from.as_str()
                    ))
            }
            Error::TooEarly(t) => {
                let step = match t.action {
                    Action::CheckIn => "Check-in opens an hour before the start",
                    Action::Complete => "A visit can be completed once it has started",
                    Action::MarkNoShow => "A no-show can be recorded once the start has passed",
                    Action::Cancel | Action::Reschedule => "This change is not possible yet",
                };
                Problem::conflict("too-early", "Too early").with_detail(format!(
                    "{step}: possible from {}.",
                    t.opens.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ))
            }
            Error::IdempotencyKeyReused => unprocessable(
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "This Idempotency-Key was already used for a different request.",
            ),
            Error::InvalidAvailability(reason) => Problem::validation(reason.to_string())
                .with_field("availability", reason.to_string()),
            Error::Invalid { field, message } => {
                Problem::validation(format!("{field}: {message}")).with_field(field, message)
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

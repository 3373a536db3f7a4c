//! Scheduling's errors and their problem+json form.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use platform::Problem;

use crate::domain::{
    availability::InvalidAvailability,
    holds::Unconvertible,
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
    /// No hold with this id that the caller may see.
    #[error("hold not found")]
    HoldNotFound,
    /// The hold lapsed (or was released) before it was booked.
    #[error("hold expired")]
    HoldExpired,
    /// A booking with a `hold_id` asked for another provider, type or start.
    #[error("the booking does not match its hold")]
    HoldMismatch,
    /// The hold was booked already: it is an appointment now.
    #[error("hold converted")]
    HoldConverted,
    /// The patient already holds as many slots as allowed.
    #[error("too many holds")]
    HoldLimit,
    #[error("waitlist entry not found")]
    WaitlistEntryNotFound,
    /// The patient already waits in as many entries as allowed.
    #[error("too many waitlist entries")]
    WaitlistLimit,
    /// No offer with this token for the caller.
    #[error("offer not found")]
    OfferNotFound,
    /// The offer lapsed, was declined or withdrawn: the slot went on.
    #[error("offer expired")]
    OfferExpired,
    /// The offer was claimed already.
    #[error("offer claimed")]
    OfferClaimed,
    /// Not a link scheduling signed (malformed, altered, or for another action).
    #[error("link not found")]
    LinkNotFound,
    /// A genuine link that no longer works: used, past the start, or the
    /// appointment changed since.
    #[error("link expired")]
    LinkExpired,
    /// A change of the hours would strand these booked appointments, and the
    /// request did not say what to do with them (`on_conflict`).
    #[error("availability change strands {} appointments", .0.len())]
    AvailabilityConflicts(Vec<crate::calendar::Stranded>),
    /// No series with this id that the caller may see.
    #[error("series not found")]
    SeriesNotFound,
    /// An `all_or_nothing` series with occurrences that could not be booked:
    /// every occurrence, with what it got.
    #[error("series conflicts")]
    SeriesConflicts(Vec<crate::series::Occurrence>),
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

impl From<Unconvertible> for Error {
    fn from(e: Unconvertible) -> Self {
        match e {
            Unconvertible::NotTheirs => Error::HoldNotFound,
            Unconvertible::Mismatch => Error::HoldMismatch,
            Unconvertible::Expired => Error::HoldExpired,
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
                Unbookable::DailyCapReached => Problem::conflict(
                    "daily-cap-reached",
                    "Day fully booked",
                )
                .with_detail("The provider takes no more appointments (of this type) that day; pick another day."),
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
            Error::HoldNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "hold-not-found",
                "Hold not found",
            )
            .with_detail("No hold with this id."),
            Error::HoldExpired => Problem::conflict("hold-expired", "Hold expired").with_detail(
                "The hold on this slot lapsed before it was booked; pick a slot again.",
            ),
            Error::HoldMismatch => unprocessable(
                "hold-mismatch",
                "Not the held slot",
                "A booking with hold_id must be for the held provider, appointment type and start.",
            ),
            Error::HoldConverted => Problem::conflict("hold-converted", "Already booked")
                .with_detail("This hold was booked; the appointment has its id. Cancel the appointment instead."),
            Error::HoldLimit => Problem::conflict("hold-limit-reached", "Too many holds").with_detail(
                format!(
                    "A patient can hold at most {} slots at once; book or release one first.",
                    crate::domain::holds::MAX_LIVE_HOLDS_PER_PATIENT
                ),
            ),
            Error::WaitlistEntryNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "waitlist-entry-not-found",
                "Waitlist entry not found",
            )
            .with_detail("No waitlist entry with this id."),
            Error::WaitlistLimit => Problem::conflict(
                "waitlist-limit-reached",
                "Too many waitlist entries",
            )
            .with_detail(format!(
                "A patient can wait in at most {} entries at once; leave one first.",
                crate::domain::waitlist::MAX_ACTIVE_ENTRIES_PER_PATIENT
            )),
            Error::OfferNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "offer-not-found",
                "Offer not found",
            )
            .with_detail("No waitlist offer for you with this link."),
            Error::OfferExpired => Problem::new(
                StatusCode::GONE,
                "offer-expired",
                "Offer expired",
            )
            .with_detail("This offer is no longer open: the slot was passed on. You stay on the waitlist."),
            Error::OfferClaimed => Problem::conflict("offer-claimed", "Offer claimed")
                .with_detail("This offer was claimed already; the appointment is in your list."),
            Error::LinkNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "link-not-found",
                "Link not valid",
            )
            .with_detail("This link is not valid for this action."),
            Error::LinkExpired => Problem::new(
                StatusCode::GONE,
                "link-expired",
                "Link no longer works",
            )
            .with_detail(
                "This link was used, the appointment has started, or it changed since the email was sent.",
            ),
            Error::AvailabilityConflicts(conflicts) => availability_conflicts(conflicts.len()),
            Error::SeriesNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "series-not-found",
                "Series not found",
            )
            .with_detail("No appointment series with this id."),
            Error::SeriesConflicts(occurrences) => series_conflicts(&occurrences),
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

/// The problem of [`Error::AvailabilityConflicts`], without its list.
fn availability_conflicts(count: usize) -> Problem {
    Problem::conflict("availability-conflicts", "Booked appointments in the way")
        .with_detail(format!(
            "This change would leave {count} booked appointment(s) outside the hours (listed in `conflicts`). \
             Send it again with `on_conflict`: `{{\"cancel_conflicts\": {{\"reason\": …}}}}` to cancel them \
             (patients are told, no fee) or `\"keep\"` to keep them."
        ))
}

/// The problem of [`Error::SeriesConflicts`], without its list.
fn series_conflicts(occurrences: &[crate::series::Occurrence]) -> Problem {
    let refused = occurrences
        .iter()
        .filter(|o| o.not_booked.is_some())
        .count();
    Problem::conflict("series-conflicts", "Not every occurrence can be booked").with_detail(
        format!(
            "{refused} of {} occurrences cannot be booked (each with its problem in `occurrences`), \
             so none was. Pick another start, or send it without `all_or_nothing` to book the others.",
            occurrences.len()
        ),
    )
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        // The problems with a member of their own: what is in the way.
        match self {
            Error::AvailabilityConflicts(conflicts) => with_member(
                availability_conflicts(conflicts.len()),
                "conflicts",
                serde_json::to_value(&conflicts),
            ),
            Error::SeriesConflicts(occurrences) => with_member(
                series_conflicts(&occurrences),
                "occurrences",
                serde_json::to_value(&occurrences),
            ),
            other => Problem::from(other).into_response(),
        }
    }
}

/// `problem` as problem+json with the extension member `name`.
fn with_member(
    problem: Problem,
    name: &str,
    value: Result<serde_json::Value, serde_json::Error>,
) -> Response {
    let mut body = match serde_json::to_value(problem.body()) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    body.insert(name.to_owned(), value.unwrap_or_default());
    let mut response = (problem.status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/problem+json"),
    );
    response
}

//! What scheduling publishes: one event per appointment change, all carrying
//! the whole appointment as it is after the change, so downstream services
//! never call back.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{examples, Money, Service};

/// An appointment's status.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    CheckedIn,
    Completed,
    Cancelled,
    NoShow,
}

impl AppointmentStatus {
    pub const ALL: [AppointmentStatus; 5] = [
        AppointmentStatus::Booked,
        AppointmentStatus::CheckedIn,
        AppointmentStatus::Completed,
        AppointmentStatus::Cancelled,
        AppointmentStatus::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Booked => "booked",
            AppointmentStatus::CheckedIn => "checked_in",
            AppointmentStatus::Completed => "completed",
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::NoShow => "no_show",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Booked or checked in: the appointment holds its time, and care is
    /// ahead or under way.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Booked | AppointmentStatus::CheckedIn
        )
    }
}

/// In person or by video.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    InPerson,
    Telehealth,
}

/// The payload of every `appointment.*` v1 event: the appointment after the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Appointment {
    pub appointment_id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub appointment_type_name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The provider's IANA time zone, for showing local times.
    pub time_zone: String,
    pub mode: Mode,
    pub price: Money,
    pub status: AppointmentStatus,
    /// Increases with every change (iCalendar SEQUENCE); an older event never
    /// overrides a newer one.
    pub version: i32,
    /// Rescheduled: where it was before. A reschedule inside the cancellation
    /// window is also `late` with the late-cancellation `fee`, unless staff waived it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_end: Option<DateTime<Utc>>,
    /// Cancelled / no-show: the reason given (free text: never logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Cancelled inside the type's cancellation window.
    #[serde(default)]
    pub late: bool,
    /// Late cancellations and no-shows of a type with a fee: the fee owed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<Money>,
    /// The user who made the change.
    pub changed_by: Uuid,
}

/// The routing keys of every appointment event.
pub const APPOINTMENT_EVENTS: [&str; 6] = [
    "appointment.booked",
    "appointment.rescheduled",
    "appointment.cancelled",
    "appointment.checked_in",
    "appointment.completed",
    "appointment.no_show",
];

fn example(event_type: &str) -> Appointment {
    let status = match event_type {
        "appointment.cancelled" => AppointmentStatus::Cancelled,
        "appointment.checked_in" => AppointmentStatus::CheckedIn,
        "appointment.completed" => AppointmentStatus::Completed,
        "appointment.no_show" => AppointmentStatus::NoShow,
        _ => AppointmentStatus::Booked,
    };
    let charged = matches!(
        status,
        AppointmentStatus::Cancelled | AppointmentStatus::NoShow
    );
    let moved = event_type == "appointment.rescheduled";
    Appointment {
        appointment_id: examples::APPOINTMENT,
        patient_id: examples::PATIENT,
        provider_id: examples::PROVIDER,
        appointment_type_id: examples::APPOINTMENT_TYPE,
        appointment_type_name: "Consultation".into(),
        start: examples::at(9, 0),
        end: examples::at(9, 30),
        time_zone: "Europe/Berlin".into(),
        mode: Mode::InPerson,
        price: Money {
            amount_minor: 6000,
            currency: "EUR".into(),
        },
        status,
        version: if status == AppointmentStatus::Booked && !moved {
            1
        } else {
            2
        },
        previous_start: moved.then(|| examples::at(8, 0)),
        previous_end: moved.then(|| examples::at(8, 30)),
        reason: charged.then(|| "Feeling better".into()),
        late: charged,
        fee: charged.then(|| Money {
            amount_minor: 2500,
            currency: "EUR".into(),
        }),
        changed_by: examples::PATIENT,
    }
}

family! {
    Appointment, Service::Scheduling, example;
    /// `appointment.booked` v1.
    AppointmentBooked = "appointment.booked" version 1: "A patient (or staff for them) booked an appointment.";
    /// `appointment.rescheduled` v1: same id, new time, `previous_*` set.
    AppointmentRescheduled = "appointment.rescheduled" version 1: "A booked appointment moved to another time.";
    /// `appointment.cancelled` v1: `late` and `fee` say what the policy charges.
    AppointmentCancelled = "appointment.cancelled" version 1: "A booked appointment was cancelled.";
    /// `appointment.checked_in` v1.
    AppointmentCheckedIn = "appointment.checked_in" version 1: "The patient arrived and was checked in.";
    /// `appointment.completed` v1: billing invoices the type's price.
    AppointmentCompleted = "appointment.completed" version 1: "The visit took place.";
    /// `appointment.no_show` v1: `fee` is the no-show fee, if the type has one.
    AppointmentNoShow = "appointment.no_show" version 1: "The patient did not come.";
}

//! What scheduling publishes: one event per appointment change, all carrying
//! the whole appointment as it is after the change, so downstream services
//! never call back; the holds that keep a slot for a patient for a few
//! minutes, the waitlist and its offers, and the signed self-service links of
//! each appointment version (the last two sensitive: they carry tokens).

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
    /// When to remind the patient, in minutes before the start, as the
    /// appointment type says (empty: no reminders); absent: the clinic's
    /// default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_offsets_minutes: Option<Vec<u32>>,
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
        reminder_offsets_minutes: Some(vec![1440, 120]),
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

/// The payload of every `hold.*` v1 event: a slot kept for one patient, while
/// they confirm a booking or while a waitlist offer to them stands. A hold
/// that is converted becomes the appointment under the same id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Hold {
    pub hold_id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// When the hold lapses unless converted (never after `start`).
    pub expires_at: DateTime<Utc>,
    /// A waitlist offer's hold: the entry it was offered to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waitlist_entry_id: Option<Uuid>,
    /// `hold.converted`: the appointment it became (the hold's own id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment_id: Option<Uuid>,
    /// The user who made the change (`None` for `hold.expired`: the clock did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<Uuid>,
}

/// The routing keys of every hold event.
pub const HOLD_EVENTS: [&str; 4] = [
    "hold.created",
    "hold.released",
    "hold.expired",
    "hold.converted",
];

fn hold_example(event_type: &str) -> Hold {
    let offered = event_type == "hold.expired";
    Hold {
        hold_id: examples::APPOINTMENT,
        patient_id: examples::PATIENT,
        provider_id: examples::PROVIDER,
        appointment_type_id: examples::APPOINTMENT_TYPE,
        start: examples::at(9, 0),
        end: examples::at(9, 30),
        expires_at: examples::at(8, 10),
        waitlist_entry_id: offered.then_some(examples::ENTRY),
        appointment_id: (event_type == "hold.converted").then_some(examples::APPOINTMENT),
        changed_by: (!offered).then_some(examples::PATIENT),
    }
}

family! {
    Hold, Service::Scheduling, hold_example;
    /// `hold.created` v1.
    HoldCreated = "hold.created" version 1: "A slot was held for a patient while they confirm, or for a waitlist offer to them.";
    /// `hold.released` v1.
    HoldReleased = "hold.released" version 1: "A hold was given up before it lapsed; the slot is free again.";
    /// `hold.expired` v1.
    HoldExpired = "hold.expired" version 1: "A hold lapsed without being booked; the slot is free again.";
    /// `hold.converted` v1: `appointment.booked` follows for the same id.
    HoldConverted = "hold.converted" version 1: "A hold became the appointment booked on it.";
}

/// The payload of `waitlist.joined`, `waitlist.fulfilled` and `waitlist.left`
/// v1: a patient's wish for an earlier slot, as it is after the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WaitlistEntry {
    pub entry_id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    /// One provider's slots, or (with `specialty`) any provider of the specialty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specialty: Option<String>,
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    /// `mon` … `sun` in the provider's time zone; empty: any day.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// A local `HH:MM` time-of-day window the slot must lie in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_of_day_start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_of_day_end: Option<String>,
    /// Higher goes first; equal priorities first come, first served.
    pub priority: i32,
    /// `waitlist.fulfilled`: the appointment it booked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment_id: Option<Uuid>,
    /// The user who made the change.
    pub changed_by: Uuid,
}

fn waitlist_example(event_type: &str) -> WaitlistEntry {
    WaitlistEntry {
        entry_id: examples::ENTRY,
        patient_id: examples::PATIENT,
        appointment_type_id: examples::APPOINTMENT_TYPE,
        provider_id: Some(examples::PROVIDER),
        specialty: None,
        earliest: examples::at(8, 0),
        latest: examples::at(17, 0),
        weekdays: vec!["tue".into(), "wed".into()],
        time_of_day_start: Some("08:00".into()),
        time_of_day_end: Some("12:00".into()),
        priority: 0,
        appointment_id: (event_type == "waitlist.fulfilled").then_some(examples::APPOINTMENT),
        changed_by: examples::PATIENT,
    }
}

family! {
    WaitlistEntry, Service::Scheduling, waitlist_example;
    /// `waitlist.joined` v1.
    WaitlistJoined = "waitlist.joined" version 1: "A patient joined the waitlist for an earlier slot.";
    /// `waitlist.fulfilled` v1: `appointment_id` is what it booked.
    WaitlistFulfilled = "waitlist.fulfilled" version 1: "A waitlist entry's patient booked an offered slot.";
    /// `waitlist.left` v1.
    WaitlistLeft = "waitlist.left" version 1: "A waitlist entry was withdrawn by its patient or by staff.";
}

/// `waitlist.offered` v1: a freed slot is held for the first-ranked waitlist
/// entry until `expires_at`; email the patient "A slot opened" with the claim
/// link. `token` is single-use and scheduling keeps only its hash, so the
/// event is sensitive: the outbox forgets it once the broker has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WaitlistOffered {
    pub offer_id: Uuid,
    pub entry_id: Uuid,
    pub patient_id: Uuid,
    /// The hold keeping the slot; claiming books it under this id.
    pub hold_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub appointment_type_name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The provider's IANA time zone, for showing local times.
    pub time_zone: String,
    pub mode: Mode,
    /// The offer (and its hold) lapse then and pass to the next entry.
    pub expires_at: DateTime<Utc>,
    /// The claim token: `POST /api/v1/waitlist/offers/{token}/claim`.
    pub token: String,
}

impl crate::Event for WaitlistOffered {
    type Payload = Self;
    const TYPE: &'static str = "waitlist.offered";
    const VERSION: u32 = 1;
    const PRODUCER: Service = Service::Scheduling;
    const SUMMARY: &'static str =
        "A freed slot is held for a waitlisted patient: email them a single-use claim link.";
    const SENSITIVE: bool = true;

    fn example() -> Self {
        Self {
            offer_id: examples::OFFER,
            entry_id: examples::ENTRY,
            patient_id: examples::PATIENT,
            hold_id: examples::APPOINTMENT,
            provider_id: examples::PROVIDER,
            appointment_type_id: examples::APPOINTMENT_TYPE,
            appointment_type_name: "Consultation".into(),
            start: examples::at(9, 0),
            end: examples::at(9, 30),
            time_zone: "Europe/Berlin".into(),
            mode: Mode::InPerson,
            expires_at: examples::at(8, 15),
            token: "wo_Zk3r…".into(),
        }
    }
}

/// `appointment.links_issued` v1: the signed self-service links of one
/// version of an appointment, published right after it was booked or
/// rescheduled, for the confirmation and reminder emails. Each token works
/// once, for its one action on this appointment, until `expires_at` (the
/// start) or until the appointment changes (a newer `version`); it never
/// signs anyone in. Sensitive: the outbox forgets it once the broker has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppointmentLinksIssued {
    pub appointment_id: Uuid,
    pub patient_id: Uuid,
    /// The appointment's version the links belong to.
    pub version: i32,
    /// `/api/v1/appointment-links/{token}` (and `…/cancel`).
    pub cancel_token: String,
    /// `/api/v1/appointment-links/{token}` (and `…/reschedule`).
    pub reschedule_token: String,
    pub expires_at: DateTime<Utc>,
}

impl crate::Event for AppointmentLinksIssued {
    type Payload = Self;
    const TYPE: &'static str = "appointment.links_issued";
    const VERSION: u32 = 1;
    const PRODUCER: Service = Service::Scheduling;
    const SUMMARY: &'static str =
        "Signed single-use cancel and reschedule links for an appointment's emails.";
    const SENSITIVE: bool = true;

    fn example() -> Self {
        Self {
            appointment_id: examples::APPOINTMENT,
            patient_id: examples::PATIENT,
            version: 1,
            cancel_token: "AZOKLgAAcACAAAAAAAAAwQEAAAAB…".into(),
            reschedule_token: "AZOKLgAAcACAAAAAAAAAwQIAAAAB…".into(),
            expires_at: examples::at(9, 0),
        }
    }
}

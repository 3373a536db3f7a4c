//! What records consumes (appointment changes, new patients) and publishes
//! (`record.accessed`, ids only).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The appointment event types records learns care relationships from.
pub const APPOINTMENT_EVENTS: [&str; 6] = [
    "appointment.booked",
    "appointment.rescheduled",
    "appointment.checked_in",
    "appointment.completed",
    "appointment.cancelled",
    "appointment.no_show",
];

pub const RECORD_ACCESSED: &str = "record.accessed";

/// An appointment's state as scheduling publishes it (`appointment.*` v1; the
/// fields records reads, see scheduling's `AppointmentEvent`).
#[derive(Clone, Debug, Deserialize)]
pub struct AppointmentChanged {
    pub appointment_id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: AppointmentStatus,
    /// Increases with every change; an older event never overwrites a newer one.
    pub version: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    CheckedIn,
    Completed,
    Cancelled,
    NoShow,
}

impl AppointmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Booked => "booked",
            AppointmentStatus::CheckedIn => "checked_in",
            AppointmentStatus::Completed => "completed",
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::NoShow => "no_show",
        }
    }

    /// Booked or checked in: care is ahead or under way.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Booked | AppointmentStatus::CheckedIn
        )
    }
}

/// `user.registered` v1 (the fields records reads).
#[derive(Debug, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub role: platform::auth::Role,
}

/// `record.accessed` v1: a notable access (break-glass), for alerting and
/// notification. Ids and codes only.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordAccessed {
    /// The audit entry that records it.
    pub audit_seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Uuid,
    pub role: String,
    pub patient_id: Uuid,
    pub action: String,
    pub kind: Option<String>,
    pub entry_ids: Vec<Uuid>,
    pub break_glass: bool,
}

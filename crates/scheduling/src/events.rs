//! What scheduling publishes and consumes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{
    lifecycle::Status,
    types::{Mode, Money},
};

pub const BOOKED: &str = "appointment.booked";
pub const RESCHEDULED: &str = "appointment.rescheduled";
pub const CANCELLED: &str = "appointment.cancelled";
pub const CHECKED_IN: &str = "appointment.checked_in";
pub const COMPLETED: &str = "appointment.completed";
pub const NO_SHOW: &str = "appointment.no_show";

/// `appointment.*` v1: everything downstream services need, so they never call back.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppointmentEvent {
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
    pub status: Status,
    /// Increases with every change (iCalendar SEQUENCE).
    pub version: i32,
    /// Rescheduled: where it was before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_end: Option<DateTime<Utc>>,
    /// Cancelled / no-show: why, whether late, and the fee owed (if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub late: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<Money>,
    pub changed_by: Uuid,
}

/// `user.registered` v1 as published by identity (the fields scheduling reads).
#[derive(Debug, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub role: platform::auth::Role,
    pub name: String,
}

/// `provider.updated` v1 as published by directory (the fields scheduling reads).
#[derive(Debug, Deserialize)]
pub struct ProviderUpdated {
    pub provider_id: Uuid,
    pub name: String,
    pub time_zone: String,
}

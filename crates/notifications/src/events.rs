//! What notifications consumes. It publishes nothing yet (`notification.sent`
//! and `notification.failed` are in the target design, not built).
//!
//! Appointment events are scheduling's `appointment.*` v1; the data is read as
//! [`crate::domain::appointment::Appointment`], the fields notifications needs.

use platform::auth::Role;
use serde::Deserialize;
use uuid::Uuid;

pub const BOOKED: &str = "appointment.booked";
pub const RESCHEDULED: &str = "appointment.rescheduled";
pub const CANCELLED: &str = "appointment.cancelled";
pub const USER_REGISTERED: &str = "user.registered";
pub const PATIENT_UPDATED: &str = "patient.updated";
pub const PROVIDER_UPDATED: &str = "provider.updated";

/// `user.registered` v1 (identity).
#[derive(Debug, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub role: Role,
    pub name: String,
    pub email: String,
}

/// `patient.updated` v1 (directory): the fields notifications keeps.
#[derive(Debug, Deserialize)]
pub struct PatientUpdated {
    pub patient_id: Uuid,
    pub name: String,
    pub email: String,
}

/// `provider.updated` v1 (directory): the fields notifications keeps.
#[derive(Debug, Deserialize)]
pub struct ProviderUpdated {
    pub provider_id: Uuid,
    pub name: String,
}

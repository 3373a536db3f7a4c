//! Appointment types: what can be booked, for how long, at what price.

use chrono::Duration;
use serde::{Deserialize, Serialize};

/// Money in integer minor units of an ISO 4217 currency (no floats anywhere).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    InPerson,
    Telehealth,
}

/// The booking rules of an appointment type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeRules {
    pub duration: Duration,
    pub buffer_before: Duration,
    pub buffer_after: Duration,
    pub min_notice: Duration,
    pub horizon: Duration,
}

impl TypeRules {
    /// Slots start on a grid of the type's duration, from each window's start.
    pub fn step(&self) -> Duration {
        self.duration
    }
}

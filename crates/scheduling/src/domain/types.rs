//! Appointment types: what can be booked, for how long, at what price.

use chrono::Duration;

/// Money and mode are what appointment events carry: the contract's types.
pub use contracts::{scheduling::Mode, Money};

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

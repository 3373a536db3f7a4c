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
    /// How far apart slots start; `None`: [`TypeRules::default_step`].
    pub slot_step: Option<Duration>,
    /// Calendar days of notice: bookable from the start of the local day
    /// this many days after today (0: no such rule; `min_notice` still applies).
    pub min_notice_days: u32,
}

impl TypeRules {
    /// The interval one slot occupies in the provider's day: the visit with
    /// its buffers.
    pub fn footprint(&self) -> Duration {
        self.buffer_before + self.duration + self.buffer_after
    }

    /// Without a configured step, slots follow one another with their
    /// buffers: one slot's buffer never hides the next.
    pub fn default_step(&self) -> Duration {
        self.footprint()
    }

    /// How far apart slots start. Never shorter than [`Self::footprint`]
    /// (types are validated so; a shorter stored step is widened), so offered
    /// slots never exclude one another.
    pub fn step(&self) -> Duration {
        self.slot_step
            .unwrap_or_else(|| self.default_step())
            .max(self.footprint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(duration: i64, before: i64, after: i64, step: Option<i64>) -> TypeRules {
        TypeRules {
            duration: Duration::minutes(duration),
            buffer_before: Duration::minutes(before),
            buffer_after: Duration::minutes(after),
            min_notice: Duration::zero(),
            horizon: Duration::days(30),
            slot_step: step.map(Duration::minutes),
            min_notice_days: 0,
        }
    }

    #[test]
    fn the_default_step_is_the_visit_with_its_buffers() {
        assert_eq!(rules(30, 5, 15, None).step(), Duration::minutes(50));
        assert_eq!(rules(30, 0, 0, None).step(), Duration::minutes(30));
    }

    #[test]
    fn a_configured_step_is_never_shorter_than_the_footprint() {
        assert_eq!(rules(30, 0, 15, Some(60)).step(), Duration::minutes(60));
        assert_eq!(rules(30, 0, 15, Some(30)).step(), Duration::minutes(45));
    }
}

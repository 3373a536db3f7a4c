//! The time identity decides by: the system clock, which tests can move forward
//! (sessions that end after 30 days, tokens that expire) without waiting.

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

use chrono::{DateTime, Utc};

/// The current time, shared by every handler; cheap to clone (clones share the offset).
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Milliseconds added to the system time (always 0 outside tests).
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Move this clock (and every clone of it) forward by `by`.
    #[cfg(any(test, feature = "testing"))]
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_move_together() {
        let clock = Clock::system();
        let other = clock.clone();
        let before = other.now();
        clock.advance(chrono::Duration::days(31));
        assert!(other.now() - before >= chrono::Duration::days(31));
    }
}

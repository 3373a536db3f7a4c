//! Time as the services' rules see it: the system clock in production, a
//! settable one in tests, so "the visit has started", reminder timing or a
//! hold's expiry is tested by moving the clock, not by waiting for it. One
//! clock for every service (and the portal), so a test moves them together.

use std::{sync::Mutex, time::Instant};

use chrono::{DateTime, Duration, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock tests set and advance. It either stands still between moves
/// ([`frozen`](Self::frozen)) or keeps running from wherever it was set
/// ([`running`](Self::running)), so retries and leases still elapse in
/// integration tests while reminders wait for the test to move time.
pub struct SettableClock {
    state: Mutex<(DateTime<Utc>, Option<Instant>)>,
}

impl SettableClock {
    /// Stands at `now` until set or advanced.
    pub fn frozen(now: DateTime<Utc>) -> Self {
        Self {
            state: Mutex::new((now, None)),
        }
    }

    /// Starts at the real time and runs at its pace.
    pub fn running() -> Self {
        Self {
            state: Mutex::new((Utc::now(), Some(Instant::now()))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (DateTime<Utc>, Option<Instant>)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set(&self, to: DateTime<Utc>) {
        let mut state = self.lock();
        state.0 = to;
        if state.1.is_some() {
            state.1 = Some(Instant::now());
        }
    }

    pub fn advance(&self, by: Duration) {
        self.lock().0 += by;
    }
}

impl Clock for SettableClock {
    fn now(&self) -> DateTime<Utc> {
        let (base, since) = *self.lock();
        match since {
            None => base,
            Some(since) => base + Duration::from_std(since.elapsed()).unwrap_or(Duration::zero()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_told() {
        let start: DateTime<Utc> = "2026-03-01T00:00:00Z".parse().unwrap();
        let clock = SettableClock::frozen(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::hours(23));
        assert_eq!(clock.now(), start + Duration::hours(23));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn a_running_clock_keeps_going_after_a_jump() {
        let clock = SettableClock::running();
        clock.advance(Duration::days(2));
        let ahead = clock.now() - Utc::now();
        assert!(ahead > Duration::hours(47) && ahead <= Duration::days(2) + Duration::seconds(1));
        let before = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(clock.now() > before);
    }
}

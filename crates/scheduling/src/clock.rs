//! Time as scheduling's rules see it: the system clock in production, a
//! settable one in tests, so "the visit has started" or "inside the
//! cancellation window" is tested by moving the clock, not by waiting for it
//! (the same seam as notifications' `clock`).

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

/// A clock tests move. It runs at the real pace from wherever it was last set,
/// so durations a test does not care about still pass as they would.
pub struct SettableClock {
    state: Mutex<(DateTime<Utc>, Instant)>,
}

impl SettableClock {
    /// Starts at the real time and runs at its pace.
    pub fn running() -> Self {
        Self {
            state: Mutex::new((Utc::now(), Instant::now())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (DateTime<Utc>, Instant)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Jump to `to` and keep running from there.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.lock() = (to, Instant::now());
    }

    pub fn advance(&self, by: Duration) {
        self.lock().0 += by;
    }
}

impl Clock for SettableClock {
    fn now(&self) -> DateTime<Utc> {
        let (base, since) = *self.lock();
        base + Duration::from_std(since.elapsed()).unwrap_or(Duration::zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settable_clock_jumps_and_keeps_running() {
        let clock = SettableClock::running();
        clock.advance(Duration::days(2));
        let ahead = clock.now() - Utc::now();
        assert!(ahead > Duration::hours(47) && ahead <= Duration::days(2) + Duration::seconds(1));
        let at: DateTime<Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        clock.set(at);
        let now = clock.now();
        assert!(now >= at && now - at < Duration::seconds(1));
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(clock.now() > now);
    }
}

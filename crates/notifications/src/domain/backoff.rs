//! Retrying failed sends: exponential backoff with a cap, spread per delivery so
//! a recovering SMTP server is not hit by every retry at the same instant, and a
//! bounded number of attempts after which the delivery is marked failed.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first one included) before giving up.
    pub max_attempts: u32,
    /// The delay after the first failure (before jitter).
    pub base: Duration,
    /// No delay is longer than this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 10 attempts over about 4 hours: 30 s, 1, 2, 4, 8, 16, 32 min, then hourly.
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// The delay before attempt `attempts + 1`, without jitter: `base * 2^(attempts-1)`, capped.
    pub fn delay(&self, attempts: u32) -> Duration {
        let exponent = attempts.saturating_sub(1).min(30);
        self.base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// After `attempts` failed attempts of a transient kind: retry (in a delay
    /// between half and all of [`delay`](Self::delay), chosen by `salt`) or give up.
    pub fn after_failure(&self, attempts: u32, salt: u64) -> AfterFailure {
        if attempts >= self.max_attempts {
            return AfterFailure::GiveUp;
        }
        let full = self.delay(attempts);
        let half = full / 2;
        let spread = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 { 0 } else { salt % (spread + 1) };
        AfterFailure::RetryIn(half + Duration::from_millis(jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = RetryPolicy::default();
        let secs: Vec<u64> = (1..=10).map(|a| p.delay(a).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(p.delay(u32::MAX), p.max_delay);
    }

    #[test]
    fn the_last_attempt_gives_up() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(matches!(p.after_failure(1, 7), AfterFailure::RetryIn(_)));
        assert!(matches!(p.after_failure(2, 7), AfterFailure::RetryIn(_)));
        assert_eq!(p.after_failure(3, 7), AfterFailure::GiveUp);
        assert_eq!(p.after_failure(4, 7), AfterFailure::GiveUp);
    }

    proptest! {
        #[test]
        fn jittered_delays_stay_within_half_and_full(attempts in 1u32..50, salt: u64) {
            let p = RetryPolicy { max_attempts: 100, ..RetryPolicy::default() };
            let AfterFailure::RetryIn(d) = p.after_failure(attempts, salt) else {
                return Err(TestCaseError::fail("gave up too early"));
            };
            prop_assert!(d >= p.delay(attempts) / 2);
            prop_assert!(d <= p.delay(attempts));
        }
    }
}

//! When repeated failed logins lock an email out, and for how long.

use std::time::Duration;

/// Failures allowed before the first lock.
pub const FREE_FAILURES: u32 = 5;
const FIRST_LOCK: Duration = Duration::from_secs(30);
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);

/// How long to lock after the `failures`-th consecutive failure: nothing for the
/// first few, then 30 s doubling per further failure, capped at 15 minutes, so a
/// guesser gets a handful of tries an hour while the owner is delayed, not barred.
pub fn lock_after(failures: u32) -> Option<Duration> {
    if failures < FREE_FAILURES {
        return None;
    }
    let doublings = (failures - FREE_FAILURES).min(10);
    Some((FIRST_LOCK * 2u32.pow(doublings)).min(MAX_LOCK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_failures_are_free_then_locks_double() {
        assert_eq!(lock_after(1), None);
        assert_eq!(lock_after(4), None);
        assert_eq!(lock_after(5), Some(Duration::from_secs(30)));
        assert_eq!(lock_after(6), Some(Duration::from_secs(60)));
        assert_eq!(lock_after(9), Some(Duration::from_secs(480)));
        assert_eq!(lock_after(10), Some(MAX_LOCK));
    }

    proptest! {
        #[test]
        fn locks_never_shrink_and_never_exceed_the_cap(n in 0u32..10_000) {
            let now = lock_after(n).unwrap_or_default();
            let next = lock_after(n + 1).unwrap_or_default();
            prop_assert!(next >= now);
            prop_assert!(next <= MAX_LOCK);
        }
    }
}

//! When failed sign-ins slow down or stop further tries, without ever locking
//! an account's owner out from their own address.
//!
//! Failures are counted per (account, client address) — the *pair* — and per
//! client address over any accounts. A pair past its threshold waits a delay
//! that doubles per further failure, then is blocked for a while; an address
//! past its (larger) threshold is blocked. Nothing is counted per account as a
//! whole, so failures from other addresses never stop the owner. Many failures
//! from many addresses against one account raise one alert per episode.
//!
//! The account of a pair is a hash of the email typed, whether or not an
//! account has it: unknown emails are counted exactly like known ones.

use chrono::{DateTime, Duration, Utc};

/// How one kind of counter (pair or address) reacts to failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Failures within `window` before any wait.
    pub threshold: u32,
    /// Failures are counted from the first one; a window that passed with no
    /// wait in force starts the count again.
    pub window: Duration,
    /// The wait after the `threshold`-th failure; doubles per further failure.
    pub first_delay: Duration,
    /// The longest such wait.
    pub max_delay: Duration,
    /// Failures past the threshold that get a growing wait; the next one blocks.
    pub delays_before_block: u32,
    /// How long a block lasts.
    pub block: Duration,
}

impl Limits {
    /// Per (account, address): 5 free failures in 15 minutes, then 30 s
    /// doubling up to 8 minutes for 5 more, then a 30-minute block.
    pub fn pair(threshold: u32) -> Self {
        Self {
            threshold: threshold.max(1),
            window: Duration::minutes(15),
            first_delay: Duration::seconds(30),
            max_delay: Duration::minutes(8),
            delays_before_block: 5,
            block: Duration::minutes(30),
        }
    }

    /// Per address over any accounts: `threshold` failures in 15 minutes block
    /// the address for 30 minutes.
    pub fn address(threshold: u32) -> Self {
        Self {
            threshold: threshold.max(1),
            window: Duration::minutes(15),
            first_delay: Duration::minutes(30),
            max_delay: Duration::minutes(30),
            delays_before_block: 0,
            block: Duration::minutes(30),
        }
    }
}

/// A counter as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    pub failures: u32,
    pub window_start: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// Whether a sign-in may be tried now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Not before this many seconds (at least 1).
    Wait {
        retry_after: u64,
    },
}

/// The wait in force on `counter` at `now`, if any.
pub fn verdict(counter: Option<&Counter>, now: DateTime<Utc>) -> Verdict {
    match counter.and_then(|c| c.locked_until) {
        Some(until) if until > now => {
            let millis = (until - now).num_milliseconds().max(0) as u64;
            Verdict::Wait {
                retry_after: millis.div_ceil(1000).max(1),
            }
        }
        _ => Verdict::Allow,
    }
}

/// The stricter of two verdicts (the longer wait).
pub fn stricter(a: Verdict, b: Verdict) -> Verdict {
    match (a, b) {
        (Verdict::Wait { retry_after: x }, Verdict::Wait { retry_after: y }) => Verdict::Wait {
            retry_after: x.max(y),
        },
        (w @ Verdict::Wait { .. }, Verdict::Allow) | (Verdict::Allow, w @ Verdict::Wait { .. }) => {
            w
        }
        (Verdict::Allow, Verdict::Allow) => Verdict::Allow,
    }
}

/// How long the `failures`-th failure in a window makes the next try wait.
pub fn wait_after(limits: &Limits, failures: u32) -> Option<Duration> {
    if failures < limits.threshold {
        return None;
    }
    let excess = failures - limits.threshold;
    if excess >= limits.delays_before_block {
        return Some(limits.block);
    }
    let doubled = limits
        .first_delay
        .checked_mul(2i32.saturating_pow(excess.min(20)))
        .unwrap_or(limits.max_delay);
    Some(doubled.min(limits.max_delay))
}

/// The counter after one more failure at `now`.
pub fn after_failure(counter: Option<&Counter>, limits: &Limits, now: DateTime<Utc>) -> Counter {
    let current = counter.filter(|c| {
        let in_window = now - c.window_start < limits.window;
        let waiting = c.locked_until.is_some_and(|u| u > now);
        in_window || waiting
    });
    let (failures, window_start) = match current {
        Some(c) => (c.failures.saturating_add(1), c.window_start),
        None => (1, now),
    };
    Counter {
        failures,
        window_start,
        locked_until: wait_after(limits, failures).map(|d| now + d),
    }
}

/// When many failures from many addresses against one account raise an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertRule {
    pub failures: u32,
    pub addresses: u32,
    /// Failures are looked at over this window; an episode ends when a whole
    /// window passes without a failure.
    pub window: Duration,
}

impl Default for AlertRule {
    /// At least 20 failures from at least 5 addresses within an hour.
    fn default() -> Self {
        Self {
            failures: 20,
            addresses: 5,
            window: Duration::hours(1),
        }
    }
}

/// What one more failure against an account does to its alert episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertStep {
    /// No episode, none starts.
    Quiet,
    /// An episode is going on (already alerted): it lasts on.
    Continue,
    /// A new episode: alert the holder once.
    Open,
}

/// `failures` from `addresses` distinct addresses within the rule's window
/// (this failure included); `episode_last_failure` is the last failure of the
/// episode already alerted, if any.
pub fn alert_step(
    rule: &AlertRule,
    failures: u32,
    addresses: u32,
    episode_last_failure: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AlertStep {
    if episode_last_failure.is_some_and(|last| now - last < rule.window) {
        return AlertStep::Continue;
    }
    if failures >= rule.failures && addresses >= rule.addresses {
        AlertStep::Open
    } else {
        AlertStep::Quiet
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn fail_n(limits: &Limits, n: u32, at: DateTime<Utc>) -> Counter {
        let mut c = None;
        for _ in 0..n {
            c = Some(after_failure(c.as_ref(), limits, at));
        }
        c.unwrap()
    }

    #[test]
    fn a_pair_gets_free_failures_then_doubling_waits_then_a_block() {
        let l = Limits::pair(5);
        assert_eq!(wait_after(&l, 4), None);
        assert_eq!(wait_after(&l, 5), Some(Duration::seconds(30)));
        assert_eq!(wait_after(&l, 6), Some(Duration::seconds(60)));
        assert_eq!(wait_after(&l, 7), Some(Duration::seconds(120)));
        assert_eq!(wait_after(&l, 8), Some(Duration::seconds(240)));
        assert_eq!(wait_after(&l, 9), Some(Duration::seconds(480)));
        assert_eq!(wait_after(&l, 10), Some(Duration::minutes(30)));
        assert_eq!(wait_after(&l, 1000), Some(Duration::minutes(30)));
    }

    #[test]
    fn an_address_is_blocked_at_its_threshold() {
        let l = Limits::address(50);
        assert_eq!(wait_after(&l, 49), None);
        assert_eq!(wait_after(&l, 50), Some(Duration::minutes(30)));
    }

    #[test]
    fn the_verdict_follows_the_wait() {
        let l = Limits::pair(5);
        let c = fail_n(&l, 4, t0());
        assert_eq!(verdict(Some(&c), t0()), Verdict::Allow);
        let c = after_failure(Some(&c), &l, t0());
        assert_eq!(verdict(Some(&c), t0()), Verdict::Wait { retry_after: 30 });
        assert_eq!(
            verdict(Some(&c), t0() + Duration::milliseconds(29_500)),
            Verdict::Wait { retry_after: 1 }
        );
        assert_eq!(
            verdict(Some(&c), t0() + Duration::seconds(30)),
            Verdict::Allow
        );
        assert_eq!(verdict(None, t0()), Verdict::Allow);
    }

    #[test]
    fn a_quiet_window_starts_the_count_again() {
        let l = Limits::pair(5);
        let c = fail_n(&l, 4, t0());
        let later = after_failure(Some(&c), &l, t0() + Duration::minutes(16));
        assert_eq!(later.failures, 1);
        assert_eq!(later.locked_until, None);
        // Within the window the count goes on.
        let soon = after_failure(Some(&c), &l, t0() + Duration::minutes(14));
        assert_eq!(soon.failures, 5);
    }

    #[test]
    fn a_block_outlasts_the_window() {
        let l = Limits::pair(5);
        let c = fail_n(&l, 10, t0());
        assert_eq!(c.locked_until, Some(t0() + Duration::minutes(30)));
        // A failure recorded during the block (it cannot be tried, but say
        // a concurrent request was) keeps counting rather than resetting.
        let next = after_failure(Some(&c), &l, t0() + Duration::minutes(20));
        assert_eq!(next.failures, 11);
    }

    #[test]
    fn stricter_takes_the_longer_wait() {
        let w = |s| Verdict::Wait { retry_after: s };
        assert_eq!(stricter(Verdict::Allow, Verdict::Allow), Verdict::Allow);
        assert_eq!(stricter(w(3), Verdict::Allow), w(3));
        assert_eq!(stricter(Verdict::Allow, w(4)), w(4));
        assert_eq!(stricter(w(3), w(9)), w(9));
    }

    #[test]
    fn an_alert_opens_once_per_episode() {
        let r = AlertRule::default();
        assert_eq!(alert_step(&r, 19, 9, None, t0()), AlertStep::Quiet);
        assert_eq!(alert_step(&r, 40, 4, None, t0()), AlertStep::Quiet);
        assert_eq!(alert_step(&r, 20, 5, None, t0()), AlertStep::Open);
        let open = Some(t0());
        assert_eq!(
            alert_step(&r, 90, 30, open, t0() + Duration::minutes(59)),
            AlertStep::Continue
        );
        assert_eq!(
            alert_step(&r, 20, 5, open, t0() + Duration::minutes(61)),
            AlertStep::Open
        );
        assert_eq!(
            alert_step(&r, 1, 1, open, t0() + Duration::minutes(61)),
            AlertStep::Quiet
        );
    }

    proptest! {
        #[test]
        fn waits_never_shrink_and_never_exceed_the_block(n in 0u32..10_000, threshold in 1u32..60) {
            for l in [Limits::pair(threshold), Limits::address(threshold)] {
                let now = wait_after(&l, n).unwrap_or_default();
                let next = wait_after(&l, n + 1).unwrap_or_default();
                prop_assert!(next >= now);
                prop_assert!(next <= l.block.max(l.max_delay));
            }
        }

        #[test]
        fn failures_from_one_pair_never_touch_another(
            gaps in proptest::collection::vec(0i64..600, 0..200),
        ) {
            // Whatever one pair suffers, a counter nobody failed on allows.
            let l = Limits::pair(5);
            let mut c = None;
            let mut now = t0();
            for gap in gaps {
                now += Duration::seconds(gap);
                c = Some(after_failure(c.as_ref(), &l, now));
            }
            prop_assert_eq!(verdict(None, now), Verdict::Allow);
        }

        #[test]
        fn no_wait_before_the_threshold_and_always_one_after(
            threshold in 1u32..20, n in 1u32..40, spacing in 0i64..30,
        ) {
            let l = Limits::pair(threshold);
            let mut c = None;
            let mut now = t0();
            for _ in 0..n {
                now += Duration::seconds(spacing);
                c = Some(after_failure(c.as_ref(), &l, now));
            }
            let c = c.unwrap();
            // All n failures fall within 15 minutes (40 × 30 s = 20 min at
            // most; count only what the window held).
            if now - t0() < l.window {
                prop_assert_eq!(c.failures, n);
                prop_assert_eq!(c.locked_until.is_some(), n >= threshold);
            }
            if let Verdict::Wait { retry_after } = verdict(Some(&c), now) {
                prop_assert!(retry_after >= 1);
                prop_assert!(retry_after as i64 <= l.block.num_seconds());
            }
        }
    }
}

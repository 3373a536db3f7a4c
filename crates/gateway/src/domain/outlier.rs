//! Whether a replica gets traffic, as a pure state machine: active readiness
//! checks (`/readyz`) flip it in and out of rotation after `rise`/`fall`
//! consecutive results, and passive outlier detection ejects it after
//! `consecutive_failures` failed answers in a row (5xx, timeouts, resets) for
//! an ejection time that grows with each repeat (`base × n`, capped), never
//! ejecting more than `max_ejection_percent` of a pool at once. A refused
//! connection is no outlier but an absence: it takes the replica out of
//! rotation at once, as failed checks would, and a replica that leaves rotation
//! and comes back (a restart) returns un-ejected. The clock is a
//! number of milliseconds, so every rule is testable without waiting.

/// The thresholds and times of health decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Consecutive passed checks that bring an unready replica back.
    pub rise: u32,
    /// Consecutive failed checks that take a ready replica out.
    pub fall: u32,
    /// Consecutive failed answers that eject a replica.
    pub consecutive_failures: u32,
    /// The first ejection's length; the n-th lasts n times as long...
    pub base_ejection_ms: u64,
    /// ...but never longer than this.
    pub max_ejection_ms: u64,
    /// At most this share of a pool is ejected at once.
    pub max_ejection_percent: u8,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            rise: 2,
            fall: 2,
            consecutive_failures: 5,
            base_ejection_ms: 30_000,
            max_ejection_ms: 300_000,
            max_ejection_percent: 50,
        }
    }
}

/// How one proxied request ended, as far as the replica's health goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Any answer below 500.
    Success,
    /// A 5xx answer, a timeout or a reset (a refused connection is
    /// [`Health::refused`]).
    Failure,
}

/// What an event changed, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    None,
    /// Active checks brought it back.
    Ready,
    /// Active checks took it out.
    Unready,
    /// A refused connection took it out, until its checks pass again.
    Refused,
    /// Passive detection ejected it for this long.
    Ejected {
        for_ms: u64,
    },
}

/// One replica's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    /// The active checks' verdict.
    pub ready: bool,
    /// Consecutive checks that disagree with `ready`.
    streak: u32,
    /// Consecutive failed answers.
    failures: u32,
    /// While `now` is before this, the replica is ejected.
    ejected_until: Option<u64>,
    /// How many ejections count towards the next one's length (decays by one
    /// per base ejection time spent back in rotation).
    ejections: u32,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// A replica starts in rotation: a fresh gateway (or a replica that just
    /// appeared in DNS, which Kubernetes lists only once it is ready) serves at once.
    pub const fn new() -> Self {
        Self {
            ready: true,
            streak: 0,
            failures: 0,
            ejected_until: None,
            ejections: 0,
        }
    }

    pub fn is_ejected(&self, now_ms: u64) -> bool {
        self.ejected_until.is_some_and(|until| now_ms < until)
    }

    /// May take new requests (outside panic mode).
    pub fn is_available(&self, now_ms: u64) -> bool {
        self.ready && !self.is_ejected(now_ms)
    }

    /// The result of one active check.
    pub fn check(self, passed: bool, policy: &Policy) -> (Self, Change) {
        if passed == self.ready {
            return (Self { streak: 0, ..self }, Change::None);
        }
        let streak = self.streak + 1;
        let needed = if passed { policy.rise } else { policy.fall }.max(1);
        if streak < needed {
            return (Self { streak, ..self }, Change::None);
        }
        if !passed {
            return (
                Self {
                    ready: false,
                    streak: 0,
                    ..self
                },
                Change::Unready,
            );
        }
        // Out of rotation and back: the replica restarted (or its dependency
        // recovered), so the failures that ejected it say nothing about it now.
        // Kept ejected, a replica restarted in a rolling update would sit out
        // the rest of its ejection while the next one stops.
        (
            Self {
                ready: true,
                streak: 0,
                failures: 0,
                ejected_until: None,
                ..self
            },
            Change::Ready,
        )
    }

    /// A connection to the replica was refused (or could not be made): it is
    /// not there, so it leaves rotation now rather than after `fall` checks,
    /// and comes back after `rise` passed ones. Not an ejection: a replica
    /// restarted in a rolling update is back as soon as it is ready.
    pub fn refused(self) -> (Self, Change) {
        if !self.ready {
            return (self, Change::None);
        }
        (
            Self {
                ready: false,
                streak: 0,
                ..self
            },
            Change::Refused,
        )
    }

    /// The outcome of one proxied request. `may_eject` says whether the pool
    /// can spare one more ejected replica ([`may_eject`]). While ejected,
    /// outcomes (of requests sent before, or in panic mode) change nothing:
    /// the ejection ends by the clock.
    pub fn observe(
        self,
        outcome: Outcome,
        now_ms: u64,
        may_eject: bool,
        policy: &Policy,
    ) -> (Self, Change) {
        if self.is_ejected(now_ms) {
            return (self, Change::None);
        }
        let failures = match outcome {
            Outcome::Success => {
                return (
                    Self {
                        failures: 0,
                        ..self
                    },
                    Change::None,
                )
            }
            Outcome::Failure => self.failures.saturating_add(1),
        };
        if failures < policy.consecutive_failures.max(1) || !may_eject {
            return (Self { failures, ..self }, Change::None);
        }
        let earlier = match self.ejected_until {
            Some(end) => {
                let served = (now_ms - end) / policy.base_ejection_ms.max(1);
                self.ejections
                    .saturating_sub(u32::try_from(served).unwrap_or(u32::MAX))
            }
            None => self.ejections,
        };
        let n = earlier.saturating_add(1);
        let for_ms = ejection_ms(n, policy);
        (
            Self {
                failures: 0,
                ejected_until: Some(now_ms.saturating_add(for_ms)),
                ejections: n,
                ..self
            },
            Change::Ejected { for_ms },
        )
    }
}

/// The length of the `n`-th ejection in a row: `base × n`, capped.
pub fn ejection_ms(n: u32, policy: &Policy) -> u64 {
    policy
        .base_ejection_ms
        .saturating_mul(u64::from(n.max(1)))
        .min(policy.max_ejection_ms)
}

/// Whether one more replica of a pool of `pool_size` may be ejected while
/// `already_ejected` are.
pub fn may_eject(already_ejected: usize, pool_size: usize, max_percent: u8) -> bool {
    (already_ejected + 1) * 100 <= pool_size * usize::from(max_percent.min(100))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: Policy = Policy {
        rise: 2,
        fall: 2,
        consecutive_failures: 5,
        base_ejection_ms: 30_000,
        max_ejection_ms: 300_000,
        max_ejection_percent: 50,
    };

    fn checks(mut h: Health, results: &[bool]) -> (Health, Vec<Change>) {
        let mut changes = Vec::new();
        for ok in results {
            let (next, change) = h.check(*ok, &P);
            h = next;
            changes.push(change);
        }
        (h, changes)
    }

    #[test]
    fn a_replica_leaves_after_fall_failed_checks_and_returns_after_rise_passed_ones() {
        let (h, changes) = checks(Health::new(), &[false]);
        assert!(h.ready, "one failed check is not enough");
        assert_eq!(changes, [Change::None]);
        let (h, changes) = checks(h, &[false]);
        assert!(!h.ready);
        assert_eq!(changes, [Change::Unready]);
        // A pass in between restarts the count.
        let (h, _) = checks(h, &[true, false, true]);
        assert!(!h.ready);
        let (h, changes) = checks(h, &[true]);
        assert!(h.ready);
        assert_eq!(changes, [Change::Ready]);
    }

    fn fail(h: Health, times: u32, now: u64) -> (Health, Change) {
        let mut last = (h, Change::None);
        for _ in 0..times {
            last = last.0.observe(Outcome::Failure, now, true, &P);
        }
        last
    }

    #[test]
    fn consecutive_failures_eject_and_a_success_resets_the_count() {
        let (h, change) = fail(Health::new(), 4, 0);
        assert_eq!(change, Change::None);
        let (h, _) = h.observe(Outcome::Success, 0, true, &P);
        let (h, change) = fail(h, 4, 0);
        assert_eq!(change, Change::None, "the success started the count again");
        let (h, change) = fail(h, 1, 0);
        assert_eq!(change, Change::Ejected { for_ms: 30_000 });
        assert!(h.is_ejected(29_999) && !h.is_available(29_999));
        assert!(!h.is_ejected(30_000) && h.is_available(30_000));
    }

    #[test]
    fn each_repeat_ejects_for_longer_up_to_the_cap() {
        let mut h = Health::new();
        let mut now = 0;
        let mut lengths = Vec::new();
        for _ in 0..12 {
            let (next, change) = fail(h, 5, now);
            let Change::Ejected { for_ms } = change else {
                panic!("not ejected: {change:?}")
            };
            lengths.push(for_ms);
            h = next;
            // Straight back to failing the moment it returns.
            now += for_ms;
        }
        assert_eq!(&lengths[..4], [30_000, 60_000, 90_000, 120_000]);
        assert_eq!(*lengths.last().unwrap(), 300_000);
    }

    #[test]
    fn time_served_in_rotation_shortens_the_next_ejection() {
        let (h, _) = fail(Health::new(), 5, 0);
        let (h, _) = fail(h, 5, 30_000);
        // Ejected a second time (60 s) until 90 s; then well-behaved for 90 s.
        let (_, change) = fail(h, 5, 180_000);
        assert_eq!(change, Change::Ejected { for_ms: 30_000 });
    }

    #[test]
    fn a_replica_that_leaves_rotation_and_returns_is_no_longer_ejected() {
        let (h, _) = fail(Health::new(), 5, 0);
        assert!(h.is_ejected(1_000));
        // Passing checks alone (it never went away) change nothing...
        let (h, changes) = checks(h, &[true, true, true]);
        assert_eq!(changes, [Change::None; 3]);
        assert!(h.is_ejected(1_000));
        // ...but a replica that failed its checks and passes them again is back.
        let (h, changes) = checks(h, &[false, false, true, true]);
        assert_eq!(changes.last(), Some(&Change::Ready));
        assert!(h.is_available(1_000));
        // Its earlier ejection still counts towards the length of the next one.
        let (_, change) = fail(h, 5, 1_000);
        assert_eq!(change, Change::Ejected { for_ms: 60_000 });
    }

    #[test]
    fn a_refused_connection_takes_a_replica_out_until_rise_checks_pass() {
        let (h, change) = Health::new().refused();
        assert_eq!(change, Change::Refused);
        assert!(!h.is_available(0));
        assert!(!h.is_ejected(0), "absent, not an outlier");
        let (h, change) = h.refused();
        assert_eq!(change, Change::None, "out already");
        let (h, changes) = checks(h, &[true, true]);
        assert_eq!(changes, [Change::None, Change::Ready]);
        assert!(h.is_available(0));
    }

    #[test]
    fn an_ejected_replica_ignores_outcomes_until_its_time_is_up() {
        let (h, _) = fail(Health::new(), 5, 0);
        let (same, change) = fail(h, 10, 1_000);
        assert_eq!((same, change), (h, Change::None));
    }

    #[test]
    fn no_more_than_the_allowed_share_of_a_pool_is_ejected() {
        assert!(may_eject(0, 2, 50));
        assert!(!may_eject(1, 2, 50));
        assert!(may_eject(1, 4, 50));
        assert!(!may_eject(2, 4, 50));
        assert!(
            !may_eject(0, 1, 50),
            "a lone replica stays: panic mode would route to it anyway"
        );
        assert!(may_eject(0, 1, 100));
        let (h, change) = Health::new().observe(Outcome::Failure, 0, false, &P);
        assert_eq!(change, Change::None);
        let (_, change) = (0..10).fold((h, change), |(h, _), _| {
            h.observe(Outcome::Failure, 0, false, &P)
        });
        assert_eq!(change, Change::None, "the cap holds however many failures");
    }

    proptest! {
        /// Whatever the answers, a pool never has more than its share ejected.
        #[test]
        fn the_ejection_cap_holds_in_any_pool(
            size in 1usize..8,
            percent in 0u8..=100,
            events in proptest::collection::vec((0usize..8, any::<bool>(), 0u64..20_000), 0..400),
        ) {
            let policy = Policy { consecutive_failures: 2, max_ejection_percent: percent, ..P };
            let mut pool = vec![Health::new(); size];
            let mut now = 0;
            for (i, failed, gap) in events {
                now += gap;
                let i = i % size;
                let ejected = pool.iter().enumerate().filter(|(j, h)| *j != i && h.is_ejected(now)).count();
                let outcome = if failed { Outcome::Failure } else { Outcome::Success };
                pool[i] = pool[i].observe(outcome, now, may_eject(ejected, size, percent), &policy).0;
                let ejected = pool.iter().filter(|h| h.is_ejected(now)).count();
                prop_assert!(ejected * 100 <= size * usize::from(percent), "{ejected} of {size} ejected at {percent}%");
            }
        }

        /// Ejections last between the base and the cap.
        #[test]
        fn ejection_lengths_stay_within_bounds(n in 0u32..1_000) {
            let ms = ejection_ms(n, &P);
            prop_assert!((P.base_ejection_ms..=P.max_ejection_ms).contains(&ms));
            prop_assert!(ejection_ms(n + 1, &P) >= ms);
        }

        /// Readiness flips only after `rise` (or `fall`) agreeing checks in a row.
        #[test]
        fn readiness_needs_a_run_of_agreeing_checks(results in proptest::collection::vec(any::<bool>(), 0..100)) {
            let mut h = Health::new();
            let mut run: Vec<bool> = Vec::new();
            for ok in results {
                let before = h.ready;
                h = h.check(ok, &P).0;
                if run.last() == Some(&ok) { run.push(ok) } else { run = vec![ok] }
                if h.ready != before {
                    let needed = if ok { P.rise } else { P.fall } as usize;
                    prop_assert!(run.len() >= needed);
                }
            }
        }
    }
}

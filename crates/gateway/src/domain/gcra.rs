//! GCRA (generic cell rate algorithm): one timestamp per key, the theoretical
//! arrival time (TAT) of the next request. The Redis Lua script in
//! `ratelimit.rs` is a line-for-line copy of [`check`], so the local fallback
//! limiter and the distributed one admit exactly the same traffic.

/// `limit` requests per `window_ms`, with bursts up to `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub window_ms: u64,
}

impl Quota {
    /// Milliseconds between requests at the sustained rate.
    pub fn interval_ms(&self) -> u64 {
        (self.window_ms / u64::from(self.limit.max(1))).max(1)
    }

    fn tolerance_ms(&self) -> u64 {
        self.interval_ms() * u64::from(self.limit.max(1))
    }

    /// The same window with a quarter of the requests (at least one): what one
    /// instance allows on its own while the shared count is out of reach, so
    /// several instances together stay near the real quota.
    pub fn quarter(self) -> Quota {
        Quota {
            limit: (self.limit / 4).max(1),
            ..self
        }
    }
}

/// The outcome for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests still admitted right now.
    pub remaining: u32,
    /// Milliseconds until the next request would be admitted (0 when allowed).
    pub retry_after_ms: u64,
    /// Milliseconds until the quota is fully restored.
    pub reset_ms: u64,
}

/// Decide one request at `now_ms` given the stored `tat`; returns the decision
/// and the TAT to store (unchanged when denied).
pub fn check(quota: Quota, tat: Option<u64>, now_ms: u64) -> (Decision, u64) {
    let interval = quota.interval_ms();
    let tolerance = quota.tolerance_ms();
    let tat = tat.unwrap_or(now_ms).max(now_ms);
    let new_tat = tat + interval;
    let allow_at = new_tat.saturating_sub(tolerance);
    if allow_at > now_ms {
        let decision = Decision {
            allowed: false,
            remaining: 0,
            retry_after_ms: allow_at - now_ms,
            reset_ms: tat - now_ms,
        };
        return (decision, tat);
    }
    let used = new_tat - now_ms;
    let decision = Decision {
        allowed: true,
        remaining: ((tolerance - used) / interval) as u32,
        retry_after_ms: 0,
        reset_ms: used,
    };
    (decision, new_tat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const Q: Quota = Quota {
        limit: 5,
        window_ms: 1000,
    };

    #[test]
    fn a_full_burst_is_admitted_then_the_next_is_denied() {
        let mut tat = None;
        for i in 0..5 {
            let (d, t) = check(Q, tat, 0);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 4 - i);
            tat = Some(t);
        }
        let (d, _) = check(Q, tat, 0);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_ms, 200);
        // One interval later one more request fits.
        assert!(check(Q, tat, 200).0.allowed);
    }

    #[test]
    fn a_quarter_quota_keeps_the_window_and_at_least_one_request() {
        let q = Quota {
            limit: 20,
            window_ms: 60_000,
        }
        .quarter();
        assert_eq!(
            q,
            Quota {
                limit: 5,
                window_ms: 60_000
            }
        );
        assert_eq!(
            Quota {
                limit: 3,
                window_ms: 1_000
            }
            .quarter()
            .limit,
            1
        );
    }

    proptest! {
        /// Over any window, no more than `limit` + window/interval requests pass.
        #[test]
        fn never_admits_more_than_the_quota(gaps in proptest::collection::vec(0u64..400, 1..300)) {
            let mut tat = None;
            let mut now = 0;
            let mut admitted = Vec::new();
            for gap in gaps {
                now += gap;
                let (d, t) = check(Q, tat, now);
                tat = Some(t);
                if d.allowed { admitted.push(now); }
            }
            for (i, start) in admitted.iter().enumerate() {
                let in_window = admitted[i..].iter().take_while(|t| **t < start + Q.window_ms).count();
                prop_assert!(in_window as u32 <= Q.limit * 2, "{in_window} in one window");
            }
            let span = now.max(1);
            let max_total = Q.limit as u64 + span / Q.interval_ms() + 1;
            prop_assert!(admitted.len() as u64 <= max_total);
        }

        #[test]
        fn a_denied_request_is_admitted_after_retry_after(start in 0u64..10_000) {
            let mut tat = None;
            let mut d;
            loop {
                let (dd, t) = check(Q, tat, start);
                d = dd;
                if !d.allowed { break; }
                tat = Some(t);
            }
            prop_assert!(check(Q, tat, start + d.retry_after_ms).0.allowed);
            prop_assert!(d.retry_after_ms == 0 || !check(Q, tat, start + d.retry_after_ms - 1).0.allowed);
        }
    }
}

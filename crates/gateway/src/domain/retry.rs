//! When a request is sent to a replica again, and how many may be: a request
//! that never reached a replica goes to another whatever its method; one that
//! did is sent again (once, elsewhere) only if repeating it is harmless, the
//! replica failed it in a way another may not (a reset, 502, 503), and the
//! body is still in hand. Such retries stay below a share of the requests
//! over a sliding window (plus a small minimum, so a quiet pool can still
//! retry), so a sick upstream never sees its load multiplied by retries.

/// How one attempt to reach a replica ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The replica answered with this status.
    Answered(u16),
    /// No connection: the replica never saw the request.
    Unreachable,
    /// The connection broke (reset, closed) after the request was sent.
    Broken,
    /// No answer within the route's timeout.
    TimedOut,
}

/// What the proxy does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Hand the answer to the client.
    Relay,
    /// Try another replica: the request was never sent.
    TryAnother,
    /// Send it again to another replica, if the budget allows.
    Resend,
    /// Answer with an error.
    Fail,
}

/// The step after `attempt`, for a request that is `safe_to_repeat` (GET,
/// HEAD, OPTIONS or with an `Idempotency-Key`), was `already_resent` or not,
/// and whose body is `in_hand` (held, so sendable again).
pub fn after(attempt: Attempt, safe_to_repeat: bool, already_resent: bool, in_hand: bool) -> Step {
    let may_resend = safe_to_repeat && !already_resent && in_hand;
    match attempt {
        Attempt::Unreachable => Step::TryAnother,
        Attempt::Answered(502 | 503) | Attempt::Broken if may_resend => Step::Resend,
        Attempt::Answered(_) => Step::Relay,
        Attempt::Broken | Attempt::TimedOut => Step::Fail,
    }
}

const BUCKETS: usize = 10;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bucket {
    /// Which tenth of time this bucket counts (`now / bucket_ms`).
    epoch: u64,
    requests: u32,
    retries: u32,
}

/// Requests and retries over the last window.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    percent: u32,
    min_per_window: u32,
    bucket_ms: u64,
    buckets: [Bucket; BUCKETS],
}

impl Default for RetryBudget {
    /// 20 % of requests, at least 10 retries, over 10 seconds.
    fn default() -> Self {
        Self::new(20, 10, 10_000)
    }
}

impl RetryBudget {
    pub fn new(percent: u32, min_per_window: u32, window_ms: u64) -> Self {
        Self {
            percent,
            min_per_window,
            bucket_ms: (window_ms / BUCKETS as u64).max(1),
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    fn current(&mut self, now_ms: u64) -> &mut Bucket {
        let epoch = now_ms / self.bucket_ms;
        let bucket = &mut self.buckets[(epoch % BUCKETS as u64) as usize];
        if bucket.epoch != epoch {
            *bucket = Bucket {
                epoch,
                ..Bucket::default()
            };
        }
        bucket
    }

    /// Requests and retries counted in the window ending at `now_ms`.
    pub fn totals(&self, now_ms: u64) -> (u64, u64) {
        let epoch = now_ms / self.bucket_ms;
        self.buckets
            .iter()
            .filter(|b| b.epoch <= epoch && epoch - b.epoch < BUCKETS as u64)
            .fold((0, 0), |(req, ret), b| {
                (req + u64::from(b.requests), ret + u64::from(b.retries))
            })
    }

    /// Count one request (not its retries).
    pub fn request(&mut self, now_ms: u64) {
        let bucket = self.current(now_ms);
        bucket.requests = bucket.requests.saturating_add(1);
    }

    /// Whether one more retry fits; if so it is counted.
    pub fn try_retry(&mut self, now_ms: u64) -> bool {
        let (requests, retries) = self.totals(now_ms);
        let allowed = u64::from(self.min_per_window) + requests * u64::from(self.percent) / 100;
        if retries >= allowed {
            return false;
        }
        let bucket = self.current(now_ms);
        bucket.retries = bucket.retries.saturating_add(1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_safe_requests_are_sent_twice_and_only_once() {
        use Attempt::*;
        assert_eq!(after(Answered(503), true, false, true), Step::Resend);
        assert_eq!(after(Answered(502), true, false, true), Step::Resend);
        assert_eq!(after(Broken, true, false, true), Step::Resend);
        assert_eq!(
            after(Answered(503), false, false, true),
            Step::Relay,
            "a POST's 503 is its answer"
        );
        assert_eq!(after(Broken, false, false, true), Step::Fail);
        assert_eq!(
            after(Answered(503), true, true, true),
            Step::Relay,
            "once only"
        );
        assert_eq!(
            after(Broken, true, false, false),
            Step::Fail,
            "a streamed body is spent"
        );
        assert_eq!(after(Answered(500), true, false, true), Step::Relay);
        assert_eq!(after(Answered(504), true, false, true), Step::Relay);
        assert_eq!(
            after(TimedOut, true, false, true),
            Step::Fail,
            "a slow replica is not asked twice"
        );
        assert_eq!(after(Answered(200), true, false, true), Step::Relay);
    }

    #[test]
    fn a_request_never_sent_may_go_anywhere() {
        for (safe, resent) in [(false, false), (true, true)] {
            assert_eq!(
                after(Attempt::Unreachable, safe, resent, true),
                Step::TryAnother
            );
        }
    }

    #[test]
    fn a_quiet_pool_still_gets_the_minimum() {
        let mut budget = RetryBudget::new(20, 3, 10_000);
        assert!((0..3).all(|_| budget.try_retry(0)));
        assert!(!budget.try_retry(0));
    }

    #[test]
    fn retries_are_a_fifth_of_requests_beyond_the_minimum() {
        let mut budget = RetryBudget::new(20, 0, 10_000);
        for _ in 0..100 {
            budget.request(0);
        }
        let granted = (0..100).filter(|_| budget.try_retry(0)).count();
        assert_eq!(granted, 20);
    }

    #[test]
    fn the_window_slides() {
        let mut budget = RetryBudget::new(20, 1, 10_000);
        assert!(budget.try_retry(0));
        assert!(!budget.try_retry(9_999));
        assert!(budget.try_retry(10_000), "the first retry left the window");
    }

    proptest! {
        /// Whenever a retry is granted, the retries of the last 9 s (the
        /// window less its partial bucket) stay within the minimum plus 20 %
        /// of the requests of the last 10 s.
        #[test]
        fn retries_stay_within_the_budget(events in proptest::collection::vec((any::<bool>(), 0u64..700), 1..2_000)) {
            let mut budget = RetryBudget::new(20, 5, 10_000);
            let mut now = 0;
            let (mut requests, mut retries): (Vec<u64>, Vec<u64>) = (Vec::new(), Vec::new());
            for (is_retry, gap) in events {
                now += gap;
                if !is_retry {
                    budget.request(now);
                    requests.push(now);
                } else if budget.try_retry(now) {
                    retries.push(now);
                    let within = |times: &[u64], ms: u64| times.iter().filter(|t| **t + ms > now).count() as u64;
                    let (recent_retries, recent_requests) = (within(&retries, 9_000), within(&requests, 10_000));
                    prop_assert!(
                        recent_retries <= 5 + recent_requests * 20 / 100,
                        "{recent_retries} retries for {recent_requests} requests"
                    );
                }
            }
        }
    }
}

//! How often identity asks for an email with a link to be sent to one address
//! (a new verification link, a password reset): often enough for someone who
//! lost the first, never a way to flood an inbox.

use chrono::{DateTime, Duration, Utc};

/// At least this long between two links to one address.
pub const MIN_INTERVAL: Duration = Duration::seconds(60);
/// At most this many links to one address per [`PERIOD`].
pub const MAX_PER_PERIOD: usize = 5;
pub const PERIOD: Duration = Duration::hours(1);

/// Whether another link may be sent, given when the earlier ones of the same
/// kind were made.
pub fn may_send(earlier: &[DateTime<Utc>], now: DateTime<Utc>) -> bool {
    if earlier.iter().any(|t| now - *t < MIN_INTERVAL) {
        return false;
    }
    earlier.iter().filter(|t| now - **t < PERIOD).count() < MAX_PER_PERIOD
}

/// How long a verification link works.
pub const VERIFICATION_TTL: Duration = Duration::hours(24);
/// How long a password-reset link works.
pub const RESET_TTL: Duration = Duration::minutes(30);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn one_link_a_minute_and_five_an_hour() {
        assert!(may_send(&[], t0()));
        assert!(!may_send(&[t0()], t0() + Duration::seconds(59)));
        assert!(may_send(&[t0()], t0() + Duration::seconds(60)));
        let five: Vec<_> = (0..5).map(|i| t0() + Duration::minutes(i * 5)).collect();
        assert!(!may_send(&five, t0() + Duration::minutes(30)));
        assert!(may_send(&five, t0() + Duration::minutes(61)));
    }

    proptest! {
        #[test]
        fn never_more_than_five_in_any_hour(gaps in proptest::collection::vec(0i64..900, 1..100)) {
            let mut sent: Vec<DateTime<Utc>> = Vec::new();
            let mut now = t0();
            for gap in gaps {
                now += Duration::seconds(gap);
                if may_send(&sent, now) {
                    sent.push(now);
                }
            }
            for (i, start) in sent.iter().enumerate() {
                let within = sent[i..].iter().filter(|t| **t - *start < PERIOD).count();
                prop_assert!(within <= MAX_PER_PERIOD);
            }
        }
    }
}

//! Holds: a slot kept for one patient for a few minutes, while they confirm a
//! booking or while a waitlist offer to them stands.
//!
//! A hold is a row of `appointments` with status `held`, under the very
//! exclusion constraints that keep bookings apart. Each row *claims* its time
//! for a stretch of wall-clock time (`claimed`): a booking from when it was made
//! onwards, a hold only until it expires. The constraints compare the claims
//! too, so a booking made after a hold expired does not clash with it: an
//! expired hold frees its slot by itself, with no sweeper needed for
//! correctness (the sweeper only announces `hold.expired` and passes a lapsed
//! waitlist offer on).

use chrono::{DateTime, Duration, SubsecRound, Utc};
use uuid::Uuid;

/// How long holds and waitlist offers last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldPolicy {
    /// A patient's own hold while confirming (`SCHEDULING_HOLD_MINUTES`, default 10).
    pub hold: Duration,
    /// A waitlist offer's hold (`SCHEDULING_OFFER_MINUTES`, default 15).
    pub offer: Duration,
}

impl HoldPolicy {
    pub const DEFAULT_HOLD_MINUTES: i64 = 10;
    pub const DEFAULT_OFFER_MINUTES: i64 = 15;
}

impl Default for HoldPolicy {
    fn default() -> Self {
        Self {
            hold: Duration::minutes(Self::DEFAULT_HOLD_MINUTES),
            offer: Duration::minutes(Self::DEFAULT_OFFER_MINUTES),
        }
    }
}

/// When a hold made at `now` for a slot starting at `start` expires: `ttl`
/// later, but never after the start (a slot cannot be kept past its time).
/// In whole microseconds, as PostgreSQL keeps it: the answer, the events and
/// the row all say the same instant.
pub fn expires_at(now: DateTime<Utc>, ttl: Duration, start: DateTime<Utc>) -> DateTime<Utc> {
    (now + ttl).min(start).trunc_subsecs(6)
}

/// Whether a hold expiring at `expires_at` still keeps its slot at `now`.
pub fn is_live(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now < expires_at
}

/// A hold as the rules need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldSlot {
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a booking with a `hold_id` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conversion {
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
}

/// Why a hold cannot become the booking asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unconvertible {
    /// Another patient's hold: as far as this patient knows, no such hold.
    #[error("the hold is not this patient's")]
    NotTheirs,
    #[error("the booking is not for the held provider, type and start")]
    Mismatch,
    #[error("the hold has expired")]
    Expired,
}

/// Whether `hold` can be converted into the booking `want` at `now`: the same
/// patient, provider, type and start, before the hold expires. The booking
/// rules (notice, horizon, hours) were checked when the hold was made and are
/// not asked again: the hold is the promise that the slot is theirs.
pub fn check_conversion(
    hold: &HeldSlot,
    want: &Conversion,
    now: DateTime<Utc>,
) -> Result<(), Unconvertible> {
    if hold.patient_id != want.patient_id {
        return Err(Unconvertible::NotTheirs);
    }
    if (hold.provider_id, hold.appointment_type_id, hold.start)
        != (want.provider_id, want.appointment_type_id, want.start)
    {
        return Err(Unconvertible::Mismatch);
    }
    if !is_live(hold.expires_at, now) {
        return Err(Unconvertible::Expired);
    }
    Ok(())
}

/// A patient may keep this many live holds at once (a portal holds one slot
/// while its patient confirms; more would let one patient keep a calendar
/// from everyone else).
pub const MAX_LIVE_HOLDS_PER_PATIENT: i64 = 3;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn hold() -> HeldSlot {
        HeldSlot {
            patient_id: Uuid::from_u128(1),
            provider_id: Uuid::from_u128(2),
            appointment_type_id: Uuid::from_u128(3),
            start: at("2026-05-04T10:00:00Z"),
            expires_at: at("2026-05-01T09:10:00Z"),
        }
    }

    fn asked() -> Conversion {
        let h = hold();
        Conversion {
            patient_id: h.patient_id,
            provider_id: h.provider_id,
            appointment_type_id: h.appointment_type_id,
            start: h.start,
        }
    }

    #[test]
    fn a_hold_lasts_its_ttl_but_never_past_the_start() {
        let now = at("2026-05-01T09:00:00Z");
        let ten = Duration::minutes(10);
        assert_eq!(
            expires_at(
                at("2026-05-01T09:00:00.123456789Z"),
                ten,
                at("2026-05-04T10:00:00Z")
            ),
            at("2026-05-01T09:10:00.123456Z"),
            "microseconds, as stored"
        );
        assert_eq!(
            expires_at(now, ten, at("2026-05-04T10:00:00Z")),
            at("2026-05-01T09:10:00Z")
        );
        assert_eq!(
            expires_at(now, ten, at("2026-05-01T09:05:00Z")),
            at("2026-05-01T09:05:00Z")
        );
        assert_eq!(
            HoldPolicy::default(),
            HoldPolicy {
                hold: ten,
                offer: Duration::minutes(15)
            }
        );
    }

    #[test]
    fn only_the_holder_converts_a_live_hold_into_the_same_booking() {
        let before = at("2026-05-01T09:09:59Z");
        assert_eq!(check_conversion(&hold(), &asked(), before), Ok(()));
        let someone_else = Conversion {
            patient_id: Uuid::from_u128(9),
            ..asked()
        };
        assert_eq!(
            check_conversion(&hold(), &someone_else, before),
            Err(Unconvertible::NotTheirs)
        );
        let later = Conversion {
            start: asked().start + Duration::minutes(30),
            ..asked()
        };
        assert_eq!(
            check_conversion(&hold(), &later, before),
            Err(Unconvertible::Mismatch)
        );
        let other_type = Conversion {
            appointment_type_id: Uuid::from_u128(8),
            ..asked()
        };
        assert_eq!(
            check_conversion(&hold(), &other_type, before),
            Err(Unconvertible::Mismatch)
        );
        assert_eq!(
            check_conversion(&hold(), &asked(), at("2026-05-01T09:10:00Z")),
            Err(Unconvertible::Expired)
        );
    }

    proptest! {
        /// A hold is live exactly until it expires, expires within its ttl and
        /// never after the start, whatever the clock says.
        #[test]
        fn expiry_is_bounded_and_liveness_flips_once(
            now_s in 0i64..10_000_000,
            now_ns in 0i64..1_000_000_000,
            ttl_m in 1i64..120,
            start_after_m in -60i64..100_000,
            probe_m in -200i64..200,
        ) {
            let now = DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(now_s) + Duration::nanoseconds(now_ns);
            let start = now + Duration::minutes(start_after_m);
            let ttl = Duration::minutes(ttl_m);
            let expiry = expires_at(now, ttl, start);
            prop_assert!(expiry <= now + ttl);
            prop_assert!(expiry <= start);
            prop_assert_eq!(expiry.timestamp_subsec_nanos() % 1_000, 0);
            prop_assert!(expiry > (now + ttl).min(start) - Duration::microseconds(1));
            let probe = now + Duration::minutes(probe_m);
            prop_assert_eq!(is_live(expiry, probe), probe < expiry);
        }
    }
}

//! The cancellation policy: what a patient owes for cancelling or moving an
//! appointment inside its type's window, or for not coming, and the clinic's
//! cap on those fees.
//!
//! - A patient cancelling inside the window owes the late-cancellation fee; a
//!   provider or staff cancelling never charges the patient.
//! - A reschedule inside the window counts as a late cancellation (otherwise
//!   moving would be a free way round the fee): by the patient, or by staff on
//!   the patient's behalf, it owes the fee unless staff or an admin waive it
//!   with a reason. A provider moving their own appointment is the clinic's
//!   change and charges nothing.
//! - A no-show owes the no-show fee (today the type's one fee for both).
//! - No fee exceeds the clinic's cap, a percentage of the type's price.

use chrono::{DateTime, Duration, Utc};
use platform::auth::Role;

use super::types::Money;

/// The most a late-cancellation or no-show fee may be, as a percentage of the
/// type's price (`SCHEDULING_MAX_FEE_PERCENT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeCap {
    percent: u8,
}

impl FeeCap {
    /// Half the price.
    pub const DEFAULT: FeeCap = FeeCap { percent: 50 };

    /// A cap of `percent` (0 to 100) of the price.
    pub fn new(percent: u8) -> Option<Self> {
        (percent <= 100).then_some(Self { percent })
    }

    pub fn percent(self) -> u8 {
        self.percent
    }

    /// The highest fee allowed for a type costing `price_minor` (rounded down).
    pub fn max_fee_minor(self, price_minor: i64) -> i64 {
        let max = i128::from(price_minor.max(0)) * i128::from(self.percent) / 100;
        // At most the price itself, so always within i64.
        i64::try_from(max).unwrap_or(price_minor)
    }

    /// Whether a type costing `price_minor` may charge `fee_minor`.
    pub fn allows(self, fee_minor: i64, price_minor: i64) -> bool {
        fee_minor <= self.max_fee_minor(price_minor)
    }
}

impl Default for FeeCap {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The fee actually owed for a type's `fee` at `price`: capped, and `None`
/// when nothing is owed.
///
/// New types cannot store a fee above the cap (creating one is refused), but
/// types stored before the cap existed may carry a higher one: every charge
/// and every fee shown goes through here, so the cap holds for those too.
pub fn capped_fee(fee: &Money, price: &Money, cap: FeeCap) -> Option<Money> {
    let amount_minor = fee.amount_minor.min(cap.max_fee_minor(price.amount_minor));
    (amount_minor > 0).then(|| Money {
        amount_minor,
        currency: fee.currency.clone(),
    })
}

/// A type's policy as it applies to its appointments: the window and the
/// fees owed, already capped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Cancelling or moving later than this before the start is late.
    pub window: Duration,
    pub late_cancel_fee: Option<Money>,
    pub no_show_fee: Option<Money>,
}

impl Policy {
    /// The policy of a type with this `window`, `price` and stored `fee`
    /// (one fee serves both late cancellations and no-shows).
    pub fn new(window: Duration, price: &Money, fee: &Money, cap: FeeCap) -> Self {
        let fee = capped_fee(fee, price, cap);
        Self {
            window,
            late_cancel_fee: fee.clone(),
            no_show_fee: fee,
        }
    }

    /// Whether a change at `now` to an appointment starting at `start` is late.
    pub fn inside_window(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now > start - self.window
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancellationOutcome {
    pub late: bool,
    pub fee: Option<Money>,
}

/// A cancellation by `by` at `now` of an appointment starting at `start`.
pub fn assess(
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    policy: &Policy,
    by: Role,
) -> CancellationOutcome {
    let late = by == Role::Patient && policy.inside_window(start, now);
    CancellationOutcome {
        late,
        fee: if late {
            policy.late_cancel_fee.clone()
        } else {
            None
        },
    }
}

/// A reschedule by `by` at `now` of an appointment starting at `start`;
/// `waived`: staff or an admin waived the fee (from anyone else it counts for
/// nothing; the API refuses it before). A waived late reschedule stays late,
/// with no fee.
pub fn assess_reschedule(
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    policy: &Policy,
    by: Role,
    waived: bool,
) -> CancellationOutcome {
    let late = by != Role::Provider && policy.inside_window(start, now);
    let waived = waived && matches!(by, Role::Staff | Role::Admin);
    CancellationOutcome {
        late,
        fee: if late && !waived {
            policy.late_cancel_fee.clone()
        } else {
            None
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur(n: i64) -> Money {
        Money {
            amount_minor: n,
            currency: "EUR".into(),
        }
    }

    fn policy(fee: i64) -> Policy {
        Policy::new(Duration::hours(24), &eur(6000), &eur(fee), FeeCap::DEFAULT)
    }

    fn start() -> DateTime<Utc> {
        "2026-05-01T10:00:00Z".parse().unwrap()
    }

    fn outcome(late: bool, fee: Option<Money>) -> CancellationOutcome {
        CancellationOutcome { late, fee }
    }

    #[test]
    fn late_patient_cancellations_owe_the_fee() {
        let (start, p) = (start(), policy(2500));
        let early = assess(start, start - Duration::hours(30), &p, Role::Patient);
        assert_eq!(early, outcome(false, None));
        let late = assess(start, start - Duration::hours(3), &p, Role::Patient);
        assert_eq!(late, outcome(true, Some(eur(2500))));
        let by_staff = assess(start, start - Duration::hours(3), &p, Role::Staff);
        assert_eq!(by_staff, outcome(false, None));
        let no_fee = assess(start, start - Duration::hours(3), &policy(0), Role::Patient);
        assert_eq!(no_fee, outcome(true, None));
    }

    #[test]
    fn the_window_opens_exactly_its_length_before_the_start() {
        let (start, p) = (start(), policy(2500));
        assert!(!p.inside_window(start, start - Duration::hours(24)));
        assert!(p.inside_window(start, start - Duration::hours(24) + Duration::seconds(1)));
        assert!(p.inside_window(start, start + Duration::minutes(5)));
    }

    #[test]
    fn a_late_reschedule_owes_the_fee_unless_staff_waive_it() {
        let (start, p) = (start(), policy(2500));
        let late = start - Duration::hours(3);
        let early = start - Duration::hours(30);
        let table = [
            (Role::Patient, early, false, outcome(false, None)),
            (Role::Patient, late, false, outcome(true, Some(eur(2500)))),
            // A patient cannot waive their own fee.
            (Role::Patient, late, true, outcome(true, Some(eur(2500)))),
            (Role::Staff, late, false, outcome(true, Some(eur(2500)))),
            (Role::Staff, late, true, outcome(true, None)),
            (Role::Admin, late, true, outcome(true, None)),
            (Role::Staff, early, true, outcome(false, None)),
            // The provider moving it is the clinic's change.
            (Role::Provider, late, false, outcome(false, None)),
        ];
        for (by, now, waived, want) in table {
            assert_eq!(
                assess_reschedule(start, now, &p, by, waived),
                want,
                "{by:?} at {now} waived={waived}"
            );
        }
    }

    #[test]
    fn fees_above_the_cap_are_charged_at_the_cap() {
        let cap = FeeCap::DEFAULT;
        assert_eq!(capped_fee(&eur(2500), &eur(6000), cap), Some(eur(2500)));
        assert_eq!(capped_fee(&eur(3000), &eur(6000), cap), Some(eur(3000)));
        // A type stored before the cap existed with a fee above it.
        assert_eq!(capped_fee(&eur(5000), &eur(6000), cap), Some(eur(3000)));
        assert_eq!(capped_fee(&eur(0), &eur(6000), cap), None);
        assert_eq!(capped_fee(&eur(2500), &eur(0), cap), None, "a free visit");
        let none = FeeCap::new(0).unwrap();
        assert_eq!(capped_fee(&eur(2500), &eur(6000), none), None);
        let p = Policy::new(Duration::hours(24), &eur(6000), &eur(5000), cap);
        assert_eq!(
            (p.late_cancel_fee, p.no_show_fee),
            (Some(eur(3000)), Some(eur(3000)))
        );
    }

    #[test]
    fn the_cap_is_a_percentage_of_the_price_rounded_down() {
        assert_eq!(FeeCap::new(101), None);
        let cap = FeeCap::new(50).unwrap();
        assert_eq!(cap.max_fee_minor(6001), 3000);
        assert!(cap.allows(3000, 6000));
        assert!(!cap.allows(3001, 6000));
        assert_eq!(FeeCap::new(100).unwrap().max_fee_minor(i64::MAX), i64::MAX);
    }

    proptest! {
        /// Whatever was stored, no charge exceeds the stored fee or the cap.
        #[test]
        fn no_fee_exceeds_the_stored_fee_or_the_cap(
            fee in 0i64..10_000_000,
            price in 0i64..10_000_000,
            percent in 0u8..=100,
        ) {
            let cap = FeeCap::new(percent).unwrap();
            let charged = capped_fee(&eur(fee), &eur(price), cap).map_or(0, |m| m.amount_minor);
            prop_assert!(charged <= fee);
            prop_assert!(charged * 100 <= price * i64::from(percent));
            prop_assert!(cap.allows(charged, price));
            if cap.allows(fee, price) {
                prop_assert_eq!(charged, fee);
            }
        }
    }
}

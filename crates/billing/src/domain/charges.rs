//! What an appointment's outcome costs the patient: the type's price when the
//! visit took place, the type's fee for a late cancellation or a no-show (when
//! the type has one), nothing otherwise.

use super::{invoice::InvoiceReason, money::Money};

/// What happened to an appointment, as far as billing cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Booked or moved: nothing owed yet.
    Scheduled,
    Completed {
        price: Money,
    },
    Cancelled {
        late: bool,
        fee: Option<Money>,
    },
    /// Moved to another time; inside the cancellation window it owes the
    /// late-cancellation fee (unless staff waived it: then no fee).
    Rescheduled {
        late: bool,
        fee: Option<Money>,
    },
    NoShow {
        fee: Option<Money>,
    },
}

/// The one line of the invoice an outcome calls for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    pub reason: InvoiceReason,
    pub amount: Money,
    /// The line's description (the appointment type; never a person's name).
    pub description: String,
}

/// The charge for `outcome` of an appointment of type `type_name`, if any.
/// Zero amounts bill nothing: a free visit gets no invoice.
pub fn charge_for(outcome: &Outcome, type_name: &str) -> Option<Charge> {
    let (reason, amount, description) = match outcome {
        Outcome::Scheduled => return None,
        Outcome::Completed { price } => (InvoiceReason::Completed, *price, type_name.to_owned()),
        Outcome::Cancelled {
            late: true,
            fee: Some(fee),
        } => (
            InvoiceReason::LateCancellation,
            *fee,
            format!("Late cancellation fee: {type_name}"),
        ),
        Outcome::Cancelled { .. } => return None,
        Outcome::Rescheduled {
            late: true,
            fee: Some(fee),
        } => (
            InvoiceReason::LateCancellation,
            *fee,
            format!("Late rescheduling fee: {type_name}"),
        ),
        Outcome::Rescheduled { .. } => return None,
        Outcome::NoShow { fee: Some(fee) } => (
            InvoiceReason::NoShow,
            *fee,
            format!("No-show fee: {type_name}"),
        ),
        Outcome::NoShow { fee: None } => return None,
    };
    (amount.amount_minor > 0).then_some(Charge {
        reason,
        amount,
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;

    fn eur(n: i64) -> Money {
        Money::new(n, Currency::parse("EUR").unwrap())
    }

    #[test]
    fn what_each_outcome_bills() {
        let t = "Consultation";
        assert_eq!(charge_for(&Outcome::Scheduled, t), None);
        let c = charge_for(&Outcome::Completed { price: eur(6000) }, t).unwrap();
        assert_eq!(
            (c.reason, c.amount, c.description.as_str()),
            (InvoiceReason::Completed, eur(6000), "Consultation")
        );
        let c = charge_for(
            &Outcome::Cancelled {
                late: true,
                fee: Some(eur(2500)),
            },
            t,
        )
        .unwrap();
        assert_eq!(
            (c.reason, c.amount),
            (InvoiceReason::LateCancellation, eur(2500))
        );
        let c = charge_for(
            &Outcome::NoShow {
                fee: Some(eur(2500)),
            },
            t,
        )
        .unwrap();
        assert_eq!((c.reason, c.amount), (InvoiceReason::NoShow, eur(2500)));
        let c = charge_for(
            &Outcome::Rescheduled {
                late: true,
                fee: Some(eur(2500)),
            },
            t,
        )
        .unwrap();
        assert_eq!(
            (c.reason, c.amount, c.description.as_str()),
            (
                InvoiceReason::LateCancellation,
                eur(2500),
                "Late rescheduling fee: Consultation"
            )
        );
    }

    #[test]
    fn on_time_cancellations_free_visits_and_missing_fees_bill_nothing() {
        let t = "Consultation";
        for outcome in [
            Outcome::Cancelled {
                late: false,
                fee: None,
            },
            // A fee without lateness is not owed.
            Outcome::Cancelled {
                late: false,
                fee: Some(eur(2500)),
            },
            Outcome::Cancelled {
                late: true,
                fee: None,
            },
            Outcome::Cancelled {
                late: true,
                fee: Some(eur(0)),
            },
            Outcome::NoShow { fee: None },
            Outcome::Completed { price: eur(0) },
            // Moved in time, or late with the fee waived by staff.
            Outcome::Rescheduled {
                late: false,
                fee: None,
            },
            Outcome::Rescheduled {
                late: true,
                fee: None,
            },
        ] {
            assert_eq!(charge_for(&outcome, t), None, "{outcome:?}");
        }
    }
}

//! The cancellation policy: a patient cancelling inside the type's window owes
//! its late-cancel fee; a provider or staff cancelling never charges the patient.

use chrono::{DateTime, Duration, Utc};
use platform::auth::Role;

use super::types::Money;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancellationOutcome {
    pub late: bool,
    pub fee: Option<Money>,
}

pub fn assess(
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    window: Duration,
    fee: Option<&Money>,
    by: Role,
) -> CancellationOutcome {
    let late = by == Role::Patient && now > start - window;
    CancellationOutcome {
        late,
        fee: if late {
            fee.filter(|m| m.amount_minor > 0).cloned()
        } else {
            None
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(n: i64) -> Money {
        Money {
            amount_minor: n,
            currency: "EUR".into(),
        }
    }

    #[test]
    fn late_patient_cancellations_owe_the_fee() {
        let start: DateTime<Utc> = "2026-05-01T10:00:00Z".parse().unwrap();
        let window = Duration::hours(24);
        let early = assess(
            start,
            start - Duration::hours(30),
            window,
            Some(&eur(2500)),
            Role::Patient,
        );
        assert_eq!(
            early,
            CancellationOutcome {
                late: false,
                fee: None
            }
        );
        let late = assess(
            start,
            start - Duration::hours(3),
            window,
            Some(&eur(2500)),
            Role::Patient,
        );
        assert_eq!(
            late,
            CancellationOutcome {
                late: true,
                fee: Some(eur(2500))
            }
        );
        let by_staff = assess(
            start,
            start - Duration::hours(3),
            window,
            Some(&eur(2500)),
            Role::Staff,
        );
        assert_eq!(
            by_staff,
            CancellationOutcome {
                late: false,
                fee: None
            }
        );
        let no_fee = assess(
            start,
            start - Duration::hours(3),
            window,
            Some(&eur(0)),
            Role::Patient,
        );
        assert_eq!(
            no_fee,
            CancellationOutcome {
                late: true,
                fee: None
            }
        );
    }
}

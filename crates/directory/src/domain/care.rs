//! What the directory keeps of each appointment between a provider and a
//! patient (learned from scheduling's `appointment.*` events), and how it
//! becomes a [`Visit`] for the one care-window rule, [`platform::care`],
//! which records follows too.

use chrono::{DateTime, Utc};
use contracts::scheduling::AppointmentStatus;
use platform::care::{Visit, VisitState};

/// The moment an appointment stopped being active, given the status an event
/// reports and when that event occurred: `None` while it is booked or checked
/// in; the event's moment once it is completed, cancelled or a no-show.
pub fn closed_at(status: AppointmentStatus, occurred_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (!status.is_active()).then_some(occurred_at)
}

/// The visit an appointment starting at `start` stands for. A closed status
/// without its closing moment (the store's check constraint rules it out)
/// counts as closed at the start: never longer than the rule allows.
pub fn visit(
    status: AppointmentStatus,
    start: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
) -> Visit {
    let at = closed_at.unwrap_or(start);
    let state = match status {
        AppointmentStatus::Booked => VisitState::Booked,
        AppointmentStatus::CheckedIn => VisitState::CheckedIn,
        AppointmentStatus::Completed => VisitState::Completed { at },
        AppointmentStatus::Cancelled => VisitState::Cancelled { at },
        AppointmentStatus::NoShow => VisitState::NoShow { at },
    };
    Visit { start, state }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use platform::care::{access, CareAccess, CarePolicy};
    use AppointmentStatus::{Booked, Cancelled, CheckedIn, Completed, NoShow};

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    fn days(n: i64) -> DateTime<Utc> {
        now() + Duration::days(n)
    }

    /// Whether one appointment, as the store keeps it, opens access now.
    fn opens(status: AppointmentStatus, start: i64, closed: Option<i64>) -> bool {
        let v = visit(status, days(start), closed.map(days));
        access(&[v], &CarePolicy::default(), now()).open()
    }

    #[test]
    fn only_completed_cancelled_and_no_show_appointments_are_closed() {
        for status in AppointmentStatus::ALL {
            assert_eq!(
                closed_at(status, now()).is_some(),
                !status.is_active(),
                "{status:?}"
            );
        }
        assert_eq!(closed_at(Completed, days(-3)), Some(days(-3)));
    }

    #[test]
    fn a_booking_opens_access_seven_days_before_its_start() {
        assert!(opens(Booked, 6, None), "6 days ahead");
        assert!(opens(Booked, 7, None), "exactly 7 days ahead");
        assert!(!opens(Booked, 8, None), "8 days ahead");
        assert!(opens(CheckedIn, 0, None));
        assert!(
            opens(Booked, -30, None),
            "still booked long after its start"
        );
    }

    #[test]
    fn a_cancelled_booking_or_a_no_show_closes_access_at_once() {
        assert!(!opens(Cancelled, 6, Some(0)));
        assert!(!opens(Cancelled, 2, Some(-1)));
        assert!(!opens(NoShow, 0, Some(0)));
    }

    #[test]
    fn a_completed_visit_keeps_access_ninety_days() {
        assert!(opens(Completed, -89, Some(-89)));
        assert!(
            !opens(Completed, -91, Some(-91)),
            "91 days after completion"
        );
        // The follow-up counts from completion, not from the start.
        assert!(opens(Completed, -120, Some(-89)));
    }

    #[test]
    fn a_closed_status_without_its_moment_closes_at_the_start() {
        assert_eq!(
            visit(Cancelled, days(3), None).state,
            VisitState::Cancelled { at: days(3) }
        );
        let completed = visit(Completed, days(-100), None);
        assert_eq!(
            access(&[completed], &CarePolicy::default(), now()),
            CareAccess::None
        );
    }
}

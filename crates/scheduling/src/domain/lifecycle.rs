//! The appointment state machine: `booked → checked_in → completed`,
//! `booked → cancelled`, `booked → no_show`; rescheduling keeps it booked.
//! The visit's steps also follow the clock: check-in opens an hour before the
//! start, completing and marking a no-show only once it has started.

use chrono::{DateTime, Duration, Utc};

/// An appointment's status: the one appointment events carry.
pub use contracts::scheduling::AppointmentStatus as Status;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    CheckIn,
    Complete,
    Cancel,
    MarkNoShow,
    Reschedule,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot {action:?} an appointment that is {from:?}")]
pub struct IllegalTransition {
    pub from: Status,
    pub action: Action,
}

/// The state after `action`, or why it is not allowed.
pub fn next(from: Status, action: Action) -> Result<Status, IllegalTransition> {
    use {Action as A, Status as S};
    match (from, action) {
        (S::Booked, A::CheckIn) => Ok(S::CheckedIn),
        (S::CheckedIn, A::Complete) => Ok(S::Completed),
        (S::Booked, A::Cancel) => Ok(S::Cancelled),
        (S::Booked, A::MarkNoShow) => Ok(S::NoShow),
        (S::Booked, A::Reschedule) => Ok(S::Booked),
        _ => Err(IllegalTransition { from, action }),
    }
}

/// How long before the start a patient can be checked in.
pub const CHECK_IN_OPENS_BEFORE: Duration = Duration::minutes(60);

/// A visit step recorded before its time.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot {action:?} before {opens}")]
pub struct TooEarly {
    pub action: Action,
    /// The first moment the step is possible.
    pub opens: DateTime<Utc>,
}

/// Whether `action` may happen at `now` to an appointment starting at `start`:
/// check-in from [`CHECK_IN_OPENS_BEFORE`] the start, complete and no-show
/// from the start on (a visit cannot be over, nor missed, before it began).
/// Cancelling and rescheduling have no such rule here.
pub fn step_open(action: Action, start: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), TooEarly> {
    let opens = match action {
        Action::CheckIn => start - CHECK_IN_OPENS_BEFORE,
        Action::Complete | Action::MarkNoShow => start,
        Action::Cancel | Action::Reschedule => return Ok(()),
    };
    if now < opens {
        Err(TooEarly { action, opens })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_visit_step_opens_at_its_time() {
        use Action as A;
        let start: DateTime<Utc> = "2026-05-01T10:00:00Z".parse().unwrap();
        let at = |minutes: i64| start + Duration::minutes(minutes);
        // (action, minutes from the start, allowed)
        let table = [
            (A::CheckIn, -24 * 60, false),
            (A::CheckIn, -61, false),
            (A::CheckIn, -60, true),
            (A::CheckIn, -5, true),
            (A::CheckIn, 0, true),
            (A::CheckIn, 45, true),
            (A::Complete, -60, false),
            (A::Complete, -1, false),
            (A::Complete, 0, true),
            (A::Complete, 90, true),
            (A::MarkNoShow, -30, false),
            (A::MarkNoShow, 0, true),
            (A::MarkNoShow, 20, true),
            (A::Cancel, -24 * 60, true),
            (A::Cancel, 30, true),
            (A::Reschedule, -24 * 60, true),
        ];
        for (action, minutes, allowed) in table {
            assert_eq!(
                step_open(action, start, at(minutes)).is_ok(),
                allowed,
                "{action:?} at {minutes} minutes"
            );
        }
        assert_eq!(
            step_open(A::CheckIn, start, at(-90)),
            Err(TooEarly {
                action: A::CheckIn,
                opens: at(-60)
            })
        );
        assert_eq!(
            step_open(A::MarkNoShow, start, at(-1)),
            Err(TooEarly {
                action: A::MarkNoShow,
                opens: start
            })
        );
    }

    #[test]
    fn the_full_transition_matrix() {
        use {Action as A, Status as S};
        let actions = [
            A::CheckIn,
            A::Complete,
            A::Cancel,
            A::MarkNoShow,
            A::Reschedule,
        ];
        let allowed = [
            (S::Booked, A::CheckIn, S::CheckedIn),
            (S::CheckedIn, A::Complete, S::Completed),
            (S::Booked, A::Cancel, S::Cancelled),
            (S::Booked, A::MarkNoShow, S::NoShow),
            (S::Booked, A::Reschedule, S::Booked),
        ];
        for from in Status::ALL {
            for action in actions {
                let expected = allowed
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                assert_eq!(next(from, action).ok(), expected, "{from:?} + {action:?}");
            }
        }
    }

    #[test]
    fn terminal_states_stay_terminal_and_names_round_trip() {
        for s in [Status::Completed, Status::Cancelled, Status::NoShow] {
            assert!(!s.is_active());
        }
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }
}

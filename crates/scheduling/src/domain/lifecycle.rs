//! The appointment state machine: `booked → checked_in → completed`,
//! `booked → cancelled`, `booked → no_show`; rescheduling keeps it booked.

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

#[cfg(test)]
mod tests {
    use super::*;

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

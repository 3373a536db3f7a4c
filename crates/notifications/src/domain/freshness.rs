//! Whether an email about an appointment still says something true when it is
//! about to go out. Every appointment email describes one version; once a newer
//! version is known (the appointment was moved or cancelled meanwhile: an SMTP
//! outage, a retry, a slow replica), the older email would contradict the newer
//! one, so it is dropped. Reminders are also dropped once the appointment began
//! or was cancelled.

use chrono::{DateTime, Utc};

use super::{
    appointment::{Appointment, AppointmentStatus},
    kinds::Kind,
    reminders::still_useful,
};

/// Why an appointment email is no longer sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stale {
    /// A newer version of the appointment is known.
    Superseded,
    /// A reminder of a cancelled appointment.
    Cancelled,
    /// A reminder once the appointment began.
    Started,
    /// A reminder of an appointment no event told us of.
    Unknown,
}

impl Stale {
    /// The stored reason (`deliveries.last_error` of a `cancelled` delivery)
    /// and the metrics label.
    pub fn reason(self) -> &'static str {
        match self {
            Stale::Superseded => "superseded",
            Stale::Cancelled => "appointment-cancelled",
            Stale::Started => "appointment-started",
            Stale::Unknown => "appointment-unknown",
        }
    }
}

/// Why the email `kind` about version `version` should not go out at `now`,
/// given the newest version known (`current`); `None` when it should.
pub fn check(
    kind: Kind,
    version: i32,
    current: Option<&Appointment>,
    now: DateTime<Utc>,
) -> Option<Stale> {
    let Some(current) = current else {
        // A change email's appointment is stored with it: it cannot be missing.
        return kind.is_reminder().then_some(Stale::Unknown);
    };
    if current.version > version {
        return Some(Stale::Superseded);
    }
    if kind.is_reminder() {
        if current.status == AppointmentStatus::Cancelled {
            return Some(Stale::Cancelled);
        }
        if !still_useful(current.start, now) {
            return Some(Stale::Started);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::appointment::fixtures::consultation;
    use chrono::Duration;
    use proptest::prelude::*;

    const REMINDER: Kind = Kind::Reminder {
        minutes_before: 120,
    };

    fn version(v: i32, status: AppointmentStatus) -> Appointment {
        Appointment {
            version: v,
            status,
            ..consultation()
        }
    }

    fn before_start() -> DateTime<Utc> {
        consultation().start - Duration::hours(1)
    }

    #[test]
    fn a_confirmation_after_a_cancellation_is_superseded() {
        let cancelled = version(2, AppointmentStatus::Cancelled);
        assert_eq!(
            check(Kind::Booked, 1, Some(&cancelled), before_start()),
            Some(Stale::Superseded)
        );
        // The cancellation itself goes out.
        assert_eq!(
            check(Kind::Cancelled, 2, Some(&cancelled), before_start()),
            None
        );
    }

    #[test]
    fn a_reschedule_superseded_by_a_later_one_is_dropped_and_the_latest_is_sent() {
        let third = version(3, AppointmentStatus::Booked);
        assert_eq!(
            check(Kind::Rescheduled, 2, Some(&third), before_start()),
            Some(Stale::Superseded)
        );
        assert_eq!(
            check(Kind::Rescheduled, 3, Some(&third), before_start()),
            None
        );
    }

    #[test]
    fn change_emails_are_sent_after_the_start_but_reminders_are_not() {
        let booked = version(1, AppointmentStatus::Booked);
        let after = consultation().start + Duration::minutes(5);
        assert_eq!(check(Kind::Booked, 1, Some(&booked), after), None);
        assert_eq!(
            check(REMINDER, 1, Some(&booked), after),
            Some(Stale::Started)
        );
        assert_eq!(check(REMINDER, 1, Some(&booked), before_start()), None);
    }

    #[test]
    fn reminders_of_cancelled_or_unknown_appointments_are_dropped() {
        let cancelled = version(1, AppointmentStatus::Cancelled);
        assert_eq!(
            check(REMINDER, 1, Some(&cancelled), before_start()),
            Some(Stale::Cancelled)
        );
        assert_eq!(
            check(REMINDER, 1, None, before_start()),
            Some(Stale::Unknown)
        );
        assert_eq!(check(Kind::Booked, 1, None, before_start()), None);
    }

    proptest! {
        /// Whatever the kind, an email about an older version than the newest
        /// known never goes out, and one about the newest booked version before
        /// the start always does.
        #[test]
        fn only_the_newest_version_is_ever_sent(sent in 1i32..50, newer in 1i32..50, k in 0usize..4) {
            let kind = [Kind::Booked, Kind::Rescheduled, Kind::Cancelled, REMINDER][k];
            let current = version(sent.max(newer), AppointmentStatus::Booked);
            let verdict = check(kind, sent, Some(&current), before_start());
            prop_assert_eq!(verdict.is_none(), newer <= sent);
        }
    }
}

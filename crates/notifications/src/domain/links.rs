//! Self-service links in appointment emails. Scheduling issues, per version
//! of an appointment, a cancel and a reschedule token
//! (`appointment.links_issued` v1); the patient's confirmation (booked or
//! rescheduled) and reminders of that version carry them as portal pages
//! (`/appointment-links/{token}`, a confirmation page: nothing happens on GET).
//!
//! The rules, as pure functions:
//!
//! * Only the newest version's links are kept, and only until the start: links
//!   of a version older than one already known are not stored, and stored
//!   ones are forgotten once a newer version is known or the appointment starts.
//! * An email carries links only of its own version, to the appointment's
//!   patient, while the appointment is booked and has not started. An email of
//!   an older version is dropped anyway ([`super::freshness`]), so links of an
//!   older version never go out.
//! * The links event is published with the booking, but may arrive before or
//!   after it. The patient's confirmation waits for them at most
//!   [`crate::Config::links_wait`] (`NOTIFICATIONS_LINKS_WAIT_MS`, 10 s by
//!   default): it is recorded due that much later unless the links are already
//!   here, and the links' arrival makes it due at once. After the wait it goes
//!   out without links (the portal's appointment page still cancels and
//!   reschedules). Reminders never wait: by their time the links have long
//!   arrived, or never will. (Two replicas consuming the booking and its links
//!   at the same instant may miss the wake-up; the confirmation then goes at
//!   the end of the wait, with the links, which it looks up when rendered.)
//!
//! Tokens are secrets: never logged, never in a `Debug` output, never in the
//! delivery log (emails look them up when rendered).

use std::fmt;

use chrono::{DateTime, Duration, Utc};

pub use contracts::scheduling::AppointmentLinksIssued;

use super::{
    account::{paths, PortalUrl},
    appointment::{Appointment, AppointmentStatus},
    kinds::{Kind, Recipient},
};

/// The links of one appointment version, as stored until sent and spent.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredLinks {
    pub appointment_id: uuid::Uuid,
    pub patient_id: uuid::Uuid,
    pub version: i32,
    pub cancel_token: String,
    pub reschedule_token: String,
    /// The appointment's start: the links stop working then.
    pub expires_at: DateTime<Utc>,
}

impl From<AppointmentLinksIssued> for StoredLinks {
    fn from(e: AppointmentLinksIssued) -> Self {
        Self {
            appointment_id: e.appointment_id,
            patient_id: e.patient_id,
            version: e.version,
            cancel_token: e.cancel_token,
            reschedule_token: e.reschedule_token,
            expires_at: e.expires_at,
        }
    }
}

impl fmt::Debug for StoredLinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredLinks")
            .field("appointment_id", &self.appointment_id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Why a links event is not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotKept {
    /// A newer version of the appointment (or of its links) is already known.
    Superseded,
    /// The appointment has started: the links no longer work.
    Expired,
}

impl NotKept {
    /// The metrics label and log reason.
    pub fn reason(self) -> &'static str {
        match self {
            NotKept::Superseded => "superseded",
            NotKept::Expired => "expired",
        }
    }
}

/// Whether links of `version`, working until `expires_at`, are worth keeping
/// at `now`, given the newest version of the appointment (or of its links)
/// already known.
pub fn keep(
    version: i32,
    expires_at: DateTime<Utc>,
    newest_known: Option<i32>,
    now: DateTime<Utc>,
) -> Result<(), NotKept> {
    if newest_known.is_some_and(|known| known > version) {
        return Err(NotKept::Superseded);
    }
    if expires_at <= now {
        return Err(NotKept::Expired);
    }
    Ok(())
}

/// Whether the email `kind` to `recipient` carries self-service links.
pub fn carries_links(kind: Kind, recipient: Recipient) -> bool {
    recipient == Recipient::Patient
        && matches!(
            kind,
            Kind::Booked | Kind::Rescheduled | Kind::Reminder { .. }
        )
}

/// When a new email may first be attempted: a patient's confirmation whose
/// links are not here yet waits up to `wait` for them; everything else is due
/// `now`.
pub fn due_at(
    kind: Kind,
    recipient: Recipient,
    have_links: bool,
    now: DateTime<Utc>,
    wait: Duration,
) -> DateTime<Utc> {
    let confirmation = matches!(kind, Kind::Booked | Kind::Rescheduled);
    if confirmation && carries_links(kind, recipient) && !have_links {
        now + wait
    } else {
        now
    }
}

/// The two portal pages an email links to.
#[derive(Clone, PartialEq, Eq)]
pub struct ActionLinks {
    pub cancel: String,
    pub reschedule: String,
}

impl fmt::Debug for ActionLinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActionLinks(***)")
    }
}

/// The links the email `kind` about `a` (as of its version) to `recipient`
/// carries at `now`, from the stored ones; `None` when it carries none.
pub fn for_email(
    kind: Kind,
    recipient: Recipient,
    a: &Appointment,
    stored: Option<&StoredLinks>,
    portal: &PortalUrl,
    now: DateTime<Utc>,
) -> Option<ActionLinks> {
    let links = stored?;
    let usable = carries_links(kind, recipient)
        && a.status == AppointmentStatus::Booked
        && links.appointment_id == a.appointment_id
        && links.patient_id == a.patient_id
        && links.version == a.version
        && now < links.expires_at
        && now < a.start;
    usable.then(|| ActionLinks {
        cancel: portal.page(paths::APPOINTMENT_LINK, &links.cancel_token),
        reschedule: portal.page(paths::APPOINTMENT_LINK, &links.reschedule_token),
    })
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::domain::appointment::fixtures::consultation;

    /// The links of the consultation's version 1.
    pub fn links() -> StoredLinks {
        let a = consultation();
        StoredLinks {
            appointment_id: a.appointment_id,
            patient_id: a.patient_id,
            version: a.version,
            cancel_token: "cx_A1.b2".into(),
            reschedule_token: "rs_C3.d4".into(),
            expires_at: a.start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::appointment::fixtures::consultation;
    use proptest::prelude::*;

    const REMINDER: Kind = Kind::Reminder {
        minutes_before: 1440,
    };

    fn portal() -> PortalUrl {
        "https://portal.clinic.example".parse().unwrap()
    }

    fn before_start() -> DateTime<Utc> {
        consultation().start - Duration::hours(2)
    }

    #[test]
    fn the_patients_confirmation_and_reminders_carry_the_links_of_their_version() {
        let a = consultation();
        let links = fixtures::links();
        for kind in [Kind::Booked, Kind::Rescheduled, REMINDER] {
            let got = for_email(
                kind,
                Recipient::Patient,
                &a,
                Some(&links),
                &portal(),
                before_start(),
            )
            .unwrap_or_else(|| panic!("{kind} carries links"));
            assert_eq!(
                got.cancel,
                "https://portal.clinic.example/appointment-links/cx_A1.b2"
            );
            assert_eq!(
                got.reschedule,
                "https://portal.clinic.example/appointment-links/rs_C3.d4"
            );
        }
        // Not the provider's, not a cancellation.
        assert!(for_email(
            Kind::Booked,
            Recipient::Provider,
            &a,
            Some(&links),
            &portal(),
            before_start()
        )
        .is_none());
        assert!(!carries_links(Kind::Cancelled, Recipient::Patient));
    }

    #[test]
    fn links_of_another_version_or_after_the_start_never_go_out() {
        let mut a = consultation();
        let links = fixtures::links();
        a.version = 2;
        assert!(for_email(
            Kind::Rescheduled,
            Recipient::Patient,
            &a,
            Some(&links),
            &portal(),
            before_start()
        )
        .is_none());
        let a = consultation();
        assert!(for_email(
            REMINDER,
            Recipient::Patient,
            &a,
            Some(&links),
            &portal(),
            a.start
        )
        .is_none());
        let mut cancelled = consultation();
        cancelled.status = AppointmentStatus::Cancelled;
        assert!(for_email(
            REMINDER,
            Recipient::Patient,
            &cancelled,
            Some(&links),
            &portal(),
            before_start()
        )
        .is_none());
        let mut foreign = fixtures::links();
        foreign.patient_id = uuid::Uuid::nil();
        assert!(for_email(
            Kind::Booked,
            Recipient::Patient,
            &a,
            Some(&foreign),
            &portal(),
            before_start()
        )
        .is_none());
        assert!(for_email(
            Kind::Booked,
            Recipient::Patient,
            &a,
            None,
            &portal(),
            before_start()
        )
        .is_none());
    }

    #[test]
    fn only_the_newest_unexpired_links_are_kept() {
        let now = before_start();
        let start = consultation().start;
        assert_eq!(keep(1, start, None, now), Ok(()));
        assert_eq!(keep(2, start, Some(2), now), Ok(()));
        assert_eq!(keep(2, start, Some(1), now), Ok(()));
        assert_eq!(keep(1, start, Some(2), now), Err(NotKept::Superseded));
        assert_eq!(keep(1, start, None, start), Err(NotKept::Expired));
    }

    #[test]
    fn only_the_patients_confirmation_waits_for_links_it_does_not_have() {
        let now = before_start();
        let wait = Duration::seconds(10);
        assert_eq!(
            due_at(Kind::Booked, Recipient::Patient, false, now, wait),
            now + wait
        );
        assert_eq!(
            due_at(Kind::Rescheduled, Recipient::Patient, false, now, wait),
            now + wait
        );
        assert_eq!(
            due_at(Kind::Booked, Recipient::Patient, true, now, wait),
            now
        );
        assert_eq!(
            due_at(Kind::Booked, Recipient::Provider, false, now, wait),
            now
        );
        assert_eq!(
            due_at(Kind::Cancelled, Recipient::Patient, false, now, wait),
            now
        );
        assert_eq!(due_at(REMINDER, Recipient::Patient, false, now, wait), now);
    }

    #[test]
    fn debug_output_never_shows_a_token() {
        let shown = format!("{:?}", fixtures::links());
        assert!(
            !shown.contains("cx_A1") && !shown.contains("rs_C3"),
            "{shown}"
        );
        let a = consultation();
        let links = for_email(
            Kind::Booked,
            Recipient::Patient,
            &a,
            Some(&fixtures::links()),
            &portal(),
            before_start(),
        );
        assert!(!format!("{links:?}").contains("cx_A1"));
    }

    proptest! {
        /// Whatever arrives in whatever order, an email only ever carries the
        /// links of its own version.
        #[test]
        fn an_email_carries_only_its_own_versions_links(email in 1i32..20, issued in 1i32..20, k in 0usize..3) {
            let kind = [Kind::Booked, Kind::Rescheduled, REMINDER][k];
            let a = Appointment { version: email, ..consultation() };
            let links = StoredLinks { version: issued, ..fixtures::links() };
            let got = for_email(kind, Recipient::Patient, &a, Some(&links), &portal(), before_start());
            prop_assert_eq!(got.is_some(), email == issued);
        }
    }
}

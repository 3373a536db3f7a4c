//! Which emails exist: one kind per appointment change plus one per reminder
//! offset, each addressed to the patient or the provider; one about each
//! break-glass grant, to the patient and to whoever reviews it (the configured
//! privacy contact, or every admin); one per account event identity asks
//! to have emailed, to the account's holder; and one per waitlist offer, to
//! the patient it is made to.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    account::{self, AccountEmail},
    appointment::Appointment,
    break_glass::BreakGlassGranted,
    waitlist::Offer,
};

/// What an email is about. Its key is part of the delivery's unique key, so a
/// 24-hour and a 2-hour reminder of the same version are different emails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Booked,
    Rescheduled,
    Cancelled,
    Reminder { minutes_before: u32 },
}

impl Kind {
    /// The kind an `appointment.*` event causes, if any.
    pub fn for_event(event_type: &str) -> Option<Kind> {
        use contracts::{
            scheduling::{AppointmentBooked, AppointmentCancelled, AppointmentRescheduled},
            Event,
        };
        match event_type {
            AppointmentBooked::TYPE => Some(Kind::Booked),
            AppointmentRescheduled::TYPE => Some(Kind::Rescheduled),
            AppointmentCancelled::TYPE => Some(Kind::Cancelled),
            _ => None,
        }
    }

    /// Stored form: `booked`, `rescheduled`, `cancelled`, `reminder-1440`.
    pub fn key(self) -> String {
        match self {
            Kind::Booked => "booked".into(),
            Kind::Rescheduled => "rescheduled".into(),
            Kind::Cancelled => "cancelled".into(),
            Kind::Reminder { minutes_before } => format!("reminder-{minutes_before}"),
        }
    }

    pub fn parse(key: &str) -> Option<Kind> {
        match key {
            "booked" => Some(Kind::Booked),
            "rescheduled" => Some(Kind::Rescheduled),
            "cancelled" => Some(Kind::Cancelled),
            other => other
                .strip_prefix("reminder-")
                .and_then(|m| m.parse().ok())
                .filter(|m| *m > 0)
                .map(|minutes_before| Kind::Reminder { minutes_before }),
        }
    }

    /// A metrics label with few values (every reminder is `reminder`).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Booked => "booked",
            Kind::Rescheduled => "rescheduled",
            Kind::Cancelled => "cancelled",
            Kind::Reminder { .. } => "reminder",
        }
    }

    pub fn is_reminder(self) -> bool {
        matches!(self, Kind::Reminder { .. })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// Who an email is for (and, for people, the role the read model keeps them in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recipient {
    Patient,
    Provider,
    /// Reviews break-glass access when no privacy contact is configured.
    Admin,
    /// `NOTIFICATIONS_PRIVACY_CONTACT`: an address, not a person.
    PrivacyContact,
    /// Whoever holds an account, whatever their role, at the address the
    /// account event names (which no read model may know yet).
    AccountHolder,
}

impl Recipient {
    pub fn as_str(self) -> &'static str {
        match self {
            Recipient::Patient => "patient",
            Recipient::Provider => "provider",
            Recipient::Admin => "admin",
            Recipient::PrivacyContact => "privacy-contact",
            Recipient::AccountHolder => "account-holder",
        }
    }

    pub fn parse(s: &str) -> Option<Recipient> {
        match s {
            "patient" => Some(Recipient::Patient),
            "provider" => Some(Recipient::Provider),
            "admin" => Some(Recipient::Admin),
            "privacy-contact" => Some(Recipient::PrivacyContact),
            "account-holder" => Some(Recipient::AccountHolder),
            _ => None,
        }
    }
}

/// The `recipient_id` of deliveries to the configured privacy contact: one
/// email per grant to whoever is configured (the address is on the row).
pub const PRIVACY_CONTACT_ID: Uuid = Uuid::nil();

/// The `kind` of a break-glass email.
const BREAK_GLASS: &str = "break-glass";

/// The `kind` of a waitlist offer's email.
pub const WAITLIST_OFFER: &str = "waitlist-offer";
/// The email that takes an offer's tentative calendar entry back when the
/// held slot lapsed or was released unbooked.
pub const WAITLIST_OFFER_ENDED: &str = "waitlist-offer-ended";

/// The kinds whose stored payload holds a token (a verification, reset or
/// claim link): `token` is removed from the snapshot once the delivery is
/// final (`store::deliveries::settle`), so the log never keeps a working link.
pub const WITH_TOKEN: &[&str] = &[
    account::kinds::VERIFY_EMAIL,
    account::kinds::PASSWORD_RESET,
    WAITLIST_OFFER,
];

/// What one email is about: its kind and the event payload it is rendered
/// from, stored with the delivery (`kind`, `snapshot`) and read back together,
/// so a kind never meets the wrong payload.
#[derive(Clone, Debug, PartialEq)]
pub enum About {
    /// A change to an appointment, or a reminder of it.
    Appointment {
        kind: Kind,
        appointment: Appointment,
    },
    /// A break-glass grant (`record.break_glass_granted` v1).
    BreakGlass(BreakGlassGranted),
    /// An account event (`user.verification_requested` …): each event is one
    /// email, so the event's id is the delivery's subject.
    Account { event_id: Uuid, email: AccountEmail },
    /// A slot held for a waitlisted patient (`waitlist.offered` v1): one email
    /// per offer, under the offer's id.
    WaitlistOffer(Offer),
    /// That offer's hold ended unbooked (`hold.expired` / `hold.released`):
    /// its tentative calendar entry is cancelled. Under the offer's id,
    /// version 2, so it never collides with the offer email.
    OfferEnded(Offer),
}

/// Why a stored delivery cannot be rendered. The message never quotes the
/// snapshot (serde's may: names, reasons), only the source error does.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    #[error("unknown kind")]
    Kind,
    #[error("snapshot does not match its kind")]
    Snapshot(#[from] serde_json::Error),
}

/// The stored form of a snapshot: the payload alone, as its event carried it
/// (rows from before break-glass emails hold a bare appointment too).
#[derive(Serialize)]
#[serde(untagged)]
pub enum Payload<'a> {
    Appointment(&'a Appointment),
    BreakGlass(&'a BreakGlassGranted),
    Account(&'a AccountEmail),
    WaitlistOffer(&'a Offer),
}

impl About {
    /// Read a delivery's `kind`, subject (`appointment_id`) and `snapshot` back.
    pub fn read(
        kind: &str,
        subject_id: Uuid,
        snapshot: &serde_json::Value,
    ) -> Result<About, Unreadable> {
        if kind == BREAK_GLASS {
            return Ok(About::BreakGlass(BreakGlassGranted::deserialize(snapshot)?));
        }
        if kind == WAITLIST_OFFER {
            return Ok(About::WaitlistOffer(Offer::deserialize(snapshot)?));
        }
        if kind == WAITLIST_OFFER_ENDED {
            return Ok(About::OfferEnded(Offer::deserialize(snapshot)?));
        }
        if let Some(email) = AccountEmail::read(kind, snapshot) {
            return Ok(About::Account {
                event_id: subject_id,
                email: email?,
            });
        }
        let kind = Kind::parse(kind).ok_or(Unreadable::Kind)?;
        Ok(About::Appointment {
            kind,
            appointment: Appointment::deserialize(snapshot)?,
        })
    }

    /// Stored form of the kind: [`Kind::key`], `break-glass`, or an account
    /// email's (`verify-email`, `password-reset`, …).
    pub fn key(&self) -> String {
        match self {
            About::Appointment { kind, .. } => kind.key(),
            About::BreakGlass(_) => BREAK_GLASS.into(),
            About::Account { email, .. } => email.key().into(),
            About::WaitlistOffer(_) => WAITLIST_OFFER.into(),
            About::OfferEnded(_) => WAITLIST_OFFER_ENDED.into(),
        }
    }

    /// A metrics label with few values.
    pub fn label(&self) -> &'static str {
        match self {
            About::Appointment { kind, .. } => kind.label(),
            About::BreakGlass(_) => BREAK_GLASS,
            About::Account { email, .. } => email.key(),
            About::WaitlistOffer(_) => WAITLIST_OFFER,
            About::OfferEnded(_) => WAITLIST_OFFER_ENDED,
        }
    }

    /// The appointment's id, the grant's, the account event's or the offer's:
    /// the delivery's `appointment_id`.
    pub fn subject_id(&self) -> Uuid {
        match self {
            About::Appointment { appointment, .. } => appointment.appointment_id,
            About::BreakGlass(g) => g.grant_id,
            About::Account { event_id, .. } => *event_id,
            About::WaitlistOffer(o) | About::OfferEnded(o) => o.0.offer_id,
        }
    }

    /// The appointment's version; a grant, an account event or an offer
    /// never changes, so it is 1.
    pub fn version(&self) -> i32 {
        match self {
            About::Appointment { appointment, .. } => appointment.version,
            About::BreakGlass(_) | About::Account { .. } | About::WaitlistOffer(_) => 1,
            About::OfferEnded(_) => 2,
        }
    }

    /// What the `snapshot` column stores.
    pub fn payload(&self) -> Payload<'_> {
        match self {
            About::Appointment { appointment, .. } => Payload::Appointment(appointment),
            About::BreakGlass(g) => Payload::BreakGlass(g),
            About::Account { email, .. } => Payload::Account(email),
            About::WaitlistOffer(o) | About::OfferEnded(o) => Payload::WaitlistOffer(o),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn events_map_to_kinds() {
        assert_eq!(Kind::for_event("appointment.booked"), Some(Kind::Booked));
        assert_eq!(Kind::for_event("appointment.checked_in"), None);
    }

    #[test]
    fn recipients_round_trip() {
        for r in [
            Recipient::Patient,
            Recipient::Provider,
            Recipient::Admin,
            Recipient::PrivacyContact,
            Recipient::AccountHolder,
        ] {
            assert_eq!(Recipient::parse(r.as_str()), Some(r));
        }
        assert_eq!(Recipient::parse("staff"), None);
    }

    #[test]
    fn snapshots_are_read_back_by_their_kind() {
        let a = crate::domain::appointment::fixtures::consultation();
        let booked = About::Appointment {
            kind: Kind::Booked,
            appointment: a.clone(),
        };
        let stored = serde_json::to_value(booked.payload()).unwrap();
        // The bare appointment, as rows from before break-glass emails hold it.
        assert_eq!(stored, serde_json::to_value(&a).unwrap());
        assert_eq!(
            About::read("booked", a.appointment_id, &stored).unwrap(),
            booked
        );
        assert_eq!(booked.subject_id(), a.appointment_id);

        let grant = crate::domain::break_glass::fixtures::grant();
        let about = About::BreakGlass(grant.clone());
        let stored = serde_json::to_value(about.payload()).unwrap();
        assert_eq!(
            About::read("break-glass", grant.grant_id, &stored).unwrap(),
            about
        );
        assert_eq!(
            (about.key().as_str(), about.label()),
            ("break-glass", "break-glass")
        );
        assert_eq!((about.subject_id(), about.version()), (grant.grant_id, 1));

        // A payload under the wrong kind, or an unknown kind, is unreadable.
        assert!(matches!(
            About::read("booked", grant.grant_id, &stored),
            Err(Unreadable::Snapshot(_))
        ));
        assert!(matches!(
            About::read("party", grant.grant_id, &stored),
            Err(Unreadable::Kind)
        ));

        // An account email: the event's payload, under the event's id.
        let event_id = Uuid::now_v7();
        let verification = About::Account {
            event_id,
            email: crate::domain::account::AccountEmail::Verification(
                crate::domain::account::fixtures::verification(),
            ),
        };
        let stored = serde_json::to_value(verification.payload()).unwrap();
        assert_eq!(
            stored,
            serde_json::to_value(crate::domain::account::fixtures::verification()).unwrap()
        );
        assert_eq!(
            About::read("verify-email", event_id, &stored).unwrap(),
            verification
        );
        assert_eq!(
            (verification.key().as_str(), verification.label()),
            ("verify-email", "verify-email")
        );
        assert_eq!(
            (verification.subject_id(), verification.version()),
            (event_id, 1)
        );
        // Once sent, the token is gone and the payload no longer reads back.
        let mut scrubbed = stored.clone();
        scrubbed.as_object_mut().unwrap().remove("token");
        assert!(matches!(
            About::read("verify-email", event_id, &scrubbed),
            Err(Unreadable::Snapshot(_))
        ));

        // A waitlist offer: the event's payload, under the offer's id, and
        // its token is scrubbed like an account link's.
        let offer = crate::domain::waitlist::fixtures::offer();
        let about = About::WaitlistOffer(offer.clone());
        let stored = serde_json::to_value(about.payload()).unwrap();
        assert_eq!(stored, serde_json::to_value(&offer.0).unwrap());
        assert_eq!(
            About::read(WAITLIST_OFFER, offer.0.offer_id, &stored).unwrap(),
            about
        );
        assert_eq!((about.subject_id(), about.version()), (offer.0.offer_id, 1));
        assert_eq!(
            (about.key().as_str(), about.label()),
            (WAITLIST_OFFER, WAITLIST_OFFER)
        );
        assert!(WITH_TOKEN.contains(&about.label()));
    }

    #[test]
    fn garbage_keys_are_not_kinds() {
        for key in [
            "",
            "reminder-",
            "reminder-0",
            "reminder--5",
            "reminder-x",
            "Booked",
        ] {
            assert_eq!(Kind::parse(key), None, "{key}");
        }
    }

    proptest! {
        #[test]
        fn keys_round_trip(minutes in 1u32..100_000) {
            for kind in [Kind::Booked, Kind::Rescheduled, Kind::Cancelled, Kind::Reminder { minutes_before: minutes }] {
                prop_assert_eq!(Kind::parse(&kind.key()), Some(kind));
            }
        }
    }
}

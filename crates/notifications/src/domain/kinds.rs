//! Which emails exist: one kind per appointment change plus one per reminder
//! offset, each addressed to the patient or the provider.

use std::fmt;

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

/// Who an email is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recipient {
    Patient,
    Provider,
}

impl Recipient {
    pub fn as_str(self) -> &'static str {
        match self {
            Recipient::Patient => "patient",
            Recipient::Provider => "provider",
        }
    }

    pub fn parse(s: &str) -> Option<Recipient> {
        match s {
            "patient" => Some(Recipient::Patient),
            "provider" => Some(Recipient::Provider),
            _ => None,
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

//! An appointment as its `appointment.*` v1 event describes it: the data every
//! email about it is rendered from (and stored with each delivery as it was).

use chrono_tz::Tz;

/// The appointment is the contract's `appointment.*` v1 payload, stored with
/// each delivery as the event carried it.
pub use contracts::{
    scheduling::{Appointment, AppointmentStatus, Mode},
    Money,
};

/// Why an event's appointment cannot be used (the event is dead-lettered).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAppointment {
    #[error("unknown time zone")]
    TimeZone,
    #[error("the appointment ends before it starts")]
    Interval,
    #[error("version must be at least 1")]
    Version,
}

/// What notifications asks of an appointment beyond its fields.
pub trait AppointmentExt {
    /// Check what the type system cannot: a known zone, a real interval, a version.
    fn validate(&self) -> Result<(), InvalidAppointment>;
    /// The provider's zone (UTC if it were ever unknown: validated on the way in).
    fn tz(&self) -> Tz;
    /// The UID of the appointment's calendar event: the same for every version.
    fn calendar_uid(&self) -> String;
}

impl AppointmentExt for Appointment {
    fn validate(&self) -> Result<(), InvalidAppointment> {
        if self.time_zone.parse::<Tz>().is_err() {
            return Err(InvalidAppointment::TimeZone);
        }
        if self.end <= self.start {
            return Err(InvalidAppointment::Interval);
        }
        if self.version < 1 {
            return Err(InvalidAppointment::Version);
        }
        Ok(())
    }

    fn tz(&self) -> Tz {
        self.time_zone.parse().unwrap_or(Tz::UTC)
    }

    fn calendar_uid(&self) -> String {
        format!("{}@carebook.dev", self.appointment_id)
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use uuid::Uuid;

    /// A 30-minute in-person consultation at 10:00 Berlin time (09:00 UTC).
    pub fn consultation() -> Appointment {
        Appointment {
            appointment_id: Uuid::parse_str("0190f5b4-0000-7000-8000-000000000001").unwrap(),
            patient_id: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000a1").unwrap(),
            provider_id: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000b1").unwrap(),
            appointment_type_id: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000c1").unwrap(),
            appointment_type_name: "Consultation".into(),
            start: "2026-03-03T09:00:00Z".parse().unwrap(),
            end: "2026-03-03T09:30:00Z".parse().unwrap(),
            time_zone: "Europe/Berlin".into(),
            mode: Mode::InPerson,
            price: Money {
                amount_minor: 6000,
                currency: "EUR".into(),
            },
            status: AppointmentStatus::Booked,
            version: 1,
            previous_start: None,
            previous_end: None,
            reason: None,
            late: false,
            fee: None,
            changed_by: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000a1").unwrap(),
            reminder_offsets_minutes: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduling_events_deserialize() {
        let data = serde_json::json!({
            "appointment_id": "0190f5b4-0000-7000-8000-000000000001",
            "patient_id": "0190f5b4-0000-7000-8000-0000000000a1",
            "provider_id": "0190f5b4-0000-7000-8000-0000000000b1",
            "appointment_type_id": "0190f5b4-0000-7000-8000-0000000000c1",
            "appointment_type_name": "Consultation",
            "start": "2026-03-03T09:00:00Z", "end": "2026-03-03T09:30:00Z",
            "time_zone": "Europe/Berlin", "mode": "in_person",
            "price": {"amount_minor": 6000, "currency": "EUR"},
            "status": "booked", "version": 1, "late": false,
            "changed_by": "0190f5b4-0000-7000-8000-0000000000a1"
        });
        let a: Appointment = serde_json::from_value(data).unwrap();
        assert_eq!(a, fixtures::consultation());
        assert_eq!(a.validate(), Ok(()));
    }

    #[test]
    fn impossible_appointments_are_rejected() {
        let mut a = fixtures::consultation();
        a.time_zone = "Mars/Olympus".into();
        assert_eq!(a.validate(), Err(InvalidAppointment::TimeZone));
        let mut a = fixtures::consultation();
        a.end = a.start;
        assert_eq!(a.validate(), Err(InvalidAppointment::Interval));
        let mut a = fixtures::consultation();
        a.version = 0;
        assert_eq!(a.validate(), Err(InvalidAppointment::Version));
    }
}

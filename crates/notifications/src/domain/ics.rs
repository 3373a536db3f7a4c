//! The calendar invitation attached to every appointment email (RFC 5545 via
//! the `icalendar` crate, which escapes text and folds lines; RFC 5546 methods),
//! and the tentative entry of a slot offered from the waitlist.
//!
//! The UID is the appointment's and never changes; SEQUENCE is the
//! appointment's version, so a calendar applies a reschedule or a cancellation
//! to the event it already has, and ignores an older update arriving late. An
//! offered slot has its hold's id as UID and SEQUENCE 0: the appointment
//! booked on it carries the same id, so its confirmation replaces the entry.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};

use super::format::clean;

/// RFC 5546 method: an invitation (new or updated) or its withdrawal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Request,
    Cancel,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }

    /// The attachment's MIME type; the method parameter must match the body's.
    pub fn content_type(self) -> &'static str {
        match self {
            Method::Request => "text/calendar; method=REQUEST; charset=UTF-8",
            Method::Cancel => "text/calendar; method=CANCEL; charset=UTF-8",
        }
    }
}

/// What one recipient's invitation says.
pub struct Invitation<'a> {
    /// Stable across versions: [`crate::domain::appointment::AppointmentExt::calendar_uid`].
    pub uid: String,
    /// The appointment's version (0 for an offered slot).
    pub sequence: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub method: Method,
    /// A slot held for the recipient, not booked yet (`STATUS:TENTATIVE`).
    pub tentative: bool,
    /// `Consultation with Dr. Vogel`.
    pub summary: &'a str,
    pub description: &'a str,
    /// The sender (ORGANIZER) and the recipient (ATTENDEE), valid addresses.
    pub organizer: &'a str,
    pub attendee: &'a str,
    /// When this version of the invitation was created (DTSTAMP).
    pub stamp: DateTime<Utc>,
}

/// The `.ics` text, CRLF line endings, lines folded at 75 octets.
pub fn calendar(inv: &Invitation<'_>) -> String {
    let mut event = Event::new();
    event
        .uid(&inv.uid)
        .sequence(inv.sequence)
        .timestamp(inv.stamp)
        .starts(inv.start)
        .ends(inv.end)
        .summary(&clean(inv.summary, 200))
        .description(inv.description)
        .status(match (inv.method, inv.tentative) {
            (Method::Request, false) => EventStatus::Confirmed,
            (Method::Request, true) => EventStatus::Tentative,
            (Method::Cancel, _) => EventStatus::Cancelled,
        });
    // Addresses are validated mailboxes (no spaces, quotes or line breaks).
    event.append_property(
        Property::new("ORGANIZER", format!("mailto:{}", inv.organizer))
            .add_parameter("CN", "Carebook")
            .done(),
    );
    event.append_property(
        Property::new("ATTENDEE", format!("mailto:{}", inv.attendee))
            .add_parameter("ROLE", "REQ-PARTICIPANT")
            .add_parameter(
                "PARTSTAT",
                if inv.tentative {
                    "TENTATIVE"
                } else {
                    "ACCEPTED"
                },
            )
            .add_parameter("RSVP", "FALSE")
            .done(),
    );
    let mut cal = Calendar::empty();
    cal.append_property(Property::new("VERSION", "2.0"));
    cal.append_property(Property::new("PRODID", "-//Carebook//Notifications//EN"));
    cal.append_property(Property::new("CALSCALE", "GREGORIAN"));
    cal.append_property(Property::new("METHOD", inv.method.as_str()));
    cal.push(event.done());
    cal.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::appointment::{fixtures::consultation, Appointment, AppointmentExt};

    fn invite(a: &Appointment, method: Method, summary: &str) -> String {
        calendar(&Invitation {
            uid: a.calendar_uid(),
            sequence: u32::try_from(a.version).unwrap(),
            start: a.start,
            end: a.end,
            method,
            tentative: false,
            summary,
            description: "Consultation\nTuesday 3 March 2026, 10:00 CET",
            organizer: "no-reply@carebook.dev",
            attendee: "paula@example.org",
            stamp: "2026-03-01T12:00:00Z".parse().unwrap(),
        })
    }

    fn lines(ics: &str) -> Vec<&str> {
        ics.split("\r\n").collect()
    }

    #[test]
    fn a_booking_is_a_request_with_stable_uid_sequence_and_utc_times() {
        let a = consultation();
        let ics = invite(&a, Method::Request, "Consultation with Dr. Vogel");
        let l = lines(&ics);
        assert_eq!(l[0], "BEGIN:VCALENDAR");
        for expected in [
            "VERSION:2.0",
            "METHOD:REQUEST",
            "BEGIN:VEVENT",
            "UID:0190f5b4-0000-7000-8000-000000000001@carebook.dev",
            "SEQUENCE:1",
            "DTSTART:20260303T090000Z",
            "DTEND:20260303T093000Z",
            "DTSTAMP:20260301T120000Z",
            "STATUS:CONFIRMED",
            "SUMMARY:Consultation with Dr. Vogel",
            "ORGANIZER;CN=Carebook:mailto:no-reply@carebook.dev",
            "END:VCALENDAR",
        ] {
            assert!(
                l.iter().any(|line| line.contains(expected)),
                "{expected} missing in\n{ics}"
            );
        }
        assert!(ics.ends_with("\r\n"));
        assert!(!ics.replace("\r\n", "").contains('\n'), "bare LF in {ics}");
    }

    #[test]
    fn a_cancellation_withdraws_the_same_event_with_a_higher_sequence() {
        let mut a = consultation();
        a.version = 3;
        a.status = crate::domain::appointment::AppointmentStatus::Cancelled;
        let ics = invite(&a, Method::Cancel, "Consultation");
        let l = lines(&ics);
        assert!(l.contains(&"METHOD:CANCEL"));
        assert!(l.contains(&"STATUS:CANCELLED"));
        assert!(l.contains(&"SEQUENCE:3"));
        assert!(l.contains(&"UID:0190f5b4-0000-7000-8000-000000000001@carebook.dev"));
        assert_eq!(
            Method::Cancel.content_type(),
            "text/calendar; method=CANCEL; charset=UTF-8"
        );
    }

    #[test]
    fn text_is_escaped_folded_and_cannot_add_properties() {
        let a = consultation();
        let name = "Dr. Evil, MD; \\ \r\nATTENDEE:mailto:attacker@example.org ".repeat(3);
        let ics = invite(&a, Method::Request, &format!("Consultation with {name}"));
        for line in lines(&ics) {
            assert!(line.len() <= 75, "unfolded line {line:?}");
            assert!(
                !line.starts_with("ATTENDEE:mailto:attacker"),
                "injected property in\n{ics}"
            );
        }
        let parsed = icalendar::parser::unfold(&ics);
        let cal = icalendar::parser::read_calendar(&parsed).expect("valid iCalendar");
        let event = cal
            .components
            .iter()
            .find(|c| c.name == "VEVENT")
            .expect("an event");
        let summary = event
            .properties
            .iter()
            .find(|p| p.name == "SUMMARY")
            .expect("a summary");
        // Escaped on the wire, the exact (cleaned) text once parsed.
        assert!(parsed.contains(r"Dr. Evil\, MD\; \\"), "{parsed}");
        assert!(summary.val.as_str().starts_with(
            r"Consultation with Dr. Evil, MD; \ ATTENDEE:mailto:attacker@example.org Dr."
        ));
        let attendees = event
            .properties
            .iter()
            .filter(|p| p.name == "ATTENDEE")
            .count();
        assert_eq!(attendees, 1);
    }
}

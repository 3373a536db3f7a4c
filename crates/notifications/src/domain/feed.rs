//! A provider's calendar feed (issue 21): an iCalendar subscription a
//! calendar client polls at a secret URL, listing the provider's own schedule.
//!
//! The token in the URL is the feed's only authority (calendar clients cannot
//! send an access token): 256 random bits, URL-safe base64, of which only the
//! SHA-256 is stored. Creating the feed again replaces the token, so the old
//! URL stops working at once.
//!
//! What the feed shows is deliberately little: each appointment's type and
//! time (UTC), and the patient's initials only when the provider opted in;
//! never a name, address, note or reason. Cancelled appointments (and no-shows)
//! are left out rather than listed as `STATUS:CANCELLED`: a subscribed
//! calendar is replaced by each poll, so an appointment that leaves the feed
//! leaves the calendar. Each event has the UID of the appointment emails'
//! invitations, so a client holding both merges them, and SEQUENCE is the
//! appointment's version.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Duration, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};
use platform::auth::{Actor, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    appointment::{Appointment, AppointmentExt, AppointmentStatus},
    format::clean,
};

/// How far back the feed reaches: a month of past appointments.
pub const PAST_DAYS: i64 = 30;
/// How far ahead the feed reaches: about six months.
pub const AHEAD_DAYS: i64 = 180;

/// The API path a feed is read at, below the public base URL: `/{token}`.
pub const FEED_PATH: &str = "/api/v1/calendar-feeds";

/// A new feed token as handed to the provider (never stored) and its hash.
pub struct FeedToken {
    pub token: String,
    pub hash: Vec<u8>,
}

impl FeedToken {
    /// 256 random bits from the OS, URL-safe base64 without padding.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let hash = hash_token(&token);
        Self { token, hash }
    }
}

/// The hash a feed token is stored and looked up under.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Who may create, rotate, read the settings of or delete `provider_id`'s
/// feed: that provider, and staff and admins (who run the clinic's calendars).
pub fn can_manage(actor: &Actor, provider_id: Uuid) -> bool {
    match actor.role {
        Role::Staff | Role::Admin => true,
        Role::Provider => actor.provider_id == Some(provider_id),
        Role::Patient => false,
    }
}

/// The appointments' start times the feed covers at `now`: `[from, to)`.
pub fn window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        now - Duration::days(PAST_DAYS),
        now + Duration::days(AHEAD_DAYS),
    )
}

/// The statuses the feed lists: what is or was going to happen.
pub const LISTED: [AppointmentStatus; 3] = [
    AppointmentStatus::Booked,
    AppointmentStatus::CheckedIn,
    AppointmentStatus::Completed,
];

/// Whether an appointment in `status` appears in the feed.
pub fn listed(status: AppointmentStatus) -> bool {
    LISTED.contains(&status)
}

/// `A. P.`: the initials of a name's first and last words (none for a name
/// without letters). Middle names are left out: less to recognise someone by.
pub fn initials(name: &str) -> Option<String> {
    let firsts: Vec<char> = name
        .split(char::is_whitespace)
        .filter_map(|word| word.chars().find(|c| c.is_alphabetic()))
        .collect();
    let letters: Vec<char> = match firsts.as_slice() {
        [] => return None,
        [only] => vec![*only],
        [first, .., last] => vec![*first, *last],
    };
    Some(
        letters
            .iter()
            .map(|c| format!("{}.", c.to_uppercase()))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// One appointment as the feed lists it.
pub struct FeedEntry<'a> {
    pub appointment: &'a Appointment,
    /// The patient's initials, only when the provider opted in and the name is known.
    pub initials: Option<String>,
}

/// `Consultation`, or `Consultation (A. P.)` with initials.
pub fn summary(entry: &FeedEntry<'_>) -> String {
    let kind = clean(&entry.appointment.appointment_type_name, 200);
    match &entry.initials {
        Some(initials) => format!("{kind} ({initials})"),
        None => kind,
    }
}

/// The feed's `.ics` text: a published calendar named `Carebook — <provider>`
/// (the provider's own name; none when unknown) with one event per entry, in
/// UTC, stamped `stamp` (when it was generated). CRLF line endings, folded.
pub fn calendar(
    provider_name: Option<&str>,
    entries: &[FeedEntry<'_>],
    stamp: DateTime<Utc>,
) -> String {
    let mut cal = Calendar::empty();
    cal.append_property(Property::new("VERSION", "2.0"));
    cal.append_property(Property::new("PRODID", "-//Carebook//Calendar feed//EN"));
    cal.append_property(Property::new("CALSCALE", "GREGORIAN"));
    cal.append_property(Property::new("METHOD", "PUBLISH"));
    let name = match provider_name
        .map(|n| clean(n, 100))
        .filter(|n| !n.is_empty())
    {
        Some(n) => format!("Carebook — {n}"),
        None => "Carebook".to_owned(),
    };
    cal.append_property(Property::new("X-WR-CALNAME", name));
    // A hint of how often to poll (RFC 7986, and its older Microsoft name).
    cal.append_property(
        Property::new("REFRESH-INTERVAL", "PT15M")
            .add_parameter("VALUE", "DURATION")
            .done(),
    );
    cal.append_property(Property::new("X-PUBLISHED-TTL", "PT15M"));
    for entry in entries {
        let a = entry.appointment;
        let mut event = Event::new();
        event
            .uid(&a.calendar_uid())
            .sequence(u32::try_from(a.version).unwrap_or(0))
            .timestamp(stamp)
            .starts(a.start)
            .ends(a.end)
            .summary(&summary(entry))
            .status(EventStatus::Confirmed);
        cal.push(event.done());
    }
    cal.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::appointment::fixtures::consultation;

    fn stamp() -> DateTime<Utc> {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn unfolded(ics: &str) -> Vec<String> {
        ics.replace("\r\n ", "")
            .split("\r\n")
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn tokens_are_256_random_bits_and_only_their_hash_is_kept() {
        let a = FeedToken::generate();
        let b = FeedToken::generate();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 43);
        assert!(a
            .token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(URL_SAFE_NO_PAD.decode(&a.token).unwrap().len(), 32);
        assert_eq!(a.hash, hash_token(&a.token));
        assert_eq!(a.hash.len(), 32);
        assert_ne!(a.hash, a.token.as_bytes());
    }

    #[test]
    fn the_provider_themself_staff_and_admins_manage_a_feed() {
        let provider = Uuid::now_v7();
        assert!(can_manage(&Actor::new(provider, Role::Provider), provider));
        assert!(!can_manage(
            &Actor::new(Uuid::now_v7(), Role::Provider),
            provider
        ));
        assert!(can_manage(
            &Actor::new(Uuid::now_v7(), Role::Staff),
            provider
        ));
        assert!(can_manage(
            &Actor::new(Uuid::now_v7(), Role::Admin),
            provider
        ));
        assert!(!can_manage(&Actor::new(provider, Role::Patient), provider));
    }

    #[test]
    fn the_window_is_a_month_back_and_half_a_year_ahead() {
        let (from, to) = window(stamp());
        assert_eq!(
            from,
            "2026-01-30T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(to, "2026-08-28T12:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert!(listed(AppointmentStatus::Booked));
        assert!(listed(AppointmentStatus::CheckedIn));
        assert!(listed(AppointmentStatus::Completed));
        assert!(!listed(AppointmentStatus::Cancelled));
        assert!(!listed(AppointmentStatus::NoShow));
    }

    #[test]
    fn initials_are_the_first_and_last_names_first_letters() {
        assert_eq!(initials("Anna Perez").as_deref(), Some("A. P."));
        assert_eq!(initials("anna maria de la perez").as_deref(), Some("A. P."));
        assert_eq!(initials("  Paula\t").as_deref(), Some("P."));
        assert_eq!(initials("Émile Zola").as_deref(), Some("É. Z."));
        assert_eq!(initials("\"Jo\" O'Neil").as_deref(), Some("J. O."));
        assert_eq!(initials(""), None);
        assert_eq!(initials(" 42 ! "), None);
    }

    #[test]
    fn an_event_shows_type_and_utc_time_with_the_emails_uid_and_version() {
        let mut a = consultation();
        a.version = 4;
        let ics = calendar(
            Some("Dr. Lena Vogel"),
            &[FeedEntry {
                appointment: &a,
                initials: None,
            }],
            stamp(),
        );
        let lines = unfolded(&ics);
        for expected in [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Carebook//Calendar feed//EN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:Carebook — Dr. Lena Vogel",
            "BEGIN:VEVENT",
            "UID:0190f5b4-0000-7000-8000-000000000001@carebook.dev",
            "SEQUENCE:4",
            "DTSTART:20260303T090000Z",
            "DTEND:20260303T093000Z",
            "DTSTAMP:20260301T120000Z",
            "SUMMARY:Consultation",
            "STATUS:CONFIRMED",
            "END:VCALENDAR",
        ] {
            assert!(
                lines.iter().any(|l| l == expected),
                "{expected} missing in\n{ics}"
            );
        }
        for absent in ["ATTENDEE", "ORGANIZER", "DESCRIPTION", "TZID"] {
            assert!(!ics.contains(absent), "{absent} in\n{ics}");
        }
        assert!(!ics.replace("\r\n", "").contains('\n'), "bare LF in {ics}");
    }

    #[test]
    fn initials_appear_only_when_given_and_text_cannot_add_properties() {
        let mut a = consultation();
        a.appointment_type_name = "Check-up\r\nATTENDEE:mailto:x@example.org".into();
        let with = calendar(
            None,
            &[FeedEntry {
                appointment: &a,
                initials: Some("A. P.".into()),
            }],
            stamp(),
        );
        let parsed = icalendar::parser::unfold(&with);
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
            .unwrap();
        assert_eq!(
            summary.val.as_str(),
            "Check-up ATTENDEE:mailto:x@example.org (A. P.)"
        );
        assert!(!event.properties.iter().any(|p| p.name == "ATTENDEE"));
        assert!(unfolded(&with).contains(&"X-WR-CALNAME:Carebook".to_owned()));
        let without = calendar(
            None,
            &[FeedEntry {
                appointment: &consultation(),
                initials: None,
            }],
            stamp(),
        );
        assert!(!without.contains("A. P."));
    }

    #[test]
    fn an_empty_feed_is_still_a_valid_calendar() {
        let ics = calendar(Some("Dr. Vogel"), &[], stamp());
        let parsed = icalendar::parser::unfold(&ics);
        let cal = icalendar::parser::read_calendar(&parsed).expect("valid iCalendar");
        assert!(cal.components.iter().all(|c| c.name != "VEVENT"));
    }
}

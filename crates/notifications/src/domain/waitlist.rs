//! The email a waitlisted patient gets when a slot opened for them
//! (`waitlist.offered` v1): subject "A slot opened", the slot in the
//! patient's time zone when known and in the provider's when it differs (and
//! UTC), when the offer lapses, the one-click link
//! to the portal's claim page (`/waitlist/offers/{token}`) and a tentative
//! calendar entry for the held slot.
//!
//! The claim token is a secret: it is never logged, never in a `Debug`
//! output, and the delivery keeps it only until the email is final (the same
//! scrub as account links: [`super::kinds::WITH_TOKEN`]).

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::context;
use serde::{Deserialize, Serialize};

/// The offer is the contract's `waitlist.offered` v1 payload, stored with the
/// delivery as the event carried it (the token removed once final).
pub use contracts::scheduling::WaitlistOffered;

use super::{
    account::{paths, PortalUrl},
    appointment::Mode,
    format::{
        clean, interval_local, interval_utc, local_long, long_for, provider_interval, utc, Zones,
    },
    ics::{self, Invitation, Method},
    message::{CalendarFile, Content, Templates},
};

/// The subject line, exactly as the issue names it.
pub const SUBJECT: &str = "A slot opened";

/// The subject of the email that takes a lapsed offer's calendar entry back.
pub const ENDED_SUBJECT: &str = "The slot held for you was released";

/// Longest name or type name shown.
const MAX_NAME: usize = 120;

/// One offer to email. Its `Debug` names the offer only: the payload holds
/// the claim token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Offer(pub WaitlistOffered);

impl fmt::Debug for Offer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Offer")
            .field("offer_id", &self.0.offer_id)
            .field("hold_id", &self.0.hold_id)
            .finish_non_exhaustive()
    }
}

/// Why an offer cannot be emailed (the event is dead-lettered). The messages
/// quote nothing from the payload.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOffer {
    #[error("unknown time zone")]
    TimeZone,
    #[error("the slot ends before it starts")]
    Interval,
    #[error("empty claim token")]
    Token,
}

impl Offer {
    /// Check what the type system cannot: a known zone, a real slot, a token.
    pub fn validate(&self) -> Result<(), InvalidOffer> {
        let o = &self.0;
        if o.time_zone.parse::<Tz>().is_err() {
            return Err(InvalidOffer::TimeZone);
        }
        if o.end <= o.start {
            return Err(InvalidOffer::Interval);
        }
        if o.token.trim().is_empty() {
            return Err(InvalidOffer::Token);
        }
        Ok(())
    }

    /// The provider's zone (validated on the way in).
    pub fn tz(&self) -> Tz {
        self.0.time_zone.parse().unwrap_or(Tz::UTC)
    }

    /// Whether the offer has lapsed at `now`: the link would only lead to an
    /// "expired" page, so the email is no longer worth sending.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.0.expires_at <= now
    }

    /// The calendar UID of the held slot: the hold's id, which is the id the
    /// appointment is booked under when the offer is claimed, so the
    /// confirmation's invitation (SEQUENCE 1) replaces this tentative entry
    /// (SEQUENCE 0) in the patient's calendar.
    pub fn calendar_uid(&self) -> String {
        format!("{}@carebook.dev", self.0.hold_id)
    }
}

/// Who the offer email is for and whom the slot is with.
pub struct Names<'a> {
    pub recipient_name: Option<&'a str>,
    pub provider_name: Option<&'a str>,
    /// Valid addresses: the sender and the recipient (for the `.ics`).
    pub from: &'a str,
    pub to: &'a str,
    /// The patient's own time zone, when known: the slot is shown in it first.
    pub recipient_zone: Option<Tz>,
}

/// Render the offer email; `stamp` dates the calendar entry.
pub fn compose(
    templates: &Templates,
    offer: &Offer,
    names: &Names<'_>,
    portal: &PortalUrl,
    stamp: DateTime<Utc>,
) -> Result<Content, minijinja::Error> {
    let o = &offer.0;
    let tz = offer.tz();
    let zones = Zones {
        provider: tz,
        recipient: names.recipient_zone,
    };
    let (recipient_name, provider, type_name) = shown_names(names, o);
    let mode = match o.mode {
        Mode::InPerson => "In person",
        Mode::Telehealth => "Telehealth (video call)",
    };
    let when_local = interval_local(o.start, o.end, zones.shown());
    let when_provider = provider_interval(o.start, o.end, zones).unwrap_or_default();
    let when_utc = interval_utc(o.start, o.end);
    let expires_local = long_for(o.expires_at, zones);
    let link = portal.page(paths::WAITLIST_OFFER, &o.token);
    let ctx = context! {
        recipient_name,
        counterpart => provider.clone(),
        type_name => type_name.clone(),
        when_local,
        when_provider,
        when_utc => when_utc.clone(),
        time_zone => zones.shown().name(),
        provider_time_zone => tz.name(),
        mode,
        expires_local,
        expires_utc => utc(o.expires_at),
        link,
    };
    let (text, html) = templates.render("waitlist_offer", &ctx)?;
    let summary = format!("Held for you: {type_name} with {provider}");
    // The calendar entry stays on the provider's clock, as it always was.
    let description = format!(
        "{type_name} with {provider}\n{} ({})\n{when_utc}\n{mode}\nHeld for you until {}: book it with the link in the email.",
        interval_local(o.start, o.end, tz),
        tz.name(),
        local_long(o.expires_at, tz),
    );
    let method = Method::Request;
    let ics = ics::calendar(&Invitation {
        uid: offer.calendar_uid(),
        sequence: 0,
        start: o.start,
        end: o.end,
        method,
        tentative: true,
        summary: &summary,
        description: &description,
        organizer: names.from,
        attendee: names.to,
        stamp,
    });
    Ok(Content {
        text,
        html,
        calendar: Some(CalendarFile { ics, method }),
    })
}

/// The recipient's name, the provider's and the type's as the emails show
/// them: cleaned, with a greeting's fallbacks.
fn shown_names(names: &Names<'_>, o: &WaitlistOffered) -> (String, String, String) {
    let shown = |name: Option<&str>, fallback: &str| {
        name.map(|n| clean(n, MAX_NAME))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| fallback.into())
    };
    (
        shown(names.recipient_name, "there"),
        shown(names.provider_name, "your provider"),
        clean(&o.appointment_type_name, MAX_NAME),
    )
}

/// Render the email for an offer whose hold ended unbooked: the slot went on
/// to others, and the attached cancellation (same UID, SEQUENCE 1) removes
/// the tentative entry the offer put in the patient's calendar.
pub fn compose_ended(
    templates: &Templates,
    offer: &Offer,
    names: &Names<'_>,
    stamp: DateTime<Utc>,
) -> Result<Content, minijinja::Error> {
    let o = &offer.0;
    let tz = offer.tz();
    let zones = Zones {
        provider: tz,
        recipient: names.recipient_zone,
    };
    let (recipient_name, provider, type_name) = shown_names(names, o);
    let ctx = context! {
        recipient_name,
        counterpart => provider.clone(),
        type_name => type_name.clone(),
        when_local => interval_local(o.start, o.end, zones.shown()),
        time_zone => zones.shown().name(),
    };
    let (text, html) = templates.render("waitlist_offer_ended", &ctx)?;
    let summary = format!("Held for you: {type_name} with {provider}");
    let description = format!("{type_name} with {provider}: no longer held for you.");
    let method = Method::Cancel;
    let ics = ics::calendar(&Invitation {
        uid: offer.calendar_uid(),
        sequence: 1,
        start: o.start,
        end: o.end,
        method,
        tentative: false,
        summary: &summary,
        description: &description,
        organizer: names.from,
        attendee: names.to,
        stamp,
    });
    Ok(Content {
        text,
        html,
        calendar: Some(CalendarFile { ics, method }),
    })
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use uuid::Uuid;

    /// A consultation at 10:00 Berlin time (09:00 UTC), held until 08:15 UTC.
    pub fn offer() -> Offer {
        Offer(WaitlistOffered {
            offer_id: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000f1").unwrap(),
            entry_id: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000e2").unwrap(),
            patient_id: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000a1").unwrap(),
            hold_id: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000d1").unwrap(),
            provider_id: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000b1").unwrap(),
            appointment_type_id: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000c1").unwrap(),
            appointment_type_name: "Consultation".into(),
            start: "2026-03-03T09:00:00Z".parse().unwrap(),
            end: "2026-03-03T09:30:00Z".parse().unwrap(),
            time_zone: "Europe/Berlin".into(),
            mode: Mode::InPerson,
            expires_at: "2026-03-03T08:15:00Z".parse().unwrap(),
            token: "wo_Zk3r-9Qx".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ics::Method;

    fn portal() -> PortalUrl {
        "https://portal.clinic.example".parse().unwrap()
    }

    fn render(offer: &Offer) -> Content {
        render_for(offer, None)
    }

    fn render_for(offer: &Offer, recipient_zone: Option<Tz>) -> Content {
        compose(
            &Templates::new().unwrap(),
            offer,
            &Names {
                recipient_name: Some("Paula"),
                provider_name: Some("Dr. Vogel"),
                from: "no-reply@carebook.dev",
                to: "paula@example.org",
                recipient_zone,
            },
            &portal(),
            "2026-03-03T08:00:00Z".parse().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn the_offer_shows_the_slot_in_the_providers_zone_the_lapse_time_and_the_claim_link() {
        let c = render(&fixtures::offer());
        let link = "https://portal.clinic.example/waitlist/offers/wo_Zk3r-9Qx";
        assert!(c.text.contains(&format!("\n{link}\n")), "{}", c.text);
        for body in [&c.text, &c.html] {
            assert!(body.contains("Hello Paula,"), "{body}");
            assert!(body.contains("A slot opened"), "{body}");
            assert!(
                body.contains("Tuesday 3 March 2026, 10:00 CET – 10:30"),
                "{body}"
            );
            assert!(body.contains("2026-03-03 09:00 – 09:30 UTC"), "{body}");
            // The lapse time, in the provider's zone and in UTC.
            assert!(body.contains("Tuesday 3 March 2026, 09:15 CET"), "{body}");
            assert!(body.contains("2026-03-03 08:15 UTC"), "{body}");
            assert!(body.contains("Dr. Vogel"), "{body}");
            assert!(body.contains("Consultation"), "{body}");
        }
        assert!(
            c.html.contains(
                "href=\"https:&#x2f;&#x2f;portal.clinic.example&#x2f;waitlist&#x2f;offers&#x2f;wo_Zk3r-9Qx\""
            ),
            "{}",
            c.html
        );
    }

    #[test]
    fn a_patient_in_another_zone_sees_the_slot_and_the_lapse_on_their_clock_first() {
        let c = render_for(&fixtures::offer(), Some(chrono_tz::America::New_York));
        assert!(
            c.text.contains(
                "When:  Tuesday 3 March 2026, 04:00 EST – 04:30 (America/New_York)\n       \
                 Your provider's time: 10:00 CET – 10:30 (Europe/Berlin)\n"
            ),
            "{}",
            c.text
        );
        assert!(
            c.text
                .contains("Tuesday 3 March 2026, 03:15 EST (your provider's time: 09:15 CET)"),
            "{}",
            c.text
        );
        // The apostrophe of a value is escaped in HTML like any other.
        assert!(
            c.html
                .contains("Tuesday 3 March 2026, 03:15 EST (your provider&#x27;s time: 09:15 CET)"),
            "{}",
            c.html
        );
        // In the provider's zone: one time, as before.
        let same = render_for(&fixtures::offer(), Some(chrono_tz::Europe::Berlin));
        assert!(!same.text.contains("provider's time"), "{}", same.text);
    }

    #[test]
    fn the_held_slot_is_a_tentative_entry_the_booking_replaces() {
        let c = render(&fixtures::offer());
        let cal = c.calendar.expect("an .ics of the held slot");
        assert_eq!(cal.method, Method::Request);
        let ics = cal.ics.replace("\r\n ", "");
        for expected in [
            "UID:0190f5b4-0000-7000-8000-0000000000d1@carebook.dev",
            "SEQUENCE:0",
            "STATUS:TENTATIVE",
            "DTSTART:20260303T090000Z",
            "DTEND:20260303T093000Z",
        ] {
            assert!(ics.contains(expected), "{expected} missing in\n{ics}");
        }
        assert!(
            !ics.contains("wo_Zk3r"),
            "the token stays out of the calendar"
        );
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let shown = format!("{:?}", fixtures::offer());
        assert!(!shown.contains("wo_Zk3r"), "{shown}");
        assert!(
            shown.contains("0190f5b4-0000-7000-8000-0000000000f1"),
            "{shown}"
        );
    }

    #[test]
    fn impossible_offers_are_rejected_and_offers_lapse_at_their_time() {
        let good = fixtures::offer();
        assert_eq!(good.validate(), Ok(()));
        let mut o = fixtures::offer();
        o.0.time_zone = "Mars/Olympus".into();
        assert_eq!(o.validate(), Err(InvalidOffer::TimeZone));
        let mut o = fixtures::offer();
        o.0.end = o.0.start;
        assert_eq!(o.validate(), Err(InvalidOffer::Interval));
        let mut o = fixtures::offer();
        o.0.token = " ".into();
        assert_eq!(o.validate(), Err(InvalidOffer::Token));
        let end = good.0.expires_at;
        assert!(!good.expired(end - chrono::Duration::seconds(1)));
        assert!(good.expired(end));
    }

    #[test]
    fn names_are_escaped_in_html_and_cannot_forge_lines_in_text() {
        let mut o = fixtures::offer();
        o.0.appointment_type_name = "<b>Checkup</b>\nBcc: all".into();
        let c = render(&o);
        assert!(!c.html.contains("<b>Checkup"), "{}", c.html);
        assert!(c.text.contains("<b>Checkup</b> Bcc: all"), "{}", c.text);
    }
}

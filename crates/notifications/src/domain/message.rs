//! What an appointment email says: its subject, plain-text and HTML bodies
//! (minijinja templates under `templates/`, compiled in; HTML auto-escaped) and
//! its calendar invitation. Every value from outside is cleaned of control
//! characters first, so neither a subject header nor a text line can be forged.
//! The patient's confirmation and reminders carry the self-service links of
//! their version when there are any ([`super::links`]).
//! Times are on the recipient's clock: a patient's own zone first when known,
//! with the provider's too where it reads differently; the provider's alone
//! for providers and for patients of unknown zone ([`zones`]).
//! (Break-glass emails are [`super::break_glass`]'s, account emails
//! [`super::account`]'s and waitlist offers [`super::waitlist`]'s, on the same
//! templates.)

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{context, Environment, UndefinedBehavior};

use super::{
    appointment::{Appointment, AppointmentExt, Mode},
    format::{
        clean, interval_for, interval_local, interval_utc, local_short, long_for, money,
        provider_interval, utc, Zones,
    },
    ics::{self, Invitation, Method},
    kinds::{Kind, Recipient},
    links::ActionLinks,
};

/// Longest name or type name shown.
const MAX_NAME: usize = 120;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/layout.html")),
    ("layout.txt", include_str!("../../templates/layout.txt")),
    ("booked.html", include_str!("../../templates/booked.html")),
    ("booked.txt", include_str!("../../templates/booked.txt")),
    (
        "rescheduled.html",
        include_str!("../../templates/rescheduled.html"),
    ),
    (
        "rescheduled.txt",
        include_str!("../../templates/rescheduled.txt"),
    ),
    (
        "cancelled.html",
        include_str!("../../templates/cancelled.html"),
    ),
    (
        "cancelled.txt",
        include_str!("../../templates/cancelled.txt"),
    ),
    (
        "reminder.html",
        include_str!("../../templates/reminder.html"),
    ),
    ("reminder.txt", include_str!("../../templates/reminder.txt")),
    (
        "break_glass.html",
        include_str!("../../templates/break_glass.html"),
    ),
    (
        "break_glass.txt",
        include_str!("../../templates/break_glass.txt"),
    ),
    (
        "account_layout.html",
        include_str!("../../templates/account_layout.html"),
    ),
    (
        "account_layout.txt",
        include_str!("../../templates/account_layout.txt"),
    ),
    (
        "verify_email.html",
        include_str!("../../templates/verify_email.html"),
    ),
    (
        "verify_email.txt",
        include_str!("../../templates/verify_email.txt"),
    ),
    (
        "registration_attempted.html",
        include_str!("../../templates/registration_attempted.html"),
    ),
    (
        "registration_attempted.txt",
        include_str!("../../templates/registration_attempted.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../../templates/password_reset.html"),
    ),
    (
        "password_reset.txt",
        include_str!("../../templates/password_reset.txt"),
    ),
    (
        "password_changed.html",
        include_str!("../../templates/password_changed.html"),
    ),
    (
        "password_changed.txt",
        include_str!("../../templates/password_changed.txt"),
    ),
    (
        "signin_alert.html",
        include_str!("../../templates/signin_alert.html"),
    ),
    (
        "signin_alert.txt",
        include_str!("../../templates/signin_alert.txt"),
    ),
    (
        "waitlist_offer.html",
        include_str!("../../templates/waitlist_offer.html"),
    ),
    (
        "waitlist_offer.txt",
        include_str!("../../templates/waitlist_offer.txt"),
    ),
    (
        "waitlist_offer_ended.html",
        include_str!("../../templates/waitlist_offer_ended.html"),
    ),
    (
        "waitlist_offer_ended.txt",
        include_str!("../../templates/waitlist_offer_ended.txt"),
    ),
];

/// The compiled templates; `.html` ones escape every value for HTML.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compile every template (a syntax error fails the service's start, and the tests).
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        // A misspelt variable is an error, not an empty string in someone's email.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// Render `<name>.txt` and `<name>.html` with `ctx`: the plain and HTML bodies.
    pub(crate) fn render(
        &self,
        name: &str,
        ctx: &minijinja::Value,
    ) -> Result<(String, String), minijinja::Error> {
        let text = self.env.get_template(&format!("{name}.txt"))?.render(ctx)?;
        let html = self
            .env
            .get_template(&format!("{name}.html"))?
            .render(ctx)?;
        Ok((text, html))
    }
}

/// The zones an email about `a` to `recipient` shows times in: a patient's
/// own first when known, the provider's alone for providers.
pub fn zones(a: &Appointment, recipient: Recipient, recipient_zone: Option<Tz>) -> Zones {
    match recipient {
        Recipient::Patient => Zones {
            provider: a.tz(),
            recipient: recipient_zone,
        },
        _ => Zones::provider_only(a.tz()),
    }
}

/// The subject line: fixed prefixes clients and people can filter on; the
/// time on the recipient's clock ([`zones`]).
pub fn subject(kind: Kind, a: &Appointment, zones: Zones) -> String {
    let what = clean(&a.appointment_type_name, 80);
    let when = local_short(a.start, zones.shown());
    match kind {
        Kind::Booked => format!("Appointment confirmed: {what} on {when}"),
        Kind::Rescheduled => format!("Appointment rescheduled: {what} now on {when}"),
        Kind::Cancelled => format!("Appointment cancelled: {what} on {when}"),
        Kind::Reminder { .. } => format!("Reminder: {what} on {when}"),
    }
}

/// Who gets the email and who it is with.
pub struct Parties<'a> {
    pub recipient: Recipient,
    /// The recipient's name, if known.
    pub recipient_name: Option<&'a str>,
    /// The other side: the provider for a patient, the patient for a provider.
    pub counterpart_name: Option<&'a str>,
    /// Valid addresses: the sender and the recipient.
    pub from: &'a str,
    pub to: &'a str,
    /// The self-service links this email carries, if any
    /// ([`super::links::for_email`]).
    pub links: Option<&'a ActionLinks>,
    /// The recipient's own time zone, when known (only a patient's is used:
    /// [`zones`]).
    pub recipient_zone: Option<Tz>,
}

/// A rendered email.
#[derive(Debug)]
pub struct Content {
    pub text: String,
    pub html: String,
    /// The calendar invitation attached to appointment emails.
    pub calendar: Option<CalendarFile>,
}

/// An `.ics` attachment and the RFC 5546 method it carries.
#[derive(Debug)]
pub struct CalendarFile {
    pub ics: String,
    pub method: Method,
}

fn lead_time(minutes: u32) -> String {
    match minutes {
        m if m % 1440 == 0 && m >= 2880 => format!("{} days", m / 1440),
        1440 => "24 hours".into(),
        60 => "1 hour".into(),
        m if m % 60 == 0 => format!("{} hours", m / 60),
        m => format!("{m} minutes"),
    }
}

/// Render the email `kind` about `a` for one recipient; `stamp` dates the invitation.
pub fn compose(
    templates: &Templates,
    kind: Kind,
    a: &Appointment,
    parties: &Parties<'_>,
    stamp: DateTime<Utc>,
) -> Result<Content, minijinja::Error> {
    let tz = a.tz();
    let zones = zones(a, parties.recipient, parties.recipient_zone);
    let for_provider = parties.recipient == Recipient::Provider;
    let recipient_name = parties
        .recipient_name
        .map(|n| clean(n, MAX_NAME))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "there".into());
    let counterpart = parties
        .counterpart_name
        .map(|n| clean(n, MAX_NAME))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            if for_provider {
                "a patient".into()
            } else {
                "your provider".into()
            }
        });
    let type_name = clean(&a.appointment_type_name, MAX_NAME);
    let mode = match a.mode {
        Mode::InPerson => "In person",
        Mode::Telehealth => "Telehealth (video call)",
    };
    let (previous_local, previous_utc) = match (a.previous_start, a.previous_end) {
        (Some(s), Some(e)) => (interval_for(s, e, zones), interval_utc(s, e)),
        (Some(s), None) => (long_for(s, zones), utc(s)),
        _ => (String::new(), String::new()),
    };
    let when_local = interval_local(a.start, a.end, zones.shown());
    let when_provider = provider_interval(a.start, a.end, zones).unwrap_or_default();
    let when_utc = interval_utc(a.start, a.end);
    let ctx = context! {
        recipient_name,
        counterpart => counterpart.clone(),
        for_provider,
        type_name => type_name.clone(),
        when_local,
        when_provider,
        when_utc => when_utc.clone(),
        time_zone => zones.shown().name(),
        provider_time_zone => tz.name(),
        mode,
        price => money(&a.price),
        previous_local,
        previous_utc,
        reason => a.reason.as_deref().map(|r| clean(r, 500)).unwrap_or_default(),
        fee => a.fee.as_ref().filter(|_| a.late).map(money).unwrap_or_default(),
        lead_time => match kind { Kind::Reminder { minutes_before } => lead_time(minutes_before), _ => String::new() },
        appointment_id => a.appointment_id.to_string(),
        cancel_link => parties.links.map(|l| l.cancel.clone()).unwrap_or_default(),
        reschedule_link => parties.links.map(|l| l.reschedule.clone()).unwrap_or_default(),
    };
    let name = match kind {
        Kind::Booked => "booked",
        Kind::Rescheduled => "rescheduled",
        Kind::Cancelled => "cancelled",
        Kind::Reminder { .. } => "reminder",
    };
    let (text, html) = templates.render(name, &ctx)?;
    let method = match kind {
        Kind::Cancelled => Method::Cancel,
        _ => Method::Request,
    };
    let summary = format!("{type_name} with {counterpart}");
    // The calendar entry stays on the provider's clock, as it always was: its
    // times are UTC, which every client shows on its own user's clock.
    let description = format!(
        "{type_name} with {counterpart}\n{} ({})\n{when_utc}\n{mode}",
        interval_local(a.start, a.end, tz),
        tz.name()
    );
    let ics = ics::calendar(&Invitation {
        uid: a.calendar_uid(),
        sequence: u32::try_from(a.version).unwrap_or(0),
        start: a.start,
        end: a.end,
        method,
        tentative: false,
        summary: &summary,
        description: &description,
        organizer: parties.from,
        attendee: parties.to,
        stamp,
    });
    Ok(Content {
        text,
        html,
        calendar: Some(CalendarFile { ics, method }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::appointment::{fixtures::consultation, AppointmentStatus, Money};

    fn parties<'a>(recipient: Recipient, name: &'a str, other: &'a str) -> Parties<'a> {
        Parties {
            recipient,
            recipient_name: Some(name),
            counterpart_name: Some(other),
            from: "no-reply@carebook.dev",
            to: "someone@example.org",
            links: None,
            recipient_zone: None,
        }
    }

    fn stamp() -> DateTime<Utc> {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn invitation(c: &Content) -> &CalendarFile {
        c.calendar
            .as_ref()
            .expect("appointment emails carry an invitation")
    }

    #[test]
    fn every_template_compiles() {
        Templates::new().unwrap();
    }

    #[test]
    fn subjects_begin_with_the_documented_prefixes() {
        let a = consultation();
        let z = zones(&a, Recipient::Patient, None);
        assert_eq!(
            subject(Kind::Booked, &a, z),
            "Appointment confirmed: Consultation on Tue 3 Mar 10:00 CET"
        );
        assert!(subject(Kind::Rescheduled, &a, z).starts_with("Appointment rescheduled: "));
        assert!(subject(Kind::Cancelled, &a, z).starts_with("Appointment cancelled: "));
        assert!(subject(
            Kind::Reminder {
                minutes_before: 120
            },
            &a,
            z
        )
        .starts_with("Reminder: "));
    }

    #[test]
    fn a_patients_subject_is_on_their_clock_and_a_providers_on_the_providers() {
        let a = consultation();
        let new_york = Some(chrono_tz::America::New_York);
        assert_eq!(
            subject(Kind::Booked, &a, zones(&a, Recipient::Patient, new_york)),
            "Appointment confirmed: Consultation on Tue 3 Mar 04:00 EST"
        );
        // A provider's own zone, even if known, does not replace the calendar's.
        assert_eq!(
            subject(Kind::Booked, &a, zones(&a, Recipient::Provider, new_york)),
            "Appointment confirmed: Consultation on Tue 3 Mar 10:00 CET"
        );
    }

    #[test]
    fn a_patient_in_another_zone_sees_their_time_first_and_the_providers_too() {
        let t = Templates::new().unwrap();
        let mut a = consultation();
        a.version = 2;
        a.previous_start = Some("2026-03-02T09:00:00Z".parse().unwrap());
        a.previous_end = Some("2026-03-02T09:30:00Z".parse().unwrap());
        let c = compose(
            &t,
            Kind::Rescheduled,
            &a,
            &Parties {
                recipient_zone: Some(chrono_tz::America::New_York),
                ..parties(Recipient::Patient, "Paula", "Dr. Vogel")
            },
            stamp(),
        )
        .unwrap();
        assert!(
            c.text.contains(
                "When:  Tuesday 3 March 2026, 04:00 EST – 04:30 (America/New_York)\n       \
                 Your provider's time: 10:00 CET – 10:30 (Europe/Berlin)\n       \
                 2026-03-03 09:00 – 09:30 UTC\n"
            ),
            "{}",
            c.text
        );
        assert!(
            c.text.contains(
                "It was on Monday 2 March 2026, 04:00 EST – 04:30 (your provider's time: 10:00 CET – 10:30)"
            ),
            "{}",
            c.text
        );
        assert!(
            c.html.contains(
                "Tuesday 3 March 2026, 04:00 EST – 04:30 (America&#x2f;New_York)<br>\
                 Your provider's time: 10:00 CET – 10:30 (Europe&#x2f;Berlin)<br>"
            ),
            "{}",
            c.html
        );
        // The calendar entry is as it was: UTC times, the provider's clock in its text.
        let ics = invitation(&c).ics.replace("\r\n ", "");
        assert!(ics.contains("DTSTART:20260303T090000Z"), "{ics}");
        assert!(ics.contains("10:00 CET – 10:30 (Europe/Berlin)"), "{ics}");
    }

    #[test]
    fn a_patient_in_the_providers_zone_and_the_provider_see_one_local_time() {
        let t = Templates::new().unwrap();
        let a = consultation();
        let same = compose(
            &t,
            Kind::Booked,
            &a,
            &Parties {
                recipient_zone: Some(chrono_tz::Europe::Berlin),
                ..parties(Recipient::Patient, "Paula", "Dr. Vogel")
            },
            stamp(),
        )
        .unwrap();
        let provider = compose(
            &t,
            Kind::Booked,
            &a,
            &Parties {
                recipient_zone: Some(chrono_tz::America::New_York),
                ..parties(Recipient::Provider, "Dr. Vogel", "Paula")
            },
            stamp(),
        )
        .unwrap();
        for body in [&same.text, &same.html, &provider.text, &provider.html] {
            assert!(
                body.contains("Tuesday 3 March 2026, 10:00 CET – 10:30"),
                "{body}"
            );
            assert!(!body.contains("provider's time"), "{body}");
            assert!(!body.contains("EST"), "{body}");
        }
        assert!(
            same.text.contains(
                "When:  Tuesday 3 March 2026, 10:00 CET – 10:30 (Europe/Berlin)\n       2026-03-03 09:00 – 09:30 UTC\n"
            ),
            "{}",
            same.text
        );
    }

    #[test]
    fn a_subject_cannot_carry_a_second_header() {
        let mut a = consultation();
        a.appointment_type_name = "Checkup\r\nBcc: everyone@example.org".into();
        let s = subject(Kind::Booked, &a, zones(&a, Recipient::Provider, None));
        assert!(!s.contains('\n') && !s.contains('\r'), "{s}");
    }

    #[test]
    fn confirmation_shows_local_and_utc_times() {
        let t = Templates::new().unwrap();
        let a = consultation();
        let c = compose(
            &t,
            Kind::Booked,
            &a,
            &parties(Recipient::Patient, "Paula", "Dr. Vogel"),
            stamp(),
        )
        .unwrap();
        for body in [&c.text, &c.html] {
            assert!(body.contains("Hello Paula"), "{body}");
            assert!(body.contains("Your appointment is confirmed."), "{body}");
            assert!(body.contains("Dr. Vogel"), "{body}");
            assert!(
                body.contains("Tuesday 3 March 2026, 10:00 CET – 10:30"),
                "{body}"
            );
            assert!(body.contains("2026-03-03 09:00 – 09:30 UTC"), "{body}");
            assert!(body.contains("60.00 EUR"), "{body}");
        }
        assert!(c.text.contains("(Europe/Berlin)"), "{}", c.text);
        // HTML escaping covers `/` too.
        assert!(c.html.contains("(Europe&#x2f;Berlin)"), "{}", c.html);
        let cal = invitation(&c);
        assert_eq!(cal.method, Method::Request);
        assert!(cal.ics.contains("METHOD:REQUEST"));
        assert!(cal
            .ics
            .replace("\r\n ", "")
            .contains("mailto:someone@example.org"));
    }

    #[test]
    fn names_are_html_escaped_in_html_and_plain_in_text() {
        let t = Templates::new().unwrap();
        let mut a = consultation();
        a.appointment_type_name = "<b>Checkup</b>".into();
        let c = compose(
            &t,
            Kind::Booked,
            &a,
            &parties(
                Recipient::Provider,
                "<script>alert(1)</script>",
                "Tom & \"Jerry\" <img src=x onerror=alert(2)>",
            ),
            stamp(),
        )
        .unwrap();
        assert!(!c.html.contains("<script>"), "{}", c.html);
        assert!(!c.html.contains("<img"), "{}", c.html);
        assert!(!c.html.contains("<b>Checkup"), "{}", c.html);
        assert!(
            c.html
                .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{}",
            c.html
        );
        assert!(c.html.contains("Tom &amp; &quot;Jerry&quot;"), "{}", c.html);
        // Plain text is not HTML: it shows the name as given.
        assert!(
            c.text.contains("Hello <script>alert(1)</script>,"),
            "{}",
            c.text
        );
        // Providers see no price; patients' names are theirs to see.
        assert!(!c.text.contains("Price:"));
        assert!(c.text.contains("A new appointment was booked with you."));
    }

    #[test]
    fn a_confirmation_with_links_offers_to_reschedule_or_cancel_and_one_without_does_not() {
        let t = Templates::new().unwrap();
        let a = consultation();
        let links = ActionLinks {
            cancel: "https://portal.clinic.example/appointment-links/cx_1".into(),
            reschedule: "https://portal.clinic.example/appointment-links/rs_2".into(),
        };
        let with = compose(
            &t,
            Kind::Booked,
            &a,
            &Parties {
                links: Some(&links),
                ..parties(Recipient::Patient, "Paula", "Dr. Vogel")
            },
            stamp(),
        )
        .unwrap();
        assert!(
            with.text
                .contains("Reschedule:\nhttps://portal.clinic.example/appointment-links/rs_2\n"),
            "{}",
            with.text
        );
        assert!(
            with.text.contains(
                "Cancel this appointment:\nhttps://portal.clinic.example/appointment-links/cx_1\n"
            ),
            "{}",
            with.text
        );
        assert!(
            with.html.contains(">Cancel this appointment</a>"),
            "{}",
            with.html
        );
        assert!(with.html.contains(">Reschedule</a>"), "{}", with.html);
        assert!(
            with.html.contains(
                "href=\"https:&#x2f;&#x2f;portal.clinic.example&#x2f;appointment-links&#x2f;cx_1\""
            ),
            "{}",
            with.html
        );
        let without = compose(
            &t,
            Kind::Booked,
            &a,
            &parties(Recipient::Patient, "Paula", "Dr. Vogel"),
            stamp(),
        )
        .unwrap();
        for body in [&without.text, &without.html] {
            assert!(!body.contains("appointment-links"), "{body}");
            assert!(!body.contains("Cancel this appointment"), "{body}");
        }
    }

    #[test]
    fn reschedules_say_where_the_appointment_was() {
        let t = Templates::new().unwrap();
        let mut a = consultation();
        a.version = 2;
        a.previous_start = Some("2026-03-02T09:00:00Z".parse().unwrap());
        a.previous_end = Some("2026-03-02T09:30:00Z".parse().unwrap());
        let c = compose(
            &t,
            Kind::Rescheduled,
            &a,
            &parties(Recipient::Patient, "Paula", "Dr. Vogel"),
            stamp(),
        )
        .unwrap();
        assert!(c
            .text
            .contains("It was on Monday 2 March 2026, 10:00 CET – 10:30"));
        assert!(invitation(&c).ics.contains("SEQUENCE:2"));
    }

    #[test]
    fn late_cancellations_mention_the_fee_to_the_patient_only() {
        let t = Templates::new().unwrap();
        let mut a = consultation();
        a.version = 2;
        a.status = AppointmentStatus::Cancelled;
        a.reason = Some("Feeling better\nthanks".into());
        a.late = true;
        a.fee = Some(Money {
            amount_minor: 2500,
            currency: "EUR".into(),
        });
        let patient = compose(
            &t,
            Kind::Cancelled,
            &a,
            &parties(Recipient::Patient, "Paula", "Dr. Vogel"),
            stamp(),
        )
        .unwrap();
        assert!(patient.text.contains("Reason given: Feeling better thanks"));
        assert!(patient.text.contains("a fee of 25.00 EUR applies"));
        assert_eq!(invitation(&patient).method, Method::Cancel);
        assert!(invitation(&patient).ics.contains("METHOD:CANCEL"));
        let provider = compose(
            &t,
            Kind::Cancelled,
            &a,
            &parties(Recipient::Provider, "Dr. Vogel", "Paula"),
            stamp(),
        )
        .unwrap();
        assert!(!provider.text.contains("fee"));
    }

    #[test]
    fn reminders_say_how_soon_and_unknown_names_have_fallbacks() {
        let t = Templates::new().unwrap();
        let a = consultation();
        let c = compose(
            &t,
            Kind::Reminder {
                minutes_before: 1440,
            },
            &a,
            &Parties {
                recipient: Recipient::Patient,
                recipient_name: None,
                counterpart_name: Some("  "),
                from: "no-reply@carebook.dev",
                to: "someone@example.org",
                links: None,
                recipient_zone: None,
            },
            stamp(),
        )
        .unwrap();
        assert!(c.text.contains("your appointment is in 24 hours"));
        assert!(c.text.contains("Hello there,"));
        assert!(c.text.contains("With:  your provider"));
        assert_eq!(lead_time(120), "2 hours");
        assert_eq!(lead_time(90), "90 minutes");
        assert_eq!(lead_time(4320), "3 days");
    }
}

//! The emails a break-glass grant causes: one telling the patient at once that
//! a provider opened their record in an emergency, and one asking whoever
//! reviews such access (the configured privacy contact, or every admin) to
//! look at it. Neither has a calendar file. Times are shown in UTC, and say
//! so: notifications knows no zone for the patient or the clinic.

use chrono_tz::Tz;
use minijinja::context;

/// The grant is the contract's `record.break_glass_granted` v1 payload, stored
/// with each delivery as the event carried it.
pub use contracts::records::BreakGlassGranted;

use super::{
    format::{clean, local_long},
    kinds::Recipient,
    message::{Content, Templates},
};

/// The patient's subject line.
pub const PATIENT_SUBJECT: &str = "Emergency access to your health record";
/// The reviewer's subject line (no names: subjects show in every inbox list).
pub const REVIEW_SUBJECT: &str = "Break-glass access to a patient's record";

/// Longest name shown.
const MAX_NAME: usize = 120;
/// Longest reason shown.
const MAX_REASON: usize = 1000;

/// The subject line for `recipient`: the patient's, or the reviewer's.
pub fn subject(recipient: Recipient) -> &'static str {
    match recipient {
        Recipient::Patient => PATIENT_SUBJECT,
        Recipient::Provider
        | Recipient::Admin
        | Recipient::PrivacyContact
        | Recipient::AccountHolder => REVIEW_SUBJECT,
    }
}

/// Who gets the email and the names it shows, where the read model knows them.
pub struct Names<'a> {
    pub recipient: Recipient,
    /// The recipient's name (none for a configured address).
    pub recipient_name: Option<&'a str>,
    pub provider_name: Option<&'a str>,
    pub patient_name: Option<&'a str>,
}

/// Render the email about grant `g` for one recipient.
pub fn compose(
    templates: &Templates,
    g: &BreakGlassGranted,
    names: &Names<'_>,
) -> Result<Content, minijinja::Error> {
    let known = |name: Option<&str>| name.map(|n| clean(n, MAX_NAME)).filter(|n| !n.is_empty());
    let provider = known(names.provider_name)
        .unwrap_or_else(|| format!("A provider (Carebook id {})", g.provider_id));
    let patient = known(names.patient_name)
        .unwrap_or_else(|| format!("a patient (Carebook id {})", g.patient_id));
    let reason = Some(clean(&g.reason, MAX_REASON))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "(none given)".into());
    let ctx = context! {
        recipient_name => known(names.recipient_name).unwrap_or_else(|| "there".into()),
        for_patient => names.recipient == Recipient::Patient,
        provider,
        patient,
        granted => local_long(g.granted_at, Tz::UTC),
        expires => local_long(g.expires_at, Tz::UTC),
        reason,
        grant_id => g.grant_id.to_string(),
    };
    let (text, html) = templates.render("break_glass", &ctx)?;
    Ok(Content {
        text,
        html,
        calendar: None,
    })
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use uuid::Uuid;

    /// Dr. Vogel opens Paula's record at 09:05 UTC for 30 minutes.
    pub fn grant() -> BreakGlassGranted {
        BreakGlassGranted {
            grant_id: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000d1").unwrap(),
            patient_id: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000a1").unwrap(),
            provider_id: Uuid::parse_str("0190f5b4-0000-7000-8000-0000000000b1").unwrap(),
            reason: "Unconscious in the emergency room; checking allergies".into(),
            granted_at: "2026-03-03T09:05:00Z".parse().unwrap(),
            expires_at: "2026-03-03T09:35:00Z".parse().unwrap(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(recipient: Recipient, recipient_name: Option<&'a str>) -> Names<'a> {
        Names {
            recipient,
            recipient_name,
            provider_name: Some("Dr. Lena Vogel"),
            patient_name: Some("Paula Patient"),
        }
    }

    #[test]
    fn subjects_are_fixed_and_name_nobody() {
        assert_eq!(
            subject(Recipient::Patient),
            "Emergency access to your health record"
        );
        assert_eq!(
            subject(Recipient::PrivacyContact),
            "Break-glass access to a patient's record"
        );
        assert_eq!(subject(Recipient::Admin), REVIEW_SUBJECT);
    }

    #[test]
    fn the_patient_is_told_who_when_until_when_and_why() {
        let t = Templates::new().unwrap();
        let c = compose(
            &t,
            &fixtures::grant(),
            &names(Recipient::Patient, Some("Paula Patient")),
        )
        .unwrap();
        assert!(c.calendar.is_none());
        for body in [&c.text, &c.html] {
            assert!(body.contains("Hello Paula Patient,"), "{body}");
            assert!(
                body.contains("Dr. Lena Vogel opened your health record in an emergency"),
                "{body}"
            );
            assert!(body.contains("Tuesday 3 March 2026, 09:05 UTC"), "{body}");
            assert!(body.contains("Tuesday 3 March 2026, 09:35 UTC"), "{body}");
            assert!(body.contains("Times are in UTC."), "{body}");
            assert!(body.contains("checking allergies"), "{body}");
            assert!(!body.contains("must review"), "{body}");
        }
        assert!(
            c.text.contains("Who:    Dr. Lena Vogel\nWhen:   Tuesday 3 March 2026, 09:05 UTC\nUntil:  Tuesday 3 March 2026, 09:35 UTC\nReason: Unconscious in the emergency room; checking allergies\n"),
            "{}",
            c.text
        );
        assert!(!c.text.contains("Whose:"), "{}", c.text);
    }

    #[test]
    fn the_reviewer_is_told_whose_record_and_that_an_admin_must_review_it() {
        let t = Templates::new().unwrap();
        let g = fixtures::grant();
        let c = compose(&t, &g, &names(Recipient::PrivacyContact, None)).unwrap();
        for body in [&c.text, &c.html] {
            assert!(body.contains("Hello there,"), "{body}");
            assert!(
                body.contains("Dr. Lena Vogel opened the health record of Paula Patient"),
                "{body}"
            );
            assert!(
                body.contains("An admin must review this access in the Carebook portal."),
                "{body}"
            );
            assert!(body.contains("Tuesday 3 March 2026, 09:05 UTC"), "{body}");
            assert!(body.contains("Tuesday 3 March 2026, 09:35 UTC"), "{body}");
            assert!(body.contains("checking allergies"), "{body}");
            assert!(body.contains(&g.grant_id.to_string()), "{body}");
        }
        assert!(c.text.contains("Whose:  Paula Patient\n"), "{}", c.text);
        let admin = compose(&t, &g, &names(Recipient::Admin, Some("Ada Admin"))).unwrap();
        assert!(admin.text.contains("Hello Ada Admin,"), "{}", admin.text);
    }

    #[test]
    fn names_and_reasons_are_html_escaped_and_cannot_forge_lines() {
        let t = Templates::new().unwrap();
        let mut g = fixtures::grant();
        g.reason = "<script>alert(1)</script>\nFrom: forged".into();
        let c = compose(
            &t,
            &g,
            &Names {
                recipient: Recipient::Admin,
                recipient_name: Some("Ada"),
                provider_name: Some("Tom & \"Jerry\" <img src=x>"),
                patient_name: Some("<b>Paula</b>"),
            },
        )
        .unwrap();
        assert!(!c.html.contains("<script>"), "{}", c.html);
        assert!(!c.html.contains("<img"), "{}", c.html);
        assert!(!c.html.contains("<b>Paula"), "{}", c.html);
        assert!(c.html.contains("Tom &amp; &quot;Jerry&quot;"), "{}", c.html);
        assert!(
            c.text
                .contains("Reason: <script>alert(1)</script> From: forged\n"),
            "{}",
            c.text
        );
        assert!(!c.text.contains("\nFrom: forged"), "{}", c.text);
    }

    #[test]
    fn unknown_names_and_an_empty_reason_have_fallbacks() {
        let t = Templates::new().unwrap();
        let mut g = fixtures::grant();
        g.reason = " \n ".into();
        let c = compose(
            &t,
            &g,
            &Names {
                recipient: Recipient::Admin,
                recipient_name: None,
                provider_name: None,
                patient_name: Some("  "),
            },
        )
        .unwrap();
        assert!(
            c.text.contains(&format!(
                "A provider (Carebook id {}) opened the health record of a patient (Carebook id {})",
                g.provider_id, g.patient_id
            )),
            "{}",
            c.text
        );
        assert!(c.text.contains("Reason: (none given)"), "{}", c.text);
    }
}

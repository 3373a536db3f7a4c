//! What a person reads when the API says no: a sentence next to the action and
//! messages next to the fields, from the problem's stable `type` and its
//! `detail`/`errors` (written for people). Never the raw body, never internals.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::{ApiError, ProblemBody};

/// Messages for a form: one for the whole action, one per field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Feedback {
    pub message: Option<String>,
    pub fields: BTreeMap<String, String>,
}

impl Feedback {
    pub fn message(text: impl Into<String>) -> Self {
        Self {
            message: Some(text.into()),
            fields: BTreeMap::new(),
        }
    }

    pub fn field(mut self, name: &str, text: impl Into<String>) -> Self {
        self.fields.insert(name.to_owned(), text.into());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.message.is_none() && self.fields.is_empty()
    }

    /// Add `text` to the main message (once).
    fn also(mut self, text: &str) -> Self {
        let text = sentence(text);
        self.message = Some(match self.message.take() {
            Some(m) if m.contains(&text) => m,
            Some(m) => format!("{m} {text}"),
            None => text,
        });
        self
    }

    /// Keep field messages only for fields the form has; fold the others into
    /// the main message so nothing the API said is lost.
    pub fn for_form(mut self, form_fields: &[&str]) -> Self {
        let (keep, fold): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut self.fields)
            .into_iter()
            .partition(|(k, _)| form_fields.contains(&k.as_str()));
        self.fields = keep;
        for (_, text) in fold {
            self = self.also(&text);
        }
        if self.message.is_none() && !self.fields.is_empty() {
            self.message = Some("Please correct the highlighted fields.".to_owned());
        }
        self
    }
}

const TRY_AGAIN: &str = "The service is briefly unavailable. Please try again in a moment.";

/// The friendly form of an API failure.
pub fn from_api(err: &ApiError) -> Feedback {
    from_api_mapped(err, |path| Some(field_name(path)))
}

/// [`from_api`] with the form's own reading of the API's field paths (a list
/// item's path to the input it came from); a path mapped to `None` is about
/// the whole form and joins the main message.
pub fn from_api_mapped(err: &ApiError, form_field: impl Fn(&str) -> Option<String>) -> Feedback {
    match err {
        ApiError::Unreachable(_) | ApiError::Unexpected(_) => Feedback::message(TRY_AGAIN),
        ApiError::Status {
            status,
            problem,
            retry_after,
        } => {
            let empty = ProblemBody::default();
            let p = problem.as_ref().unwrap_or(&empty);
            if status.is_server_error() {
                return Feedback::message(TRY_AGAIN);
            }
            let mut fb = Feedback::message(message(p, status.as_u16(), *retry_after));
            for e in &p.errors {
                match form_field(&e.field) {
                    Some(field) => {
                        fb.fields.insert(field, sentence(&e.message));
                    }
                    None => fb = fb.also(&e.message),
                }
            }
            fb
        }
    }
}

/// Our words for the problems people meet most; the API's `detail` otherwise.
fn message(p: &ProblemBody, status: u16, retry_after: Option<u32>) -> String {
    let wait = || match retry_after {
        Some(s) if s > 7200 => format!("about {} hours", s.div_ceil(3600)),
        Some(s) if s > 90 => format!("about {} minutes", s.div_ceil(60)),
        Some(s) => format!("{s} seconds"),
        None => "a minute".to_owned(),
    };
    match p.code() {
        "invalid-credentials" => "The email or password is wrong.".to_owned(),
        "login-locked" => format!(
            "Too many failed attempts for this email. Wait {} and try again.",
            wait()
        ),
        "rate-limited" => format!("Too many requests. Wait {} and try again.", wait()),
        "too-many-attempts" => format!(
            "Too many failed attempts from your address. Wait {} and try again.",
            wait()
        ),
        "email-unverified" => {
            "Your email address is not confirmed yet. Open the link we emailed you, or ask for a new one below.".to_owned()
        }
        "account-disabled" => {
            "This account has been disabled. Please contact the clinic.".to_owned()
        }
        "invalid-mfa-code" => {
            "That code is wrong or was used already. Enter the current code from your app, or a recovery code.".to_owned()
        }
        "invalid-mfa-token" => {
            "This sign-in took too long or was already finished. Please log in again.".to_owned()
        }
        "invalid-token" => {
            "This link is not valid any more: it expired, was already used, or was copied incompletely.".to_owned()
        }
        "invalid-current-password" => "Your current password is not right.".to_owned(),
        "mfa-required" => {
            "Your role must sign in with a second factor, so it cannot be turned off.".to_owned()
        }
        "cannot-disable-self" => {
            "You cannot disable your own account. Ask another administrator.".to_owned()
        }
        "email-taken" => "An account with this email already exists. Log in instead.".to_owned(),
        "slot-taken" => {
            "Someone booked this time just before you. Please pick another slot.".to_owned()
        }
        "patient-double-booked" => "You already have an appointment at that time.".to_owned(),
        "hold-expired" | "hold-not-found" => {
            "Your hold on this time ended before it was confirmed, and the time was offered to others again. Please pick a time again.".to_owned()
        }
        "hold-limit-reached" => {
            "Too many times are held at once. Confirm one, or wait a few minutes for the others to lapse, then try again.".to_owned()
        }
        "hold-converted" => "This time is booked already: it is among the appointments.".to_owned(),
        "offer-expired" => {
            "This offer has expired: the slot was passed on to the next person on the waitlist. You are still on the waitlist for the next one.".to_owned()
        }
        "offer-claimed" => "You have booked this slot already: it is in My appointments.".to_owned(),
        "offer-not-found" => {
            "This offer is not for the account you are logged in with, or the link is incomplete. Log in with the account the email was sent to.".to_owned()
        }
        "link-expired" => {
            "This link no longer works: it was used already, the appointment has started, or the appointment changed after the email was sent.".to_owned()
        }
        "link-not-found" => {
            "This link is not valid. Open it from the email again; if it still does not work, please contact the clinic.".to_owned()
        }
        "forbidden" => "You are not allowed to do that.".to_owned(),
        "availability-conflicts" => {
            "Not saved yet: booked appointments fall outside the new hours. Choose below what happens to them.".to_owned()
        }
        "series-conflicts" => {
            "Nothing was booked: not every visit of the series can be booked, and you asked for all or none.".to_owned()
        }
        // Its detail lists the fields by their API paths; the fields carry the messages.
        "validation-error" if !p.errors.is_empty() && p.detail.is_some() => {
            "Please correct the highlighted fields.".to_owned()
        }
        "illegal-transition" => {
            "That step is no longer possible: the appointment has moved on. The page shows where it stands now.".to_owned()
        }
        "version-mismatch" | "version-conflict" => {
            "Someone changed this entry after you opened it. Its latest version is shown; please make your change again.".to_owned()
        }
        "not-found" => "We could not find that. It may have been removed.".to_owned(),
        "break-glass-limit" => format!(
            "You have used emergency access as often as allowed in 24 hours. You can ask again in {}; until then, ask a colleague who has a care relationship with the patient.",
            wait()
        ),
        "care-relationship-required" => {
            "Nothing was saved: emergency access is read-only. Adding to or changing a record needs a care relationship (an appointment with the patient).".to_owned()
        }
        "too-early" => {
            "Too early for that step: check-in opens an hour before the start; completing a visit or recording a no-show once it has started.".to_owned()
        }
        "already-reviewed" => {
            "This emergency access has already been reviewed; a review is final.".to_owned()
        }
        "unauthorized" | "invalid-refresh-token" | "refresh-token-reused" => {
            "Your session has ended. Please log in again.".to_owned()
        }
        _ => match (&p.detail, status) {
            (Some(detail), _) if !detail.trim().is_empty() => sentence(detail),
            (_, 403) => "You are not allowed to do that.".to_owned(),
            (_, 404) => "We could not find that. It may have been removed.".to_owned(),
            (_, 409) => "That is no longer possible; the page may be out of date.".to_owned(),
            _ if !p.title.trim().is_empty() => sentence(&p.title),
            _ => "That did not work. Please check and try again.".to_owned(),
        },
    }
}

/// API field paths (`price.currency`, `lines[0].amount`) → the form's field name (`price`).
fn field_name(path: &str) -> String {
    path.split(['.', '[']).next().unwrap_or(path).to_owned()
}

/// Capitalised, ending in a full stop.
fn sentence(text: &str) -> String {
    let t = text.trim();
    let mut chars = t.chars();
    let mut out: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::FieldProblem;
    use reqwest::StatusCode;

    fn problem(status: u16, code: &str, detail: Option<&str>, errors: &[(&str, &str)]) -> ApiError {
        ApiError::Status {
            status: StatusCode::from_u16(status).unwrap(),
            problem: Some(ProblemBody {
                kind: format!("https://carebook.dev/problems/{code}"),
                title: "Title".into(),
                detail: detail.map(str::to_owned),
                errors: errors
                    .iter()
                    .map(|(f, m)| FieldProblem {
                        field: (*f).into(),
                        message: (*m).into(),
                    })
                    .collect(),
                ..Default::default()
            }),
            retry_after: None,
        }
    }

    #[test]
    fn known_problems_get_our_own_words() {
        let fb = from_api(&problem(
            401,
            "invalid-credentials",
            Some("The email or password is wrong."),
            &[],
        ));
        assert_eq!(
            fb.message.as_deref(),
            Some("The email or password is wrong.")
        );
        let fb = from_api(&problem(409, "slot-taken", None, &[]));
        assert!(fb.message.unwrap().contains("pick another slot"));
    }

    #[test]
    fn field_errors_land_next_to_their_fields() {
        let fb = from_api(&problem(
            422,
            "weak-password",
            Some("password is too short"),
            &[("password", "must be at least 12 characters")],
        ))
        .for_form(&["name", "email", "password"]);
        assert_eq!(fb.fields["password"], "Must be at least 12 characters.");
        assert_eq!(fb.message.as_deref(), Some("Password is too short."));
    }

    #[test]
    fn errors_for_fields_the_form_lacks_join_the_main_message() {
        let fb = from_api(&problem(
            422,
            "validation-error",
            None,
            &[("price.currency", "an ISO 4217 code")],
        ))
        .for_form(&["name"]);
        assert!(fb.fields.is_empty());
        assert_eq!(fb.message.as_deref(), Some("Title. An ISO 4217 code."));
    }

    #[test]
    fn server_failures_never_show_their_details() {
        for err in [
            problem(500, "internal", Some("connection refused at 10.0.0.3"), &[]),
            problem(
                503,
                "upstream-unavailable",
                Some("The records service is unavailable"),
                &[],
            ),
            ApiError::Unreachable("tcp connect error".into()),
            ApiError::Unexpected("expected value at line 1".into()),
        ] {
            let fb = from_api(&err);
            let text = fb.message.unwrap();
            assert_eq!(text, TRY_AGAIN);
        }
    }

    #[test]
    fn a_bare_status_still_reads_well() {
        let err = ApiError::Status {
            status: StatusCode::FORBIDDEN,
            problem: None,
            retry_after: None,
        };
        assert_eq!(
            from_api(&err).message.as_deref(),
            Some("You are not allowed to do that.")
        );
        let err = ApiError::Status {
            status: StatusCode::TOO_MANY_REQUESTS,
            problem: Some(ProblemBody {
                kind: "https://carebook.dev/problems/rate-limited".into(),
                ..Default::default()
            }),
            retry_after: Some(42),
        };
        assert_eq!(
            from_api(&err).message.as_deref(),
            Some("Too many requests. Wait 42 seconds and try again.")
        );
    }

    #[test]
    fn list_items_land_where_the_form_says_and_the_rest_joins_the_message() {
        let fb = from_api_mapped(
            &problem(
                422,
                "validation-error",
                Some("readings[1].value: must be between 20 and 200; readings: diastolic must be below systolic"),
                &[
                    ("readings[1].value", "must be between 20 and 200"),
                    ("readings", "diastolic must be below systolic"),
                ],
            ),
            |path| (path != "readings").then(|| "diastolic".to_owned()),
        );
        assert_eq!(fb.fields["diastolic"], "Must be between 20 and 200.");
        assert_eq!(
            fb.message.as_deref(),
            Some("Please correct the highlighted fields. Diastolic must be below systolic.")
        );
    }

    #[test]
    fn clinical_refusals_read_plainly_with_the_wait() {
        let err = ApiError::Status {
            status: StatusCode::TOO_MANY_REQUESTS,
            problem: Some(ProblemBody {
                kind: "https://carebook.dev/problems/break-glass-limit".into(),
                ..Default::default()
            }),
            retry_after: Some(3 * 3600 - 20),
        };
        let text = from_api(&err).message.unwrap();
        assert!(text.contains("in about 3 hours"), "{text}");
        let text = from_api(&problem(403, "care-relationship-required", Some("x"), &[]))
            .message
            .unwrap();
        assert!(text.contains("read-only"), "{text}");
        let text = from_api(&problem(
            409,
            "too-early",
            Some(
                "A visit can be completed once it has started: possible from 2026-05-04T09:00:00Z.",
            ),
            &[],
        ))
        .message
        .unwrap();
        assert!(!text.contains("2026-05-04T09:00:00Z"), "{text}");
    }

    #[test]
    fn a_step_the_appointment_has_passed_reads_plainly() {
        let fb = from_api(&problem(
            409,
            "illegal-transition",
            Some("The appointment is checked_in; that change is not possible."),
            &[],
        ));
        assert!(!fb.message.unwrap().contains("checked_in"));
    }
}

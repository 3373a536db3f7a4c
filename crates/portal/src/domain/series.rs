//! A recurring series as the front desk books and reads it: the "repeat"
//! form read into scheduling's recurrence (every 1–52 weeks, a number of
//! visits or a last day, all or nothing), and each occurrence shown in the
//! provider's zone as booked (with its appointment) or with the reason it
//! could not be booked.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{feedback::Feedback, time};
use crate::api::models::{AppointmentStatus, Occurrence};

/// Scheduling's bounds: every 1 to 52 weeks, at most 52 visits.
pub const MAX_WEEKS: u32 = 52;
pub const MAX_VISITS: u32 = 52;

/// The repeat form as typed (kept as typed when it comes back with mistakes).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct RepeatForm {
    #[serde(default)]
    pub every_weeks: String,
    /// `count` or `until`: how the series ends.
    #[serde(default)]
    pub ends: String,
    #[serde(default)]
    pub count: String,
    #[serde(default)]
    pub until: String,
    /// A checked box (`on`); absent when unchecked.
    #[serde(default)]
    pub all_or_nothing: Option<String>,
}

impl RepeatForm {
    /// The form as first shown: weekly, 6 visits, not all or nothing.
    pub fn initial() -> Self {
        Self {
            every_weeks: "1".into(),
            ends: "count".into(),
            count: "6".into(),
            until: String::new(),
            all_or_nothing: None,
        }
    }
}

/// How a series repeats, as scheduling takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repeat {
    pub every_weeks: u32,
    pub count: Option<u32>,
    pub until: Option<NaiveDate>,
    pub all_or_nothing: bool,
}

/// Read the repeat form for a series whose first visit is on `first_day`
/// (the provider's zone), or say what is wrong next to each field.
pub fn parse(form: &RepeatForm, first_day: NaiveDate) -> Result<Repeat, Feedback> {
    let mut fb = Feedback::default();
    let number = |raw: &str, max: u32| {
        raw.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
    };
    let every_weeks = number(&form.every_weeks, MAX_WEEKS);
    if every_weeks.is_none() {
        fb = fb.field(
            "every_weeks",
            format!("Enter a number of weeks from 1 to {MAX_WEEKS}."),
        );
    }
    let (mut count, mut until) = (None, None);
    match form.ends.trim() {
        "until" => match NaiveDate::parse_from_str(form.until.trim(), "%Y-%m-%d") {
            Ok(d) if d < first_day => {
                fb = fb.field("until", "Choose the first visit's day or a later one.");
            }
            Ok(d) => until = Some(d),
            Err(_) if form.until.trim().is_empty() => {
                fb = fb.field("until", "Choose the last day a visit may fall on.");
            }
            Err(_) => fb = fb.field("until", "Use a date like 2026-05-04."),
        },
        _ => match number(&form.count, MAX_VISITS) {
            Some(n) => count = Some(n),
            None => {
                fb = fb.field(
                    "count",
                    format!("Enter a number of visits from 1 to {MAX_VISITS}."),
                );
            }
        },
    }
    match every_weeks {
        Some(every_weeks) if fb.fields.is_empty() => Ok(Repeat {
            every_weeks,
            count,
            until,
            all_or_nothing: form.all_or_nothing.is_some(),
        }),
        _ => Err(Feedback {
            message: Some("Please correct the highlighted fields.".to_owned()),
            ..fb
        }),
    }
}

/// One occurrence as the series page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OccurrenceView {
    /// 1 for the first.
    pub number: u32,
    /// "Mon 4 May 2026, 09:00–09:30 CEST" (or the day, when the time does not exist then).
    pub when: String,
    /// Its appointment, when one was booked.
    pub appointment_id: Option<Uuid>,
    /// The appointment's status label ("Booked", "Cancelled"), or "Not booked".
    pub outcome: String,
    /// Why it could not be booked: the problem's title and detail.
    pub problem_title: Option<String>,
    pub problem_detail: Option<String>,
    /// Booked and still to come: it (and those after it) can be cancelled.
    pub cancellable: bool,
}

/// The occurrences in order, in the provider's `zone`.
pub fn views(occurrences: &[Occurrence], zone: Tz, now: DateTime<Utc>) -> Vec<OccurrenceView> {
    let mut sorted: Vec<&Occurrence> = occurrences.iter().collect();
    sorted.sort_by_key(|o| o.position);
    sorted
        .into_iter()
        .map(|o| {
            let when = match (&o.appointment, o.start) {
                (Some(a), _) => time::span(a.start, a.end, zone),
                (None, Some(start)) => time::date_time(start, zone),
                (None, None) => format!(
                    "{} (the time does not exist that day)",
                    o.date.format("%a %-d %b %Y")
                ),
            };
            let problem = o.not_booked.as_ref();
            let title = problem
                .map(|p| p.title.trim().to_owned())
                .filter(|t| !t.is_empty());
            OccurrenceView {
                number: o.position + 1,
                when,
                appointment_id: o.appointment.as_ref().map(|a| a.id),
                outcome: match &o.appointment {
                    Some(a) => a.status.label().to_owned(),
                    None => "Not booked".to_owned(),
                },
                problem_title: title.or_else(|| {
                    (o.appointment.is_none()).then(|| "Could not be booked".to_owned())
                }),
                problem_detail: problem
                    .and_then(|p| p.detail.clone())
                    .filter(|d| !d.trim().is_empty()),
                cancellable: o
                    .appointment
                    .as_ref()
                    .is_some_and(|a| a.status == AppointmentStatus::Booked && a.start > now),
            }
        })
        .collect()
}

/// "4 of 6 visits booked."
pub fn booked_summary(views: &[OccurrenceView]) -> String {
    let booked = views.iter().filter(|v| v.appointment_id.is_some()).count();
    match views.len() {
        1 => format!("{booked} of 1 visit booked."),
        n => format!("{booked} of {n} visits booked."),
    }
}

/// "every week" / "every 2 weeks"
pub fn cadence(every_weeks: u32) -> String {
    match every_weeks {
        1 => "every week".to_owned(),
        n => format!("every {n} weeks"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{models::OccurrenceAppointment, ProblemBody};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn form(every: &str, ends: &str, count: &str, until: &str, all: bool) -> RepeatForm {
        RepeatForm {
            every_weeks: every.into(),
            ends: ends.into(),
            count: count.into(),
            until: until.into(),
            all_or_nothing: all.then(|| "on".to_owned()),
        }
    }

    #[test]
    fn a_count_or_a_last_day_ends_the_series() {
        let first = day("2026-03-02");
        assert_eq!(
            parse(&form("2", "count", " 6 ", "2026-01-01", true), first),
            Ok(Repeat {
                every_weeks: 2,
                count: Some(6),
                until: None,
                all_or_nothing: true
            })
        );
        assert_eq!(
            parse(&form("1", "until", "x", "2026-04-30", false), first),
            Ok(Repeat {
                every_weeks: 1,
                count: None,
                until: Some(day("2026-04-30")),
                all_or_nothing: false
            }),
            "the unused field is ignored"
        );
        assert!(parse(&RepeatForm::initial(), first).is_ok());
    }

    #[test]
    fn out_of_range_and_missing_values_are_said_next_to_their_fields() {
        let first = day("2026-03-02");
        let fb = parse(&form("0", "count", "53", "", false), first).unwrap_err();
        assert!(fb.fields["every_weeks"].contains("1 to 52"));
        assert!(fb.fields["count"].contains("1 to 52"));
        assert!(fb.message.is_some());
        let fb = parse(&form("53", "until", "", "", false), first).unwrap_err();
        assert!(fb.fields.contains_key("every_weeks"));
        assert_eq!(
            fb.fields["until"],
            "Choose the last day a visit may fall on."
        );
        let fb = parse(&form("1", "until", "", "2026-03-01", false), first).unwrap_err();
        assert_eq!(
            fb.fields["until"],
            "Choose the first visit's day or a later one."
        );
        let fb = parse(&form("1", "until", "", "1/3/2026", false), first).unwrap_err();
        assert_eq!(fb.fields["until"], "Use a date like 2026-05-04.");
    }

    fn booked(position: u32, start: &str, status: AppointmentStatus) -> Occurrence {
        let start = at(start);
        Occurrence {
            position,
            date: start.date_naive(),
            start: Some(start),
            appointment: Some(OccurrenceAppointment {
                id: Uuid::from_u128(u128::from(position) + 1),
                status,
                start,
                end: start + chrono::Duration::minutes(30),
            }),
            not_booked: None,
        }
    }

    #[test]
    fn each_occurrence_says_booked_or_why_not_in_the_providers_zone() {
        let refused = Occurrence {
            position: 1,
            date: day("2026-03-09"),
            start: Some(at("2026-03-09T08:00:00Z")),
            appointment: None,
            not_booked: Some(ProblemBody {
                title: "Slot taken".into(),
                detail: Some("Another appointment is booked at this time.".into()),
                ..ProblemBody::default()
            }),
        };
        let skipped = Occurrence {
            position: 2,
            date: day("2026-03-29"),
            start: None,
            appointment: None,
            not_booked: Some(ProblemBody::default()),
        };
        let now = at("2026-03-03T00:00:00Z");
        let views = views(
            &[
                skipped,
                refused,
                booked(0, "2026-03-02T08:00:00Z", AppointmentStatus::Booked),
                booked(3, "2026-04-06T07:00:00Z", AppointmentStatus::Cancelled),
            ],
            Tz::Europe__Berlin,
            now,
        );
        let numbers: Vec<u32> = views.iter().map(|v| v.number).collect();
        assert_eq!(numbers, [1, 2, 3, 4]);
        assert_eq!(views[0].when, "Mon 2 Mar 2026, 09:00–09:30 CET");
        assert_eq!(views[0].outcome, "Booked");
        assert!(!views[0].cancellable, "already past");
        assert_eq!(views[1].when, "Mon 9 Mar 2026, 09:00 CET");
        assert_eq!(views[1].problem_title.as_deref(), Some("Slot taken"));
        assert_eq!(
            views[1].problem_detail.as_deref(),
            Some("Another appointment is booked at this time.")
        );
        assert_eq!(views[1].appointment_id, None);
        assert_eq!(
            views[2].when,
            "Sun 29 Mar 2026 (the time does not exist that day)"
        );
        assert_eq!(
            views[2].problem_title.as_deref(),
            Some("Could not be booked")
        );
        assert_eq!(
            views[3].when, "Mon 6 Apr 2026, 09:00–09:30 CEST",
            "DST kept the wall clock"
        );
        assert_eq!(views[3].outcome, "Cancelled");
        assert!(!views[3].cancellable);
        assert_eq!(booked_summary(&views), "2 of 4 visits booked.");
    }

    #[test]
    fn a_booked_future_visit_can_be_cancelled_with_those_after_it() {
        let now = at("2026-03-01T00:00:00Z");
        let v = views(
            &[booked(0, "2026-03-02T08:00:00Z", AppointmentStatus::Booked)],
            Tz::UTC,
            now,
        );
        assert!(v[0].cancellable);
        assert_eq!(cadence(1), "every week");
        assert_eq!(cadence(3), "every 3 weeks");
    }
}

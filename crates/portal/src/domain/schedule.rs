//! Appointments as the clinic works through them: laid out by the local day
//! they fall on (a provider's day is in their own time zone), and the visit
//! steps that make sense for each one now.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::time;
use crate::api::models::AppointmentStatus;

/// The clinic's side of a visit: scheduling's `check-in`, `complete` and `no-show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitStep {
    CheckIn,
    Complete,
    NoShow,
}

impl VisitStep {
    pub const ALL: [VisitStep; 3] = [VisitStep::CheckIn, VisitStep::Complete, VisitStep::NoShow];

    /// The last path segment, in the API's URL and in ours.
    pub fn segment(self) -> &'static str {
        match self {
            VisitStep::CheckIn => "check-in",
            VisitStep::Complete => "complete",
            VisitStep::NoShow => "no-show",
        }
    }

    pub fn from_segment(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.segment() == segment)
    }

    /// The button.
    pub fn label(self) -> &'static str {
        match self {
            VisitStep::CheckIn => "Check in",
            VisitStep::Complete => "Complete",
            VisitStep::NoShow => "No-show",
        }
    }

    /// What the page says once it is done.
    pub fn done(self) -> &'static str {
        match self {
            VisitStep::CheckIn => "Checked in.",
            VisitStep::Complete => "Visit completed.",
            VisitStep::NoShow => "Marked as a no-show.",
        }
    }
}

/// How long before the start a patient can be checked in (scheduling's rule).
pub const CHECK_IN_OPENS_BEFORE: Duration = Duration::minutes(60);

/// The first moment `step` is possible for a visit starting at `start`:
/// check-in an hour before, completing and a no-show from the start on.
pub fn opens(step: VisitStep, start: DateTime<Utc>) -> DateTime<Utc> {
    match step {
        VisitStep::CheckIn => start - CHECK_IN_OPENS_BEFORE,
        VisitStep::Complete | VisitStep::NoShow => start,
    }
}

/// The steps to offer for an appointment at `now`: a booked patient can be
/// checked in from an hour before the start and, once the start has passed,
/// marked as not having come; a checked-in visit can be completed once it has
/// started. Nothing else moves, and nothing is offered before its time
/// (scheduling would refuse it as `too-early`).
pub fn steps(
    status: AppointmentStatus,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<VisitStep> {
    let candidates: &[VisitStep] = match status {
        AppointmentStatus::Booked => &[VisitStep::CheckIn, VisitStep::NoShow],
        AppointmentStatus::CheckedIn => &[VisitStep::Complete],
        _ => &[],
    };
    candidates
        .iter()
        .copied()
        .filter(|s| opens(*s, start) <= now)
        .collect()
}

/// The visit's next step when it is not possible yet, and when it will be:
/// what a schedule row says instead of a button.
pub fn next_step_waiting(
    status: AppointmentStatus,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(VisitStep, DateTime<Utc>)> {
    let next = match status {
        AppointmentStatus::Booked => VisitStep::CheckIn,
        AppointmentStatus::CheckedIn => VisitStep::Complete,
        _ => return None,
    };
    let at = opens(next, start);
    (now < at).then_some((next, at))
}

/// "Check-in from 08:00": the row's note while its next step waits.
pub fn waiting_note(step: VisitStep, at: DateTime<Utc>, tz: Tz) -> String {
    let clock = time::clock(at, tz);
    match step {
        VisitStep::CheckIn => format!("Check-in from {clock}"),
        VisitStep::Complete => format!("Can be completed from {clock}"),
        VisitStep::NoShow => format!("No-show from {clock}"),
    }
}

/// Scheduling refused `step` as too early (`too-early`): when it becomes possible.
pub fn too_early(step: VisitStep, start: DateTime<Utc>, tz: Tz) -> String {
    let at = opens(step, start).with_timezone(&tz).format("%H:%M %Z");
    match step {
        VisitStep::CheckIn => {
            format!("Too early to check in: check-in opens an hour before the start, at {at}.")
        }
        VisitStep::Complete => {
            format!("Too early to complete the visit: it can be completed once it has started, at {at}.")
        }
        VisitStep::NoShow => format!(
            "Too early for a no-show: it can be recorded once the start time, {at}, has passed."
        ),
    }
}

/// `items` spread over `days` by the local date (in `tz`) of their start, in
/// time order within each day; items on no listed day are left out.
pub fn by_local_day<T>(
    days: &[NaiveDate],
    mut items: Vec<T>,
    tz: Tz,
    start: impl Fn(&T) -> DateTime<Utc>,
) -> Vec<Vec<T>> {
    items.sort_by_key(|i| start(i));
    let mut out: Vec<Vec<T>> = days.iter().map(|_| Vec::new()).collect();
    for item in items {
        let day = time::today(start(&item), tz);
        if let Some(i) = days.iter().position(|d| *d == day) {
            out[i].push(item);
        }
    }
    out
}

/// The UTC window holding local date `date` in every one of `zones`: from the
/// earliest local midnight to the latest next one (a clinic with providers in
/// Kolkata and New York spans about 34 hours). UTC alone when `zones` is empty.
pub fn day_window(date: NaiveDate, zones: &[Tz]) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = date + Duration::days(1);
    let zones = if zones.is_empty() {
        &[Tz::UTC][..]
    } else {
        zones
    };
    let from = zones.iter().map(|z| time::start_of_day(date, *z)).min();
    let to = zones.iter().map(|z| time::start_of_day(next, *z)).max();
    match (from, to) {
        (Some(from), Some(to)) => (from, to),
        _ => (
            time::start_of_day(date, Tz::UTC),
            time::start_of_day(next, Tz::UTC),
        ),
    }
}

/// The date a `?date=YYYY-MM-DD` parameter names, or `today`.
pub fn date_param(param: Option<&str>, today: NaiveDate) -> NaiveDate {
    param
        .and_then(|p| p.trim().parse::<NaiveDate>().ok())
        .unwrap_or(today)
}

/// "Today", "Tomorrow", "Yesterday" or "Wed 6 May 2026".
pub fn day_title(date: NaiveDate, today: NaiveDate) -> String {
    match (date - today).num_days() {
        0 => format!("Today, {}", date.format("%a %-d %B %Y")),
        1 => format!("Tomorrow, {}", date.format("%a %-d %B %Y")),
        -1 => format!("Yesterday, {}", date.format("%a %-d %B %Y")),
        _ => date.format("%A %-d %B %Y").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn steps_follow_the_visit() {
        let now = utc("2026-05-04T09:00:00Z");
        let later = utc("2026-05-04T10:00:00Z");
        let earlier = utc("2026-05-04T08:30:00Z");
        assert_eq!(
            steps(AppointmentStatus::Booked, later, now),
            [VisitStep::CheckIn]
        );
        assert!(
            steps(AppointmentStatus::Booked, utc("2026-05-04T10:00:01Z"), now).is_empty(),
            "check-in opens an hour before the start"
        );
        assert!(
            steps(AppointmentStatus::CheckedIn, later, now).is_empty(),
            "not completed before it started"
        );
        assert_eq!(
            steps(AppointmentStatus::Booked, earlier, now),
            [VisitStep::CheckIn, VisitStep::NoShow]
        );
        assert_eq!(
            steps(AppointmentStatus::CheckedIn, earlier, now),
            [VisitStep::Complete]
        );
        for done in [
            AppointmentStatus::Completed,
            AppointmentStatus::Cancelled,
            AppointmentStatus::NoShow,
        ] {
            assert!(steps(done, earlier, now).is_empty(), "{done:?}");
        }
    }

    #[test]
    fn no_step_is_offered_before_scheduling_would_take_it() {
        use proptest::prelude::*;
        proptest!(|(offset in -300i64..300, status in 0usize..5)| {
            let start = utc("2026-05-04T09:00:00Z");
            let now = start + Duration::minutes(offset);
            let status = [
                AppointmentStatus::Booked,
                AppointmentStatus::CheckedIn,
                AppointmentStatus::Completed,
                AppointmentStatus::Cancelled,
                AppointmentStatus::NoShow,
            ][status];
            for s in steps(status, start, now) {
                prop_assert!(opens(s, start) <= now);
            }
            // Either a step is offered, or the row says when the next one opens, or the visit is done.
            let waiting = next_step_waiting(status, start, now);
            let done = !matches!(status, AppointmentStatus::Booked | AppointmentStatus::CheckedIn);
            prop_assert!(done || !steps(status, start, now).is_empty() || waiting.is_some());
        });
    }

    #[test]
    fn a_waiting_step_says_when_it_opens_in_the_providers_zone() {
        let start = utc("2026-05-04T09:00:00Z");
        let (step, at) = next_step_waiting(
            AppointmentStatus::Booked,
            start,
            utc("2026-05-04T07:00:00Z"),
        )
        .unwrap();
        assert_eq!(step, VisitStep::CheckIn);
        assert_eq!(
            waiting_note(step, at, Tz::Europe__Berlin),
            "Check-in from 10:00"
        );
        let (step, at) = next_step_waiting(
            AppointmentStatus::CheckedIn,
            start,
            utc("2026-05-04T08:30:00Z"),
        )
        .unwrap();
        assert_eq!(
            waiting_note(step, at, Tz::UTC),
            "Can be completed from 09:00"
        );
        assert_eq!(
            too_early(VisitStep::NoShow, start, Tz::Europe__Berlin),
            "Too early for a no-show: it can be recorded once the start time, 11:00 CEST, has passed."
        );
        assert_eq!(
            too_early(VisitStep::CheckIn, start, Tz::UTC),
            "Too early to check in: check-in opens an hour before the start, at 08:00 UTC."
        );
    }

    #[test]
    fn steps_round_trip_through_their_segments() {
        for s in VisitStep::ALL {
            assert_eq!(VisitStep::from_segment(s.segment()), Some(s));
        }
        assert_eq!(VisitStep::from_segment("cancel"), None);
    }

    #[test]
    fn appointments_fall_on_the_providers_local_day_in_time_order() {
        let days = [d("2026-05-04"), d("2026-05-05")];
        // 22:30 UTC on Monday is Tuesday 00:30 in Berlin; 05:00 UTC Monday is Monday.
        let items = vec![
            utc("2026-05-04T22:30:00Z"),
            utc("2026-05-04T09:00:00Z"),
            utc("2026-05-04T05:00:00Z"),
            utc("2026-05-07T09:00:00Z"),
        ];
        let grouped = by_local_day(&days, items, Tz::Europe__Berlin, |t| *t);
        assert_eq!(
            grouped[0],
            [utc("2026-05-04T05:00:00Z"), utc("2026-05-04T09:00:00Z")]
        );
        assert_eq!(grouped[1], [utc("2026-05-04T22:30:00Z")]);
        // The same instants in New York: all on Monday.
        let grouped = by_local_day(
            &days,
            vec![utc("2026-05-04T22:30:00Z"), utc("2026-05-04T05:00:00Z")],
            Tz::America__New_York,
            |t| *t,
        );
        assert_eq!(grouped[0].len(), 2);
        assert!(grouped[1].is_empty());
    }

    #[test]
    fn a_clinic_day_spans_every_providers_local_day() {
        let (from, to) = day_window(
            d("2026-05-04"),
            &[Tz::Asia__Kolkata, Tz::America__New_York, Tz::Europe__Berlin],
        );
        // Kolkata's Monday starts first (Sun 18:30 UTC), New York's ends last (Tue 04:00 UTC).
        assert_eq!(from, utc("2026-05-03T18:30:00Z"));
        assert_eq!(to, utc("2026-05-05T04:00:00Z"));
        assert_eq!(
            day_window(d("2026-05-04"), &[]),
            (utc("2026-05-04T00:00:00Z"), utc("2026-05-05T00:00:00Z"))
        );
    }

    #[test]
    fn a_dst_day_is_23_hours_long() {
        let (from, to) = day_window(d("2026-03-29"), &[Tz::Europe__Berlin]);
        assert_eq!(to - from, Duration::hours(23));
    }

    #[test]
    fn dates_come_from_the_query_or_today() {
        let today = d("2026-05-04");
        assert_eq!(date_param(Some("2026-05-10"), today), d("2026-05-10"));
        assert_eq!(date_param(Some("yesterday"), today), today);
        assert_eq!(date_param(None, today), today);
        assert_eq!(day_title(today, today), "Today, Mon 4 May 2026");
        assert_eq!(
            day_title(d("2026-05-05"), today),
            "Tomorrow, Tue 5 May 2026"
        );
        assert_eq!(day_title(d("2026-05-08"), today), "Friday 8 May 2026");
    }
}

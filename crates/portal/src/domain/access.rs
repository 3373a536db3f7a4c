//! A provider's access to a patient's record in words: why it is open and when
//! it ends (records' `GET /records/access`: a care window reads and writes, a
//! break-glass grant only reads, for minutes), and the break-glass form's
//! choices. Records decides; this only explains.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::time;
use crate::api::models::{AccessBasis, RecordAccess};

/// Shortest break-glass reason records accepts (characters).
pub const MIN_BREAK_GLASS_REASON: usize = 15;
/// How long a grant lasts unless the provider chooses otherwise (records' default).
pub const DEFAULT_BREAK_GLASS_MINUTES: i64 = 30;
/// The durations the form offers (records accepts 5 to 240 minutes).
pub const BREAK_GLASS_MINUTES: [(i64, &str); 5] = [
    (15, "15 minutes"),
    (30, "30 minutes"),
    (60, "1 hour"),
    (120, "2 hours"),
    (240, "4 hours (the most)"),
];
const MINUTES_RANGE: std::ops::RangeInclusive<i64> = 5..=240;

/// The duration the form posted, in minutes (blank: the default).
pub fn parse_minutes(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(DEFAULT_BREAK_GLASS_MINUTES);
    }
    match text.parse::<i64>() {
        Ok(m) if MINUTES_RANGE.contains(&m) => Ok(m),
        _ => Err("Choose how long you need access: 5 minutes to 4 hours.".to_owned()),
    }
}

/// Whole minutes until `until`, rounded up (a grant with 30 s left has "1 minute" left); 0 once past.
pub fn minutes_left(until: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let seconds = (until - now).num_seconds();
    if seconds <= 0 {
        0
    } else {
        (seconds + 59) / 60
    }
}

/// "1 minute", "25 minutes".
fn minutes(n: i64) -> String {
    if n == 1 {
        "1 minute".to_owned()
    } else {
        format!("{n} minutes")
    }
}

/// The chart's banner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessView {
    pub basis: AccessBasis,
    /// Entries may be added and changed (a care window).
    pub writable: bool,
    /// Why access is open, in a line.
    pub headline: String,
    /// When and how it ends.
    pub ends: String,
    /// Break-glass only: minutes left.
    pub minutes_left: Option<i64>,
}

/// Explain `access` at `now`, times in the provider's zone `tz`.
pub fn explain(access: &RecordAccess, now: DateTime<Utc>, tz: Tz) -> AccessView {
    match (access.basis, access.until) {
        (AccessBasis::Care, None) => AccessView {
            basis: AccessBasis::Care,
            writable: true,
            headline: "Open: this patient has an appointment with you (read and write).".to_owned(),
            ends: "Access stays open while the appointment is booked or checked in, and for a follow-up period once the visit is completed. Cancelling it or a no-show closes it at once.".to_owned(),
            minutes_left: None,
        },
        (AccessBasis::Care, Some(until)) => AccessView {
            basis: AccessBasis::Care,
            writable: true,
            headline: "Open for follow-up after a completed visit (read and write).".to_owned(),
            ends: format!(
                "Access ends {} unless another appointment is booked.",
                time::date_time(until, tz)
            ),
            minutes_left: None,
        },
        (AccessBasis::BreakGlass, until) => {
            let left = until.map_or(0, |u| minutes_left(u, now));
            AccessView {
                basis: AccessBasis::BreakGlass,
                writable: false,
                headline: format!("Read-only emergency access, {} left.", minutes(left)),
                ends: match until {
                    Some(u) => format!(
                        "Until {}. You can read this record but not add to it or change it (that needs a care relationship). Every view is flagged in the audit, the patient sees it in their access log, and an administrator reviews it.",
                        u.with_timezone(&tz).format("%H:%M %Z")
                    ),
                    None => "You can read this record but not add to it or change it.".to_owned(),
                },
                minutes_left: Some(left),
            }
        }
        (AccessBasis::None, _) => AccessView {
            basis: AccessBasis::None,
            writable: false,
            headline: "No access: you have no care relationship with this patient.".to_owned(),
            ends: "Records open to a patient's own providers: from 7 days before a booked appointment while it stays booked or checked in, and for a follow-up period after a completed visit.".to_owned(),
            minutes_left: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn break_glass_shows_the_minutes_left_rounded_up_and_is_read_only() {
        let access = RecordAccess {
            basis: AccessBasis::BreakGlass,
            until: Some(at("2026-05-04T10:30:00Z")),
        };
        let v = explain(&access, at("2026-05-04T10:05:30Z"), Tz::Europe__Berlin);
        assert!(!v.writable);
        assert_eq!(v.minutes_left, Some(25));
        assert_eq!(v.headline, "Read-only emergency access, 25 minutes left.");
        assert!(v.ends.starts_with("Until 12:30 CEST."), "{}", v.ends);
        let v = explain(&access, at("2026-05-04T10:29:30Z"), Tz::UTC);
        assert_eq!(v.headline, "Read-only emergency access, 1 minute left.");
    }

    #[test]
    fn a_care_window_says_why_and_when_it_ends() {
        let active = RecordAccess {
            basis: AccessBasis::Care,
            until: None,
        };
        let v = explain(&active, at("2026-05-04T10:00:00Z"), Tz::UTC);
        assert!(v.writable);
        assert!(v
            .ends
            .contains("while the appointment is booked or checked in"));
        let follow_up = RecordAccess {
            basis: AccessBasis::Care,
            until: Some(at("2026-08-02T10:00:00Z")),
        };
        let v = explain(&follow_up, at("2026-05-04T10:00:00Z"), Tz::Europe__Berlin);
        assert!(v.headline.contains("follow-up"));
        assert_eq!(
            v.ends,
            "Access ends Sun 2 Aug 2026, 12:00 CEST unless another appointment is booked."
        );
    }

    #[test]
    fn no_access_is_neither_readable_nor_writable() {
        let v = explain(
            &RecordAccess {
                basis: AccessBasis::None,
                until: None,
            },
            at("2026-05-04T10:00:00Z"),
            Tz::UTC,
        );
        assert!(!v.writable);
        assert_eq!(v.minutes_left, None);
    }

    #[test]
    fn minutes_left_never_goes_negative() {
        assert_eq!(
            minutes_left(at("2026-05-04T10:00:00Z"), at("2026-05-04T10:00:01Z")),
            0
        );
        assert_eq!(
            minutes_left(at("2026-05-04T10:30:00Z"), at("2026-05-04T10:00:00Z")),
            30
        );
    }

    #[test]
    fn the_duration_is_between_5_minutes_and_4_hours_with_30_by_default() {
        assert_eq!(parse_minutes(""), Ok(30));
        assert_eq!(parse_minutes("240"), Ok(240));
        assert_eq!(parse_minutes("5"), Ok(5));
        for bad in ["4", "241", "an hour", "-30"] {
            assert!(parse_minutes(bad).is_err(), "{bad}");
        }
        for (m, _) in BREAK_GLASS_MINUTES {
            assert_eq!(parse_minutes(&m.to_string()), Ok(m));
        }
    }
}

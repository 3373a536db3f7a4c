//! A recurring series: the starts of its occurrences. Each keeps the first
//! one's wall-clock time in the provider's zone, so a weekly 09:00 visit is at
//! 09:00 local on both sides of a daylight-saving change (a fixed interval in
//! UTC would move it by an hour).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::slots::instant;

/// The most occurrences one series may have.
pub const MAX_OCCURRENCES: u32 = 52;
/// The longest interval between occurrences.
pub const MAX_EVERY_WEEKS: u32 = 52;

/// Where a series ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// After this many occurrences (the first included).
    Count(u32),
    /// With the last occurrence on or before this local date.
    Until(NaiveDate),
}

/// What a series asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recurrence {
    pub first_start: DateTime<Utc>,
    pub every_weeks: u32,
    pub end: End,
}

/// One planned occurrence: its position and start, or `None` when its local
/// time does not exist that day (skipped by a daylight-saving change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    pub index: u32,
    /// The local date the occurrence falls on.
    pub date: NaiveDate,
    pub start: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSeries {
    #[error("every_weeks must be between 1 and {MAX_EVERY_WEEKS}")]
    Interval,
    #[error("count must be between 1 and {MAX_OCCURRENCES}")]
    Count,
    #[error("until must not be before the first start's date")]
    UntilBeforeStart,
    #[error("a series has at most {MAX_OCCURRENCES} occurrences; until is too far ahead")]
    TooMany,
}

impl InvalidSeries {
    /// The request field at fault.
    pub fn field(self) -> &'static str {
        match self {
            InvalidSeries::Interval => "every_weeks",
            InvalidSeries::Count => "count",
            InvalidSeries::UntilBeforeStart | InvalidSeries::TooMany => "until",
        }
    }
}

/// The occurrences of `r` in the zone `tz`, in order.
pub fn plan(r: &Recurrence, tz: Tz) -> Result<Vec<Planned>, InvalidSeries> {
    if !(1..=MAX_EVERY_WEEKS).contains(&r.every_weeks) {
        return Err(InvalidSeries::Interval);
    }
    let local = r.first_start.with_timezone(&tz).naive_local();
    let count = match r.end {
        End::Count(n) if (1..=MAX_OCCURRENCES).contains(&n) => n,
        End::Count(_) => return Err(InvalidSeries::Count),
        End::Until(until) => {
            let days = (until - local.date()).num_days();
            if days < 0 {
                return Err(InvalidSeries::UntilBeforeStart);
            }
            let n = days / (7 * i64::from(r.every_weeks)) + 1;
            if n > i64::from(MAX_OCCURRENCES) {
                return Err(InvalidSeries::TooMany);
            }
            n as u32
        }
    };
    Ok((0..count)
        .map(|index| {
            let at = local + Duration::weeks(i64::from(index) * i64::from(r.every_weeks));
            Planned {
                index,
                date: at.date(),
                start: instant(tz, at),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveTime, TimeZone, Timelike};
    use proptest::prelude::*;

    use super::*;

    fn berlin() -> Tz {
        "Europe/Berlin".parse().unwrap_or(Tz::UTC)
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn a_weekly_series_across_the_autumn_change_keeps_nine_oclock_local() {
        // 09:00 CEST on Tuesday 13 October 2026; clocks go back on 25 October.
        let r = Recurrence {
            first_start: utc(2026, 10, 13, 7, 0),
            every_weeks: 1,
            end: End::Count(6),
        };
        let plan = plan(&r, berlin()).unwrap();
        let starts: Vec<_> = plan.iter().map(|p| p.start.unwrap()).collect();
        assert_eq!(
            starts,
            vec![
                utc(2026, 10, 13, 7, 0),
                utc(2026, 10, 20, 7, 0),
                utc(2026, 10, 27, 8, 0),
                utc(2026, 11, 3, 8, 0),
                utc(2026, 11, 10, 8, 0),
                utc(2026, 11, 17, 8, 0),
            ]
        );
        for start in starts {
            assert_eq!(start.with_timezone(&berlin()).hour(), 9);
        }
    }

    #[test]
    fn until_is_a_local_date_and_includes_its_day() {
        let r = Recurrence {
            first_start: utc(2026, 3, 3, 9, 0),
            every_weeks: 2,
            end: End::Until(NaiveDate::from_ymd_opt(2026, 3, 31).unwrap_or_default()),
        };
        let dates: Vec<_> = plan(&r, Tz::UTC).unwrap().iter().map(|p| p.date).collect();
        assert_eq!(
            dates,
            ["2026-03-03", "2026-03-17", "2026-03-31"]
                .map(|d| d.parse::<NaiveDate>().unwrap_or_default())
        );
    }

    #[test]
    fn a_local_time_the_spring_change_skips_has_no_start() {
        // 02:30 on Sunday 22 March 2026 (CET); 29 March jumps from 02:00 to 03:00.
        let r = Recurrence {
            first_start: utc(2026, 3, 22, 1, 30),
            every_weeks: 1,
            end: End::Count(3),
        };
        let plan = plan(&r, berlin()).unwrap();
        assert!(plan[0].start.is_some());
        assert_eq!(plan[1].start, None, "02:30 does not exist on 29 March");
        assert_eq!(plan[2].start, Some(utc(2026, 4, 5, 0, 30)));
    }

    #[test]
    fn limits_are_refused_with_their_field() {
        let base = Recurrence {
            first_start: utc(2026, 3, 3, 9, 0),
            every_weeks: 1,
            end: End::Count(5),
        };
        let cases = [
            (
                Recurrence {
                    every_weeks: 0,
                    ..base
                },
                "every_weeks",
            ),
            (
                Recurrence {
                    every_weeks: 53,
                    ..base
                },
                "every_weeks",
            ),
            (
                Recurrence {
                    end: End::Count(0),
                    ..base
                },
                "count",
            ),
            (
                Recurrence {
                    end: End::Count(53),
                    ..base
                },
                "count",
            ),
            (
                Recurrence {
                    end: End::Until(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default()),
                    ..base
                },
                "until",
            ),
            (
                Recurrence {
                    end: End::Until(NaiveDate::from_ymd_opt(2027, 3, 3).unwrap_or_default()),
                    ..base
                },
                "until",
            ),
        ];
        for (r, field) in cases {
            assert_eq!(plan(&r, Tz::UTC).map_err(InvalidSeries::field), Err(field));
        }
    }

    proptest! {
        #[test]
        fn every_occurrence_keeps_the_local_time_and_the_interval(
            days in 0i64..730,
            minutes in 0u32..(24 * 60),
            every in 1u32..=4,
            count in 1u32..=MAX_OCCURRENCES,
            zone in prop::sample::select(vec!["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]),
        ) {
            let tz: Tz = zone.parse().unwrap_or(Tz::UTC);
            let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default() + Duration::days(days);
            let time = NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0).unwrap_or_default();
            let Some(first) = instant(tz, day.and_time(time)) else { return Ok(()) };
            let r = Recurrence { first_start: first, every_weeks: every, end: End::Count(count) };
            let plan = plan(&r, tz).unwrap();
            prop_assert_eq!(plan.len() as u32, count);
            let first_local = first.with_timezone(&tz).time();
            for (i, p) in plan.iter().enumerate() {
                prop_assert_eq!(p.date, day + Duration::weeks(i as i64 * i64::from(every)));
                if let Some(start) = p.start {
                    let local = start.with_timezone(&tz);
                    prop_assert_eq!(local.date_naive(), p.date);
                    prop_assert_eq!(local.time(), first_local);
                }
            }
        }
    }
}

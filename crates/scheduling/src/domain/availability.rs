//! When a provider works, in their own time zone: weekly rules, date-specific
//! overrides (a different day, or a day off), and time off in absolute time.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// `Mon 09:00–12:00` in the provider's local time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyRule {
    pub weekday: Weekday,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// On `date`, these windows replace the weekly rules (none: closed that day).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateOverride {
    pub date: NaiveDate,
    pub windows: Vec<(NaiveTime, NaiveTime)>,
}

/// Absent from `start` to `end` (holidays, sick leave), in absolute time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeOff {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A provider's whole availability.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Availability {
    pub weekly: Vec<WeeklyRule>,
    pub overrides: Vec<DateOverride>,
    pub time_off: Vec<TimeOff>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidAvailability {
    #[error("a window must end after it starts ({0} to {1})")]
    EmptyWindow(NaiveTime, NaiveTime),
    #[error("windows on {0} overlap")]
    Overlap(String),
    #[error("time off must end after it starts")]
    EmptyTimeOff,
}

impl Availability {
    /// The local working windows of `date`, sorted.
    pub fn windows_on(&self, date: NaiveDate) -> Vec<(NaiveTime, NaiveTime)> {
        use chrono::Datelike;
        let mut windows = match self.overrides.iter().find(|o| o.date == date) {
            Some(o) => o.windows.clone(),
            None => self
                .weekly
                .iter()
                .filter(|r| r.weekday == date.weekday())
                .map(|r| (r.start, r.end))
                .collect(),
        };
        windows.sort();
        windows
    }

    /// Check that every window is non-empty and windows of one day do not overlap.
    pub fn validate(&self) -> Result<(), InvalidAvailability> {
        let check = |label: String, windows: &mut Vec<(NaiveTime, NaiveTime)>| {
            windows.sort();
            for (s, e) in windows.iter() {
                if e <= s {
                    return Err(InvalidAvailability::EmptyWindow(*s, *e));
                }
            }
            if windows.windows(2).any(|w| w[1].0 < w[0].1) {
                return Err(InvalidAvailability::Overlap(label));
            }
            Ok(())
        };
        for day in [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ] {
            let mut windows: Vec<_> = self
                .weekly
                .iter()
                .filter(|r| r.weekday == day)
                .map(|r| (r.start, r.end))
                .collect();
            check(day.to_string(), &mut windows)?;
        }
        for o in &self.overrides {
            check(o.date.to_string(), &mut o.windows.clone())?;
        }
        if self.time_off.iter().any(|t| t.end <= t.start) {
            return Err(InvalidAvailability::EmptyTimeOff);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn overrides_replace_the_weekly_rules_of_their_date() {
        let a = Availability {
            weekly: vec![WeeklyRule {
                weekday: Weekday::Mon,
                start: t(9, 0),
                end: t(12, 0),
            }],
            overrides: vec![DateOverride {
                date: NaiveDate::from_ymd_opt(2026, 3, 30).unwrap(),
                windows: vec![],
            }],
            time_off: vec![],
        };
        assert_eq!(
            a.windows_on(NaiveDate::from_ymd_opt(2026, 3, 23).unwrap()),
            [(t(9, 0), t(12, 0))]
        );
        assert!(a
            .windows_on(NaiveDate::from_ymd_opt(2026, 3, 30).unwrap())
            .is_empty());
        assert!(a
            .windows_on(NaiveDate::from_ymd_opt(2026, 3, 24).unwrap())
            .is_empty());
    }

    #[test]
    fn empty_and_overlapping_windows_are_invalid() {
        let rule = |s, e| WeeklyRule {
            weekday: Weekday::Tue,
            start: s,
            end: e,
        };
        let bad = Availability {
            weekly: vec![rule(t(12, 0), t(9, 0))],
            ..Default::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(InvalidAvailability::EmptyWindow(..))
        ));
        let overlap = Availability {
            weekly: vec![rule(t(9, 0), t(12, 0)), rule(t(11, 0), t(14, 0))],
            ..Default::default()
        };
        assert!(matches!(
            overlap.validate(),
            Err(InvalidAvailability::Overlap(_))
        ));
        let touching = Availability {
            weekly: vec![rule(t(9, 0), t(12, 0)), rule(t(12, 0), t(14, 0))],
            ..Default::default()
        };
        assert!(touching.validate().is_ok());
    }
}

//! The week view of free slots: seven columns, Monday to Sunday, in the
//! provider's time zone (availability is local to them), each slot labelled
//! with the provider's clock and, when it differs, the viewer's.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::time::{self, Zones};
use crate::api::models::Slot;

/// A week, named by its Monday (in the provider's zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Week {
    pub monday: NaiveDate,
}

impl Week {
    /// The week `date` falls in.
    pub fn containing(date: NaiveDate) -> Self {
        let back = i64::from(date.weekday().num_days_from_monday());
        Self {
            monday: date - Duration::days(back),
        }
    }

    /// The week a `?week=YYYY-MM-DD` parameter names; this week when absent
    /// or unreadable, and never a week before this one (nothing to book there).
    pub fn from_param(param: Option<&str>, today: NaiveDate) -> Self {
        let this = Self::containing(today);
        param
            .and_then(|p| p.trim().parse::<NaiveDate>().ok())
            .map(Self::containing)
            .filter(|w| w.monday >= this.monday)
            .unwrap_or(this)
    }

    pub fn previous(self) -> Self {
        Self {
            monday: self.monday - Duration::days(7),
        }
    }

    pub fn next(self) -> Self {
        Self {
            monday: self.monday + Duration::days(7),
        }
    }

    pub fn days(self) -> impl Iterator<Item = NaiveDate> {
        (0..7).map(move |i| self.monday + Duration::days(i))
    }

    /// `[Monday 00:00, next Monday 00:00)` local to `tz`, in UTC: the slot query's window.
    pub fn bounds(self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            time::start_of_day(self.monday, tz),
            time::start_of_day(self.next().monday, tz),
        )
    }

    /// "4–10 May 2026"
    pub fn title(self) -> String {
        let last = self.monday + Duration::days(6);
        if self.monday.month() == last.month() {
            format!("{}–{}", self.monday.format("%-d"), last.format("%-d %B %Y"))
        } else if self.monday.year() == last.year() {
            format!(
                "{} – {}",
                self.monday.format("%-d %B"),
                last.format("%-d %B %Y")
            )
        } else {
            format!(
                "{} – {}",
                self.monday.format("%-d %B %Y"),
                last.format("%-d %B %Y")
            )
        }
    }
}

/// One day's column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayColumn {
    /// `2026-05-04`
    pub date: String,
    /// "Mon 4 May"
    pub heading: String,
    pub slots: Vec<SlotCell>,
}

/// One free slot, ready to become a booking button.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SlotCell {
    /// RFC 3339 UTC start, posted back when booking.
    pub start: String,
    /// The provider's clock: "09:00".
    pub local: String,
    /// The viewer's clock when their zone differs ("07:00", "Sun 23:30" when the date differs
    /// too). Shown in parentheses, so the button's visible name is its first clock (WCAG 2.5.3).
    pub viewer: Option<String>,
    /// The whole thing for screen readers: "Mon 4 May 2026, 09:00 to 09:30 CEST".
    pub label: String,
}

/// Lay `slots` out over `week`'s days in the provider's zone, in time order.
/// Slots outside the week are left out.
pub fn grid(week: Week, slots: &[Slot], zones: Zones) -> Vec<DayColumn> {
    let mut sorted: Vec<&Slot> = slots.iter().collect();
    sorted.sort_by_key(|s| s.start);
    week.days()
        .map(|day| DayColumn {
            date: day.format("%Y-%m-%d").to_string(),
            heading: day.format("%a %-d %b").to_string(),
            slots: sorted
                .iter()
                .filter(|s| time::today(s.start, zones.provider) == day)
                .map(|s| cell(s, day, zones))
                .collect(),
        })
        .collect()
}

fn cell(slot: &Slot, day: NaiveDate, zones: Zones) -> SlotCell {
    let viewer = zones.differ().then(|| {
        let clock = time::clock(slot.start, zones.viewer);
        let viewer_day = time::today(slot.start, zones.viewer);
        if viewer_day == day {
            clock
        } else {
            format!("{} {clock}", viewer_day.format("%a"))
        }
    });
    // The accessible name holds every time the button shows (WCAG 2.5.3).
    let span = time::spoken_span(slot.start, slot.end, zones.provider);
    let label = match &viewer {
        Some(v) => format!("{span} ({v} your time)"),
        None => span,
    };
    SlotCell {
        start: slot
            .start
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        local: time::clock(slot.start, zones.provider),
        viewer,
        label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn slot(start: &str, minutes: i64) -> Slot {
        let start: DateTime<Utc> = start.parse().unwrap();
        Slot {
            start,
            end: start + Duration::minutes(minutes),
        }
    }

    #[test]
    fn weeks_start_on_monday_and_never_lie_in_the_past() {
        let today = d("2026-05-06"); // a Wednesday
        assert_eq!(Week::containing(today).monday, d("2026-05-04"));
        assert_eq!(Week::from_param(None, today).monday, d("2026-05-04"));
        assert_eq!(
            Week::from_param(Some("2026-05-14"), today).monday,
            d("2026-05-11")
        );
        assert_eq!(
            Week::from_param(Some("2026-04-01"), today).monday,
            d("2026-05-04")
        );
        assert_eq!(
            Week::from_param(Some("garbage"), today).monday,
            d("2026-05-04")
        );
        let w = Week::containing(today);
        assert_eq!(w.next().previous(), w);
        assert_eq!(w.title(), "4–10 May 2026");
        assert_eq!(
            Week::containing(d("2026-06-30")).title(),
            "29 June – 5 July 2026"
        );
        assert_eq!(
            Week::containing(d("2026-12-31")).title(),
            "28 December 2026 – 3 January 2027"
        );
    }

    #[test]
    fn the_query_window_is_the_providers_local_week() {
        let w = Week::containing(d("2026-05-04"));
        let (from, to) = w.bounds(Tz::America__New_York);
        assert_eq!(
            from,
            "2026-05-04T04:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(to, "2026-05-11T04:00:00Z".parse::<DateTime<Utc>>().unwrap());
    }

    #[test]
    fn slots_fall_on_the_providers_local_day_in_time_order() {
        let w = Week::containing(d("2026-05-04"));
        let zones = Zones::new(Tz::Europe__Berlin, None);
        // 23:30 UTC on Monday is already Tuesday 01:30 in Berlin.
        let slots = [
            slot("2026-05-04T23:30:00Z", 30),
            slot("2026-05-04T08:00:00Z", 30),
            slot("2026-05-04T07:00:00Z", 30),
        ];
        let g = grid(w, &slots, zones);
        assert_eq!(g.len(), 7);
        assert_eq!(g[0].heading, "Mon 4 May");
        let monday: Vec<&str> = g[0].slots.iter().map(|s| s.local.as_str()).collect();
        assert_eq!(monday, ["09:00", "10:00"]);
        assert_eq!(g[1].slots[0].local, "01:30");
        assert_eq!(g[1].slots[0].viewer.as_deref(), Some("Mon 23:30"));
        assert_eq!(g[0].slots[0].viewer.as_deref(), Some("07:00"));
        assert_eq!(g[0].slots[0].start, "2026-05-04T07:00:00Z");
        assert_eq!(
            g[0].slots[0].label,
            "Mon 4 May 2026, 09:00 to 09:30 CEST (07:00 your time)"
        );
    }

    #[test]
    fn no_second_clock_when_the_viewer_shares_the_providers_zone() {
        let w = Week::containing(d("2026-05-04"));
        let zones = Zones::new(Tz::Europe__Berlin, Some(Tz::Europe__Berlin));
        let g = grid(w, &[slot("2026-05-04T07:00:00Z", 30)], zones);
        assert_eq!(g[0].slots[0].viewer, None);
    }

    #[test]
    fn across_the_spring_change_local_slots_keep_their_local_times() {
        // Berlin moves to summer time on Sunday 29 March 2026.
        let w = Week::containing(d("2026-03-23"));
        let zones = Zones::new(Tz::Europe__Berlin, None);
        let slots = [
            slot("2026-03-27T08:00:00Z", 30),
            slot("2026-03-30T07:00:00Z", 30),
        ];
        let g = grid(w, &slots, zones);
        assert_eq!(g[4].slots[0].local, "09:00"); // Friday, CET
        assert!(g.iter().all(|c| c.slots.iter().all(|s| s.local == "09:00")));
        let g2 = grid(w.next(), &slots, zones);
        assert_eq!(g2[0].slots[0].local, "09:00"); // Monday, CEST
    }

    proptest! {
        #[test]
        fn every_slot_inside_the_week_appears_exactly_once(
            offsets in proptest::collection::vec(0i64..(7 * 24 * 60), 0..40),
            zone in prop::sample::select(vec![Tz::Europe__Berlin, Tz::America__New_York, Tz::Asia__Kolkata, Tz::Pacific__Chatham, Tz::UTC]),
        ) {
            let w = Week::containing(d("2026-10-19"));
            let (from, to) = w.bounds(zone);
            let slots: Vec<Slot> = offsets.iter().map(|m| {
                let start = from + Duration::minutes(*m);
                Slot { start, end: start + Duration::minutes(30) }
            }).filter(|s| s.start < to).collect();
            let g = grid(w, &slots, Zones::new(zone, None));
            let shown: usize = g.iter().map(|c| c.slots.len()).sum();
            prop_assert_eq!(shown, slots.len());
            for col in &g {
                prop_assert!(col.slots.windows(2).all(|p| p[0].start <= p[1].start));
            }
        }
    }
}

//! Showing instants to people: in the provider's time zone (where the visit
//! happens) and, when it differs, in the viewer's. The viewer's zone comes
//! from their browser (a cookie our script writes); without it, UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// The zone named `name`, if it is a real IANA zone.
pub fn parse_zone(name: &str) -> Option<Tz> {
    name.trim().parse().ok()
}

/// The zones a page shows times in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zones {
    /// The provider's zone: availability and visits are in it.
    pub provider: Tz,
    /// The viewer's zone from their browser; UTC when unknown.
    pub viewer: Tz,
}

impl Zones {
    pub fn new(provider: Tz, viewer: Option<Tz>) -> Self {
        Self {
            provider,
            viewer: viewer.unwrap_or(Tz::UTC),
        }
    }

    /// Whether the viewer needs a second clock.
    pub fn differ(&self) -> bool {
        self.provider != self.viewer
    }
}

/// "Mon 4 May 2026"
pub fn date(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%a %-d %b %Y").to_string()
}

/// "12 Apr 1988": a date of birth (no weekday, no zone).
pub fn birth_date(date: NaiveDate) -> String {
    date.format("%-d %b %Y").to_string()
}

/// "09:00"
pub fn clock(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%H:%M").to_string()
}

/// "Mon 4 May 2026, 09:00 CEST"
pub fn date_time(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%a %-d %b %Y, %H:%M %Z")
        .to_string()
}

/// "Mon 4 May 2026, 09:00–09:30 CEST" (the end's date is implied: visits are short).
pub fn span(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    span_joined(start, end, tz, "–")
}

/// The same for an accessible name: "… 09:00 to 09:30 CEST", so each clock is a
/// word of its own and the button's visible "09:00" is found in it (WCAG 2.5.3).
pub fn spoken_span(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    span_joined(start, end, tz, " to ")
}

fn span_joined(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz, between: &str) -> String {
    let s = start.with_timezone(&tz);
    let e = end.with_timezone(&tz);
    format!(
        "{}, {}{between}{} {}",
        s.format("%a %-d %b %Y"),
        s.format("%H:%M"),
        e.format("%H:%M"),
        e.format("%Z")
    )
}

/// A visit's time as shown: the provider's local time, plus the viewer's
/// when their zone differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct When {
    /// "Mon 4 May 2026, 09:00–09:30 CEST"
    pub local: String,
    /// The provider's zone name ("Europe/Berlin").
    pub local_zone: String,
    /// The same span in the viewer's zone, when it differs.
    pub viewer: Option<String>,
    /// The viewer's zone name ("UTC", "America/Chicago").
    pub viewer_zone: String,
}

pub fn when(start: DateTime<Utc>, end: DateTime<Utc>, zones: Zones) -> When {
    When {
        local: span(start, end, zones.provider),
        local_zone: zones.provider.name().to_owned(),
        viewer: zones.differ().then(|| span(start, end, zones.viewer)),
        viewer_zone: zones.viewer.name().to_owned(),
    }
}

/// The instant a local date begins in `tz`. Where midnight does not exist (a
/// DST change at midnight) the day begins at the first local time that does.
pub fn start_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or(NaiveDateTime::MIN);
    (0..=180)
        .step_by(15)
        .find_map(|m| {
            tz.from_local_datetime(&(midnight + chrono::Duration::minutes(m)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        // No zone skips three hours; fall back to reading midnight as UTC.
        .unwrap_or_else(|| midnight.and_utc())
}

/// Today's date in `tz`.
pub fn today(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_date_of_birth_is_day_month_year() {
        let d = NaiveDate::from_ymd_opt(1988, 4, 2).unwrap();
        assert_eq!(birth_date(d), "2 Apr 1988");
    }

    #[test]
    fn zones_parse_only_when_real() {
        assert_eq!(parse_zone("Europe/Berlin"), Some(Tz::Europe__Berlin));
        assert_eq!(parse_zone(" UTC "), Some(Tz::UTC));
        assert_eq!(parse_zone("Mars/Olympus"), None);
        assert_eq!(parse_zone("<script>"), None);
    }

    #[test]
    fn a_visit_shows_local_time_and_the_viewers_when_it_differs() {
        let zones = Zones::new(Tz::Europe__Berlin, None);
        let w = when(
            utc("2026-05-04T07:00:00Z"),
            utc("2026-05-04T07:30:00Z"),
            zones,
        );
        assert_eq!(w.local, "Mon 4 May 2026, 09:00–09:30 CEST");
        assert_eq!(w.local_zone, "Europe/Berlin");
        assert_eq!(w.viewer.as_deref(), Some("Mon 4 May 2026, 07:00–07:30 UTC"));
        assert_eq!(w.viewer_zone, "UTC");

        let same = Zones::new(Tz::Europe__Berlin, Some(Tz::Europe__Berlin));
        assert_eq!(
            when(
                utc("2026-05-04T07:00:00Z"),
                utc("2026-05-04T07:30:00Z"),
                same
            )
            .viewer,
            None
        );
    }

    #[test]
    fn the_viewers_date_can_differ_from_the_providers() {
        let zones = Zones::new(Tz::Asia__Kolkata, Some(Tz::America__New_York));
        let w = when(
            utc("2026-05-04T03:30:00Z"),
            utc("2026-05-04T04:00:00Z"),
            zones,
        );
        assert_eq!(w.local, "Mon 4 May 2026, 09:00–09:30 IST");
        assert_eq!(w.viewer.as_deref(), Some("Sun 3 May 2026, 23:30–00:00 EDT"));
    }

    #[test]
    fn winter_and_summer_time_show_their_own_offsets() {
        assert_eq!(
            date_time(utc("2026-01-15T08:00:00Z"), Tz::Europe__Berlin),
            "Thu 15 Jan 2026, 09:00 CET"
        );
        assert_eq!(
            date_time(utc("2026-07-15T07:00:00Z"), Tz::Europe__Berlin),
            "Wed 15 Jul 2026, 09:00 CEST"
        );
        assert_eq!(
            clock(utc("2026-07-15T07:05:00Z"), Tz::Europe__Berlin),
            "09:05"
        );
        assert_eq!(
            date(utc("2026-07-15T23:05:00Z"), Tz::Europe__Berlin),
            "Thu 16 Jul 2026"
        );
    }

    #[test]
    fn days_start_at_local_midnight_even_across_dst() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            start_of_day(d("2026-03-29"), Tz::Europe__Berlin),
            utc("2026-03-28T23:00:00Z")
        );
        assert_eq!(
            start_of_day(d("2026-03-30"), Tz::Europe__Berlin),
            utc("2026-03-29T22:00:00Z")
        );
        // Santiago skips 00:00–01:00 when summer time starts (2026-09-06).
        assert_eq!(
            start_of_day(d("2026-09-06"), Tz::America__Santiago),
            utc("2026-09-06T04:00:00Z")
        );
    }
}

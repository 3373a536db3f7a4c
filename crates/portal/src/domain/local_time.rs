//! Local times people type into forms (`datetime-local` inputs), read in the
//! provider's time zone: where the visit, the time off or the measurement
//! happened.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant a `datetime-local` value (`2026-05-04T09:30`) names in `tz`.
/// A time the clocks skip (spring forward) means the first one after it; a
/// time that happens twice (fall back) means the first of the two.
pub fn parse(value: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let v = value.trim();
    let naive = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    (0..=180).step_by(15).find_map(|m| {
        tz.from_local_datetime(&(naive + chrono::Duration::minutes(m)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// An instant as a `datetime-local` value in `tz`.
pub fn format(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_read_in_the_providers_zone() {
        let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            parse("2026-05-04T09:30", Tz::Europe__Berlin),
            Some(utc("2026-05-04T07:30:00Z"))
        );
        assert_eq!(
            parse("2026-01-15T09:30", Tz::Europe__Berlin),
            Some(utc("2026-01-15T08:30:00Z"))
        );
        // 02:30 does not exist in Berlin on 29 March 2026: 03:00 CEST is meant.
        assert_eq!(
            parse("2026-03-29T02:30", Tz::Europe__Berlin),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        // 02:30 happens twice on 25 October 2026: the first (CEST) is meant.
        assert_eq!(
            parse("2026-10-25T02:30", Tz::Europe__Berlin),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        assert_eq!(parse("tomorrow", Tz::UTC), None);
        assert_eq!(
            format(utc("2026-05-04T07:30:00Z"), Tz::Europe__Berlin),
            "2026-05-04T09:30"
        );
    }
}

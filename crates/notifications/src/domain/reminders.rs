//! When reminders are due: a fixed list of offsets before the start (24 h and
//! 2 h by default). A reminder whose time has already passed when the
//! appointment is booked or moved is skipped: the confirmation just said it all.

use chrono::{DateTime, Duration, Utc};

/// One reminder of one appointment, as planned from its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    pub minutes_before: u32,
    pub due_at: DateTime<Utc>,
    /// False when `due_at` was already past at planning time.
    pub pending: bool,
}

/// The reminders for an appointment starting at `start`, planned at `now`.
pub fn plan(start: DateTime<Utc>, offsets: &[Duration], now: DateTime<Utc>) -> Vec<Planned> {
    offsets
        .iter()
        .filter_map(|offset| {
            let minutes_before = u32::try_from(offset.num_minutes())
                .ok()
                .filter(|m| *m > 0)?;
            let due_at = start - Duration::minutes(minutes_before.into());
            Some(Planned {
                minutes_before,
                due_at,
                pending: due_at > now,
            })
        })
        .collect()
}

/// Whether a due reminder still makes sense at `now`: not once the appointment began.
pub fn still_useful(start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now < start
}

/// The offsets an appointment's reminders follow: its type's, as scheduling
/// sent them (distinct, longest first; empty: none), or the clinic's default
/// when the event names none.
pub fn offsets_for(per_type: Option<&[u32]>, default: &[Duration]) -> Vec<Duration> {
    let Some(minutes) = per_type else {
        return default.to_vec();
    };
    let mut offsets: Vec<Duration> = minutes
        .iter()
        .filter(|m| **m > 0)
        .map(|m| Duration::minutes(i64::from(*m)))
        .collect();
    offsets.sort_by(|a, b| b.cmp(a));
    offsets.dedup();
    offsets
}

/// Parse `24h,2h,30m` (hours `h`, minutes `m`, days `d`) into distinct offsets,
/// longest first.
pub fn parse_offsets(raw: &str) -> Result<Vec<Duration>, String> {
    let mut offsets = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let unit_at = part
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("{part:?} has no unit (use m, h or d)"))?;
        let (number, unit) = part.split_at(unit_at);
        let n: i64 = number
            .parse()
            .map_err(|_| format!("{part:?} does not start with a number"))?;
        let offset = match unit {
            "m" => Duration::minutes(n),
            "h" => Duration::hours(n),
            "d" => Duration::days(n),
            _ => return Err(format!("{part:?}: unit must be m, h or d")),
        };
        if offset <= Duration::zero() || offset > Duration::days(60) {
            return Err(format!("{part:?}: must be between 1 minute and 60 days"));
        }
        if !offsets.contains(&offset) {
            offsets.push(offset);
        }
    }
    offsets.sort_by(|a, b| b.cmp(a));
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn reminders_are_due_24_and_2_hours_before_the_start() {
        let start = at("2026-03-10T09:00:00Z");
        let planned = plan(
            start,
            &[Duration::hours(24), Duration::hours(2)],
            at("2026-03-01T00:00:00Z"),
        );
        assert_eq!(
            planned,
            vec![
                Planned {
                    minutes_before: 1440,
                    due_at: at("2026-03-09T09:00:00Z"),
                    pending: true
                },
                Planned {
                    minutes_before: 120,
                    due_at: at("2026-03-10T07:00:00Z"),
                    pending: true
                },
            ]
        );
    }

    #[test]
    fn a_reminder_already_past_is_skipped() {
        let start = at("2026-03-10T09:00:00Z");
        let planned = plan(
            start,
            &[Duration::hours(24), Duration::hours(2)],
            at("2026-03-09T12:00:00Z"),
        );
        assert!(!planned[0].pending);
        assert!(planned[1].pending);
        assert!(still_useful(start, at("2026-03-10T08:59:59Z")));
        assert!(!still_useful(start, start));
    }

    #[test]
    fn a_types_offsets_replace_the_clinics_and_none_keeps_them() {
        let default = [Duration::hours(24), Duration::hours(2)];
        assert_eq!(offsets_for(None, &default), default.to_vec());
        assert_eq!(
            offsets_for(Some(&[30, 2880, 30, 0]), &default),
            vec![Duration::hours(48), Duration::minutes(30)]
        );
        assert_eq!(offsets_for(Some(&[]), &default), Vec::<Duration>::new());
    }

    #[test]
    fn offsets_parse_with_units_and_reject_nonsense() {
        assert_eq!(
            parse_offsets("2h, 24h,30m,24h").unwrap(),
            vec![
                Duration::hours(24),
                Duration::hours(2),
                Duration::minutes(30)
            ]
        );
        assert_eq!(parse_offsets("1d").unwrap(), vec![Duration::days(1)]);
        assert_eq!(parse_offsets("").unwrap(), Vec::<Duration>::new());
        for bad in ["24", "h", "0h", "24x", "-2h", "100d", "2.5h"] {
            assert!(parse_offsets(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        /// Every planned reminder is exactly its offset before the start, and
        /// pending exactly when it lies in the future.
        #[test]
        fn planned_times_are_exact(start_min in 0i64..10_000_000, now_min in 0i64..10_000_000,
                                   offsets in proptest::collection::vec(1i64..86_400, 0..5)) {
            let epoch = at("2026-01-01T00:00:00Z");
            let start = epoch + Duration::minutes(start_min);
            let now = epoch + Duration::minutes(now_min);
            let offsets: Vec<Duration> = offsets.into_iter().map(Duration::minutes).collect();
            let planned = plan(start, &offsets, now);
            prop_assert_eq!(planned.len(), offsets.len());
            for (p, o) in planned.iter().zip(&offsets) {
                prop_assert_eq!(start - p.due_at, *o);
                prop_assert_eq!(p.pending, p.due_at > now);
            }
        }
    }
}

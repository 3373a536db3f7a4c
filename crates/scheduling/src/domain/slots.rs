//! Free slots: a pure function of availability, existing bookings, the
//! appointment type and the time window, in the provider's IANA time zone.
//!
//! Local-time rules stay local across DST changes: a `09:00–12:00` rule gives a
//! 09:00 local slot on both sides of a change (its UTC time moves). Two local
//! times need a deliberate choice:
//! - **skipped** times (spring forward, e.g. 02:30 in Berlin on the last Sunday of
//!   March) do not exist, so no slot starts there; a window boundary inside the
//!   gap moves to the moment the clocks jump;
//! - **repeated** times (fall back) are taken at their first occurrence, so a
//!   window on that night is not offered twice.
//!
//! Buffers are part of the grid: a slot's footprint (buffer before, visit,
//! buffer after) starts on a step of the type's grid and lies inside a window
//! and clear of time off, and steps are at least a footprint long, so offered
//! slots of one type never exclude one another.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::{availability::Availability, types::TypeRules};

/// An interval another appointment blocks, its buffers included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A bookable interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Everything slot computation depends on.
#[derive(Clone, Copy, Debug)]
pub struct SlotQuery<'a> {
    pub tz: Tz,
    pub availability: &'a Availability,
    pub rules: TypeRules,
    pub busy: &'a [Busy],
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// Why a requested start cannot be booked (each a distinct problem type).
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum Unbookable {
    #[error("the start is in the past")]
    InPast,
    #[error("the start is inside the minimum notice")]
    InsideMinimumNotice,
    #[error("the start is beyond the booking horizon")]
    BeyondHorizon,
    #[error("the start is not on the slot grid")]
    NotOnGrid,
    #[error("the provider is not available then")]
    OutsideAvailability,
    /// The provider's day (or the type's quota of it) is fully booked.
    #[error("the day is fully booked")]
    DailyCapReached,
}

fn overlaps(
    a_start: DateTime<Utc>,
    a_end: DateTime<Utc>,
    b_start: DateTime<Utc>,
    b_end: DateTime<Utc>,
) -> bool {
    a_start < b_end && b_start < a_end
}

/// The instant of a local time: the first occurrence when repeated, `None` when skipped.
pub(crate) fn instant(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// The instant a local time is reached: for a skipped time, the moment the
/// clocks jump past it.
fn reached(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    (0..=24 * 60)
        .map(|m| local + Duration::minutes(m))
        .find_map(|t| instant(tz, t))
}

/// A booking window in absolute time.
struct Window {
    start_local: NaiveDateTime,
    end_local: NaiveDateTime,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

fn windows(tz: Tz, availability: &Availability, first: NaiveDate, last: NaiveDate) -> Vec<Window> {
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .flat_map(|date| {
            availability
                .windows_on(date)
                .into_iter()
                .filter_map(move |(s, e)| {
                    let (start_local, end_local) = (date.and_time(s), date.and_time(e));
                    Some(Window {
                        start_local,
                        end_local,
                        start: reached(tz, start_local)?,
                        end: reached(tz, end_local)?,
                    })
                })
        })
        .collect()
}

/// Local dates whose windows can intersect `[from, to)` (a day either side, for
/// zones far from UTC).
fn date_span(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let first = from
        .with_timezone(&tz)
        .date_naive()
        .pred_opt()
        .unwrap_or(NaiveDate::MIN);
    let last = to
        .with_timezone(&tz)
        .date_naive()
        .succ_opt()
        .unwrap_or(NaiveDate::MAX);
    (first, last)
}

/// Grid slots inside the provider's windows, whatever is booked.
///
/// Each window is cut into steps of [`TypeRules::step`] from its local start;
/// a slot's *footprint* (its buffer before, the visit, its buffer after)
/// starts on a step and must lie inside the window, so the first visit of a
/// window starts `buffer_before` after it opens and the last one's buffer ends
/// by its close. A step is never shorter than the footprint, so offered slots
/// never exclude one another. Where a DST jump inside a window would bring two
/// footprints together in absolute time, the later one is left out.
fn grid_slots(q: &SlotQuery<'_>) -> Vec<Slot> {
    let (first, last) = date_span(q.tz, q.from, q.to);
    let step = q.rules.step();
    if step <= Duration::zero() || q.rules.duration <= Duration::zero() {
        return Vec::new();
    }
    let mut slots = Vec::new();
    for w in windows(q.tz, q.availability, first, last) {
        let mut footprint_local = w.start_local;
        let mut previous_end: Option<DateTime<Utc>> = None;
        while footprint_local + q.rules.footprint() <= w.end_local {
            if let Some(start) = instant(q.tz, footprint_local + q.rules.buffer_before) {
                let slot = Slot {
                    start,
                    end: start + q.rules.duration,
                };
                let b = blocked(&q.rules, &slot);
                let fits = b.start >= w.start && b.end <= w.end;
                let clear = previous_end.is_none_or(|end| b.start >= end);
                if fits && clear {
                    previous_end = Some(b.end);
                    if start >= q.from && start < q.to {
                        slots.push(slot);
                    }
                }
            }
            footprint_local += step;
        }
    }
    slots.sort();
    slots.dedup();
    slots
}

/// Whether a slot can still be booked at `now`: not past, not inside the
/// minimum notice (in hours, and in calendar days of the provider's zone `tz`),
/// not beyond the horizon.
pub fn bookable_at(
    rules: &TypeRules,
    tz: Tz,
    now: DateTime<Utc>,
    slot: &Slot,
) -> Result<(), Unbookable> {
    if slot.start < now {
        return Err(Unbookable::InPast);
    }
    if slot.start < now + rules.min_notice || !enough_days_ahead(rules, tz, now, slot.start) {
        return Err(Unbookable::InsideMinimumNotice);
    }
    if slot.start >= now + rules.horizon {
        return Err(Unbookable::BeyondHorizon);
    }
    Ok(())
}

/// Whether `start` falls on a local day at least `min_notice_days` after
/// today's (3 days: Monday's bookings open on Friday, whatever the hour).
fn enough_days_ahead(rules: &TypeRules, tz: Tz, now: DateTime<Utc>, start: DateTime<Utc>) -> bool {
    rules.min_notice_days == 0
        || local_date(tz, start)
            >= local_date(tz, now) + chrono::Days::new(rules.min_notice_days.into())
}

/// The provider's calendar day of an instant.
pub fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Whether the slot with its buffers stays clear of every time off: the
/// provider is away for the preparation and the follow-up too.
fn clear_of_time_off(availability: &Availability, rules: &TypeRules, slot: &Slot) -> bool {
    let b = blocked(rules, slot);
    !availability
        .time_off
        .iter()
        .any(|t| overlaps(b.start, b.end, t.start, t.end))
}

/// The interval a slot blocks: itself plus the type's buffers.
pub fn blocked(rules: &TypeRules, slot: &Slot) -> Busy {
    Busy {
        start: slot.start - rules.buffer_before,
        end: slot.end + rules.buffer_after,
    }
}

/// What the calendar offers in `[from, to)`, whatever is booked and whenever
/// asked: the part worth caching (it changes only with availability).
pub fn offered_slots(q: &SlotQuery<'_>) -> Vec<Slot> {
    grid_slots(q)
        .into_iter()
        .filter(|s| clear_of_time_off(q.availability, &q.rules, s))
        .collect()
}

/// The offered slots still free: bookable at `now` and clear of `busy` with buffers.
pub fn still_free(
    rules: &TypeRules,
    tz: Tz,
    now: DateTime<Utc>,
    busy: &[Busy],
    offered: &[Slot],
) -> Vec<Slot> {
    offered
        .iter()
        .filter(|s| bookable_at(rules, tz, now, s).is_ok())
        .filter(|s| {
            let b = blocked(rules, s);
            !busy
                .iter()
                .any(|x| overlaps(b.start, b.end, x.start, x.end))
        })
        .copied()
        .collect()
}

/// Free slots in `[from, to)`, sorted.
pub fn free_slots(q: &SlotQuery<'_>) -> Vec<Slot> {
    still_free(&q.rules, q.tz, q.now, q.busy, &offered_slots(q))
}

/// What the calendar offers on one UTC day: the unit the slot cache keeps.
/// Concatenated in day order, these are exactly [`offered_slots`] of the
/// whole range (the property tests hold both paths to that).
pub fn offered_on_utc_day(
    tz: Tz,
    availability: &Availability,
    rules: TypeRules,
    day: NaiveDate,
) -> Vec<Slot> {
    let from = day.and_time(chrono::NaiveTime::MIN).and_utc();
    offered_slots(&SlotQuery {
        tz,
        availability,
        rules,
        busy: &[],
        from,
        to: from + Duration::days(1),
        now: from,
    })
}

/// Whether the provider is there for all of `[start, end)`: inside one
/// working window (touching windows count as one) and clear of time off.
///
/// This is what an existing appointment needs to stay where it is when the
/// availability changes. Its buffers are not asked for: they are the
/// provider's own margin, and an appointment whose visit the provider still
/// attends is not stranded (new bookings do need the buffers inside the
/// hours, see [`offered_slots`]).
pub fn attended(
    tz: Tz,
    availability: &Availability,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> bool {
    if availability
        .time_off
        .iter()
        .any(|t| overlaps(start, end, t.start, t.end))
    {
        return false;
    }
    let (first, last) = date_span(tz, start, end);
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = windows(tz, availability, first, last)
        .into_iter()
        .map(|w| (w.start, w.end))
        .collect();
    spans.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged.iter().any(|(s, e)| *s <= start && end <= *e)
}

/// Whether `start` may be booked (bookings aside: the database decides races).
pub fn check_start(q: &SlotQuery<'_>, start: DateTime<Utc>) -> Result<Slot, Unbookable> {
    let slot = Slot {
        start,
        end: start + q.rules.duration,
    };
    bookable_at(&q.rules, q.tz, q.now, &slot)?;
    if !clear_of_time_off(q.availability, &q.rules, &slot) {
        return Err(Unbookable::OutsideAvailability);
    }
    let day = SlotQuery {
        from: start - Duration::days(1),
        to: start + Duration::days(1),
        ..*q
    };
    if grid_slots(&day).contains(&slot) {
        return Ok(slot);
    }
    let (first, last) = date_span(q.tz, day.from, day.to);
    let b = blocked(&q.rules, &slot);
    let inside_a_window = windows(q.tz, q.availability, first, last)
        .iter()
        .any(|w| b.start >= w.start && b.end <= w.end);
    Err(if inside_a_window {
        Unbookable::NotOnGrid
    } else {
        Unbookable::OutsideAvailability
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::availability::{TimeOff, WeeklyRule};
    use chrono::{NaiveTime, Timelike, Weekday};
    use proptest::prelude::*;

    const ALL_DAYS: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn every_day(start: NaiveTime, end: NaiveTime) -> Availability {
        Availability {
            weekly: ALL_DAYS
                .iter()
                .map(|d| WeeklyRule {
                    weekday: *d,
                    start,
                    end,
                })
                .collect(),
            ..Default::default()
        }
    }

    fn rules(minutes: i64) -> TypeRules {
        TypeRules {
            duration: Duration::minutes(minutes),
            buffer_before: Duration::zero(),
            buffer_after: Duration::zero(),
            min_notice: Duration::zero(),
            horizon: Duration::days(3650),
            slot_step: None,
            min_notice_days: 0,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn query<'a>(
        tz: Tz,
        a: &'a Availability,
        r: TypeRules,
        busy: &'a [Busy],
        from: &str,
        to: &str,
    ) -> SlotQuery<'a> {
        SlotQuery {
            tz,
            availability: a,
            rules: r,
            busy,
            from: utc(from),
            to: utc(to),
            now: utc("2026-01-01T00:00:00Z"),
        }
    }

    #[test]
    fn a_nine_oclock_rule_stays_nine_oclock_across_berlins_spring_change() {
        let a = every_day(t(9, 0), t(10, 0));
        let q = query(
            chrono_tz::Europe::Berlin,
            &a,
            rules(60),
            &[],
            "2026-03-28T00:00:00Z",
            "2026-03-30T00:00:00Z",
        );
        let starts: Vec<_> = free_slots(&q).iter().map(|s| s.start).collect();
        // Saturday in CET (UTC+1), Sunday after the change in CEST (UTC+2).
        assert_eq!(
            starts,
            [utc("2026-03-28T08:00:00Z"), utc("2026-03-29T07:00:00Z")]
        );
    }

    #[test]
    fn new_yorks_autumn_change_moves_utc_not_local_time() {
        let a = every_day(t(9, 0), t(9, 30));
        let q = query(
            chrono_tz::America::New_York,
            &a,
            rules(30),
            &[],
            "2026-10-31T00:00:00Z",
            "2026-11-03T00:00:00Z",
        );
        let starts: Vec<_> = free_slots(&q).iter().map(|s| s.start).collect();
        assert_eq!(
            starts,
            [
                utc("2026-10-31T13:00:00Z"),
                utc("2026-11-01T14:00:00Z"),
                utc("2026-11-02T14:00:00Z")
            ]
        );
    }

    #[test]
    fn skipped_local_times_offer_no_slot() {
        // Berlin, 29 March 2026: 02:00–03:00 local does not exist.
        let a = every_day(t(1, 0), t(4, 0));
        let q = query(
            chrono_tz::Europe::Berlin,
            &a,
            rules(30),
            &[],
            "2026-03-29T00:00:00Z",
            "2026-03-29T04:00:00Z",
        );
        let local: Vec<String> = free_slots(&q)
            .iter()
            .map(|s| {
                s.start
                    .with_timezone(&chrono_tz::Europe::Berlin)
                    .format("%H:%M")
                    .to_string()
            })
            .collect();
        assert_eq!(local, ["01:00", "01:30", "03:00", "03:30"]);
        let gap = utc("2026-03-29T01:15:00Z");
        assert_eq!(check_start(&q, gap), Err(Unbookable::NotOnGrid));
    }

    #[test]
    fn repeated_local_times_are_offered_once() {
        // New York, 1 November 2026: 01:00–02:00 local happens twice.
        let a = every_day(t(0, 0), t(3, 0));
        let q = query(
            chrono_tz::America::New_York,
            &a,
            rules(60),
            &[],
            "2026-11-01T04:00:00Z",
            "2026-11-01T09:00:00Z",
        );
        let slots = free_slots(&q);
        let starts: Vec<_> = slots.iter().map(|s| s.start).collect();
        assert_eq!(
            starts,
            [
                utc("2026-11-01T04:00:00Z"),
                utc("2026-11-01T05:00:00Z"),
                utc("2026-11-01T07:00:00Z")
            ]
        );
        assert!(slots.windows(2).all(|w| w[0].end <= w[1].start));
    }

    #[test]
    fn kolkata_has_no_dst_and_a_half_hour_offset() {
        let a = every_day(t(9, 0), t(10, 0));
        let q = query(
            chrono_tz::Asia::Kolkata,
            &a,
            rules(60),
            &[],
            "2026-03-28T00:00:00Z",
            "2026-03-31T00:00:00Z",
        );
        let starts: Vec<_> = free_slots(&q).iter().map(|s| s.start).collect();
        assert_eq!(
            starts,
            [
                utc("2026-03-28T03:30:00Z"),
                utc("2026-03-29T03:30:00Z"),
                utc("2026-03-30T03:30:00Z")
            ]
        );
    }

    fn local_starts(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| s.start.format("%H:%M").to_string())
            .collect()
    }

    #[test]
    fn a_bookings_buffer_hides_no_other_offered_slot() {
        let a = every_day(t(9, 0), t(12, 0));
        let mut r = rules(30);
        r.buffer_after = Duration::minutes(15);
        let q = query(
            chrono_tz::UTC,
            &a,
            r,
            &[],
            "2026-02-02T00:00:00Z",
            "2026-02-03T00:00:00Z",
        );
        let offered = free_slots(&q);
        // 30 minutes and 15 of buffer: a step of 45 minutes.
        assert_eq!(local_starts(&offered), ["09:00", "09:45", "10:30", "11:15"]);
        let busy = [blocked(&r, &offered[0])];
        let after = free_slots(&SlotQuery { busy: &busy, ..q });
        assert_eq!(local_starts(&after), ["09:45", "10:30", "11:15"]);
    }

    #[test]
    fn buffers_stay_inside_the_window_and_clear_of_time_off() {
        let mut a = every_day(t(9, 0), t(12, 0));
        a.time_off.push(TimeOff {
            start: utc("2026-02-02T10:50:00Z"),
            end: utc("2026-02-02T12:00:00Z"),
        });
        let mut r = rules(30);
        r.buffer_before = Duration::minutes(10);
        r.buffer_after = Duration::minutes(20);
        let q = query(
            chrono_tz::UTC,
            &a,
            r,
            &[],
            "2026-02-02T00:00:00Z",
            "2026-02-04T00:00:00Z",
        );
        let starts: Vec<String> = free_slots(&q)
            .iter()
            .map(|s| s.start.format("%d %H:%M").to_string())
            .collect();
        // The first visit starts after its buffer from 09:00; on the 2nd the
        // 10:10–10:40 visit is clear of the time off from 10:50, its buffer is not.
        assert_eq!(starts, ["02 09:10", "03 09:10", "03 10:10", "03 11:10"]);
        assert_eq!(
            check_start(&q, utc("2026-02-02T10:10:00Z")),
            Err(Unbookable::OutsideAvailability)
        );
        assert_eq!(
            check_start(&q, utc("2026-02-03T09:00:00Z")),
            Err(Unbookable::OutsideAvailability)
        );
    }

    #[test]
    fn a_configured_step_spaces_the_slots() {
        let a = every_day(t(9, 0), t(12, 0));
        let mut r = rules(45);
        r.slot_step = Some(Duration::minutes(60));
        let q = query(
            chrono_tz::UTC,
            &a,
            r,
            &[],
            "2026-02-02T00:00:00Z",
            "2026-02-03T00:00:00Z",
        );
        assert_eq!(local_starts(&free_slots(&q)), ["09:00", "10:00", "11:00"]);
        assert_eq!(
            check_start(&q, utc("2026-02-02T09:45:00Z")),
            Err(Unbookable::NotOnGrid)
        );
    }

    #[test]
    fn an_appointment_is_attended_inside_touching_windows_and_not_in_time_off() {
        let mut a = every_day(t(9, 0), t(12, 0));
        a.weekly.extend(ALL_DAYS.iter().map(|d| WeeklyRule {
            weekday: *d,
            start: t(12, 0),
            end: t(14, 0),
        }));
        a.time_off.push(TimeOff {
            start: utc("2026-02-03T10:00:00Z"),
            end: utc("2026-02-03T11:00:00Z"),
        });
        let tz = chrono_tz::UTC;
        let at = |s: &str, e: &str| attended(tz, &a, utc(s), utc(e));
        assert!(at("2026-02-02T11:45:00Z", "2026-02-02T12:15:00Z"));
        assert!(at("2026-02-02T09:00:00Z", "2026-02-02T09:30:00Z"));
        assert!(!at("2026-02-02T08:45:00Z", "2026-02-02T09:15:00Z"));
        assert!(!at("2026-02-02T13:45:00Z", "2026-02-02T14:15:00Z"));
        assert!(!at("2026-02-03T10:30:00Z", "2026-02-03T11:00:00Z"));
        assert!(at("2026-02-03T11:00:00Z", "2026-02-03T11:30:00Z"));
    }

    #[test]
    fn notice_horizon_time_off_and_grid_are_distinct_rejections() {
        let mut a = every_day(t(9, 0), t(17, 0));
        a.time_off.push(TimeOff {
            start: utc("2026-02-10T00:00:00Z"),
            end: utc("2026-02-11T00:00:00Z"),
        });
        let mut r = rules(30);
        r.min_notice = Duration::hours(2);
        r.horizon = Duration::days(30);
        let mut q = query(
            chrono_tz::UTC,
            &a,
            r,
            &[],
            "2026-02-01T00:00:00Z",
            "2026-02-28T00:00:00Z",
        );
        q.now = utc("2026-02-02T09:00:00Z");
        assert_eq!(
            check_start(&q, utc("2026-02-02T08:00:00Z")),
            Err(Unbookable::InPast)
        );
        assert_eq!(
            check_start(&q, utc("2026-02-02T10:00:00Z")),
            Err(Unbookable::InsideMinimumNotice)
        );
        assert_eq!(
            check_start(&q, utc("2026-03-10T10:00:00Z")),
            Err(Unbookable::BeyondHorizon)
        );
        assert_eq!(
            check_start(&q, utc("2026-02-03T10:10:00Z")),
            Err(Unbookable::NotOnGrid)
        );
        assert_eq!(
            check_start(&q, utc("2026-02-03T18:00:00Z")),
            Err(Unbookable::OutsideAvailability)
        );
        assert_eq!(
            check_start(&q, utc("2026-02-10T10:00:00Z")),
            Err(Unbookable::OutsideAvailability)
        );
        assert!(check_start(&q, utc("2026-02-03T10:30:00Z")).is_ok());
    }

    fn zone() -> impl Strategy<Value = Tz> {
        prop_oneof![
            Just(chrono_tz::Europe::Berlin),
            Just(chrono_tz::America::New_York),
            Just(chrono_tz::Asia::Kolkata),
            Just(chrono_tz::Australia::Lord_Howe),
            Just(chrono_tz::UTC),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Every free slot starts on the local grid inside a rule window, lies in
        /// the query window, avoids every busy interval, and is bookable.
        #[test]
        fn free_slots_are_sound(
            tz in zone(),
            day in 0i64..365,
            start_h in 0u32..20,
            len_h in 1u32..4,
            minutes in prop_oneof![Just(15i64), Just(20), Just(30), Just(45), Just(60)],
            buffer in 0i64..30,
            busy_offsets in proptest::collection::vec((0i64..72 * 60, 10i64..120), 0..6),
        ) {
            let a = every_day(t(start_h, 0), t(start_h + len_h, 0));
            let mut r = rules(minutes);
            r.buffer_before = Duration::minutes(buffer);
            r.buffer_after = Duration::minutes(buffer);
            let from = utc("2026-01-01T00:00:00Z") + Duration::days(day);
            let to = from + Duration::days(3);
            let busy: Vec<Busy> = busy_offsets
                .iter()
                .map(|(off, len)| Busy { start: from + Duration::minutes(*off), end: from + Duration::minutes(off + len) })
                .collect();
            let q = SlotQuery { tz, availability: &a, rules: r, busy: &busy, from, to, now: from };
            let slots = free_slots(&q);
            for s in &slots {
                prop_assert!(s.start >= from && s.start < to);
                prop_assert_eq!(s.end - s.start, r.duration);
                let local = s.start.with_timezone(&tz);
                let since_open = (local.hour() as i64 - start_h as i64) * 60 + local.minute() as i64;
                prop_assert!(since_open >= 0, "starts before the window: {}", local);
                let b = blocked(&r, s);
                prop_assert!(!busy.iter().any(|x| overlaps(b.start, b.end, x.start, x.end)));
                prop_assert_eq!(check_start(&q, s.start), Ok(*s));
            }
            prop_assert!(slots.windows(2).all(|w| w[0].end <= w[1].start));
        }

        /// The grid with buffers: every offered slot is bookable, no bookable
        /// start on the grid is missing, and offered slots never overlap with
        /// their buffers, whatever the buffers, the step and the time off.
        #[test]
        fn the_buffered_grid_offers_every_bookable_start_and_only_those(
            tz in zone(),
            day in 0i64..365,
            start_h in 0u32..20,
            len_h in 1u32..4,
            minutes in prop_oneof![Just(15i64), Just(20), Just(30), Just(45), Just(60)],
            before in prop_oneof![Just(0i64), Just(5), Just(10), Just(15)],
            after in prop_oneof![Just(0i64), Just(5), Just(10), Just(15)],
            extra_step in prop_oneof![Just(None), Just(Some(0i64)), Just(Some(5)), Just(Some(25))],
            off in proptest::option::of((0i64..48 * 60, 15i64..240)),
            busy_offsets in proptest::collection::vec((0i64..48 * 60, 10i64..120), 0..4),
        ) {
            let mut a = every_day(t(start_h, 0), t(start_h + len_h, 0));
            let from = utc("2026-01-01T00:00:00Z") + Duration::days(day);
            let to = from + Duration::days(2);
            if let Some((at, len)) = off {
                a.time_off.push(TimeOff { start: from + Duration::minutes(at), end: from + Duration::minutes(at + len) });
            }
            let mut r = rules(minutes);
            r.buffer_before = Duration::minutes(before);
            r.buffer_after = Duration::minutes(after);
            r.slot_step = extra_step.map(|x| r.footprint() + Duration::minutes(x));
            let busy: Vec<Busy> = busy_offsets
                .iter()
                .map(|(o, len)| Busy { start: from + Duration::minutes(*o), end: from + Duration::minutes(o + len) })
                .collect();
            let q = SlotQuery { tz, availability: &a, rules: r, busy: &busy, from, to, now: from };
            let offered = offered_slots(&q);
            let free = free_slots(&q);
            for s in &free {
                prop_assert_eq!(check_start(&q, s.start), Ok(*s));
                let b = blocked(&r, s);
                prop_assert!(!busy.iter().any(|x| overlaps(b.start, b.end, x.start, x.end)));
            }
            let mut minute = from;
            while minute < to {
                let clear = |s: &Slot| {
                    let b = blocked(&r, s);
                    !busy.iter().any(|x| overlaps(b.start, b.end, x.start, x.end))
                };
                if let Ok(s) = check_start(&q, minute) {
                    prop_assert!(offered.contains(&s), "bookable {} not offered", minute);
                    prop_assert_eq!(free.contains(&s), clear(&s), "{}", minute);
                }
                minute += Duration::minutes(5);
            }
            for w in offered.windows(2) {
                prop_assert!(blocked(&r, &w[0]).end <= blocked(&r, &w[1]).start, "{:?} overlaps {:?}", w[0], w[1]);
            }
        }

        /// The cache's path (offered slots per UTC day, bookings subtracted
        /// after) and the uncached one (the whole range at once) agree.
        #[test]
        fn cached_days_and_the_whole_range_agree(
            tz in zone(),
            day in 0i64..365,
            start_h in 0u32..22,
            len_h in 1u32..3,
            minutes in prop_oneof![Just(15i64), Just(30), Just(45)],
            after in prop_oneof![Just(0i64), Just(10), Just(15)],
            from_offset in 0i64..24 * 60,
            span in 60i64..4 * 24 * 60,
            off in proptest::option::of((0i64..72 * 60, 15i64..600)),
            busy_offsets in proptest::collection::vec((0i64..96 * 60, 10i64..120), 0..4),
        ) {
            let mut a = every_day(t(start_h, 0), t(start_h + len_h, 0));
            let midnight = utc("2026-01-01T00:00:00Z") + Duration::days(day);
            let from = midnight + Duration::minutes(from_offset);
            let to = from + Duration::minutes(span);
            if let Some((at, len)) = off {
                a.time_off.push(TimeOff { start: midnight + Duration::minutes(at), end: midnight + Duration::minutes(at + len) });
            }
            let mut r = rules(minutes);
            r.buffer_after = Duration::minutes(after);
            let busy: Vec<Busy> = busy_offsets
                .iter()
                .map(|(o, len)| Busy { start: midnight + Duration::minutes(*o), end: midnight + Duration::minutes(o + len) })
                .collect();
            let q = SlotQuery { tz, availability: &a, rules: r, busy: &busy, from, to, now: from };
            let uncached = free_slots(&q);
            let last = (to - Duration::nanoseconds(1)).date_naive();
            let by_day: Vec<Slot> = from
                .date_naive()
                .iter_days()
                .take_while(|d| *d <= last)
                .flat_map(|d| offered_on_utc_day(tz, &a, r, d))
                .collect();
            let cached: Vec<Slot> = still_free(&r, tz, from, &busy, &by_day)
                .into_iter()
                .filter(|s| s.start >= from && s.start < to)
                .collect();
            prop_assert_eq!(cached, uncached);
        }

        /// Booking a free slot removes it and every slot whose buffers touch it, nothing else.
        #[test]
        fn booking_a_slot_removes_exactly_the_overlapping_ones(tz in zone(), day in 0i64..365, pick in 0usize..50) {
            let a = every_day(t(8, 0), t(18, 0));
            let mut r = rules(30);
            r.buffer_after = Duration::minutes(10);
            let from = utc("2026-01-01T00:00:00Z") + Duration::days(day);
            let q = SlotQuery { tz, availability: &a, rules: r, busy: &[], from, to: from + Duration::days(2), now: from };
            let before = free_slots(&q);
            prop_assume!(!before.is_empty());
            let taken = before[pick % before.len()];
            let busy = [blocked(&r, &taken)];
            let after = free_slots(&SlotQuery { busy: &busy, ..q });
            prop_assert!(!after.contains(&taken));
            for s in &before {
                let b = blocked(&r, s);
                let clashes = overlaps(b.start, b.end, busy[0].start, busy[0].end);
                prop_assert_eq!(after.contains(s), !clashes);
            }
        }
    }
}

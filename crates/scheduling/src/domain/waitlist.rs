//! The waitlist: who gets a freed slot, as pure functions.
//!
//! An entry asks for an appointment type with one provider (or, by
//! `specialty`, with any provider of that specialty offering a type of the
//! same name), between `earliest` and `latest`, optionally only on some
//! weekdays and inside a time-of-day window in the provider's local time.
//! When a slot opens, the entries it suits are ranked: higher `priority`
//! first (staff set it), then first come, first served. The first-ranked
//! entry gets a hold on the slot for a while; if its patient does not claim
//! it, the next one does. An entry that was offered a slot and let it lapse
//! is not offered the same slot again.

use std::cmp::Reverse;

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use uuid::Uuid;

use super::{
    slots::{blocked, Busy, Slot},
    types::TypeRules,
};

/// Where an entry wants its appointment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Provider(Uuid),
    /// Any provider of this specialty (compared without regard to case).
    Specialty(String),
}

/// A waiting entry, as ranking needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    /// The type's name: with a specialty, a provider's type of this name suits.
    pub type_name: String,
    pub target: Target,
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    /// Empty: any day.
    pub weekdays: Vec<Weekday>,
    /// Local start and end the slot must lie within.
    pub time_of_day: Option<(NaiveTime, NaiveTime)>,
    pub priority: i32,
    pub created_at: DateTime<Utc>,
}

/// A free slot of one type with one provider: what an entry may be offered.
#[derive(Clone, Copy, Debug)]
pub struct Opening<'a> {
    pub provider_id: Uuid,
    pub specialty: &'a str,
    pub appointment_type_id: Uuid,
    pub type_name: &'a str,
    pub tz: Tz,
    pub slot: Slot,
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// Whether `opening` is what `entry` waits for.
pub fn suits(entry: &Entry, opening: &Opening<'_>) -> bool {
    let right_place = match &entry.target {
        Target::Provider(p) => {
            *p == opening.provider_id && entry.appointment_type_id == opening.appointment_type_id
        }
        Target::Specialty(s) => {
            !s.trim().is_empty()
                && same_name(s, opening.specialty)
                && (entry.appointment_type_id == opening.appointment_type_id
                    || same_name(&entry.type_name, opening.type_name))
        }
    };
    if !right_place || opening.slot.start < entry.earliest || opening.slot.end > entry.latest {
        return false;
    }
    let start = opening.slot.start.with_timezone(&opening.tz);
    if !entry.weekdays.is_empty() && !entry.weekdays.contains(&start.weekday()) {
        return false;
    }
    match entry.time_of_day {
        None => true,
        Some((from, to)) => {
            let end = opening.slot.end.with_timezone(&opening.tz);
            end.date_naive() == start.date_naive() && start.time() >= from && end.time() <= to
        }
    }
}

/// The order offers go in: higher priority first, then who joined first
/// (ties broken by id, so the order is total).
fn rank_key(e: &Entry) -> (Reverse<i32>, DateTime<Utc>, Uuid) {
    (Reverse(e.priority), e.created_at, e.id)
}

/// The entries `opening` suits, best first, leaving out those `skip` names
/// (offered this slot before, or already holding an offer).
pub fn rank<'e>(
    entries: &'e [Entry],
    opening: &Opening<'_>,
    skip: impl Fn(&Entry) -> bool,
) -> Vec<&'e Entry> {
    let mut suited: Vec<&Entry> = entries
        .iter()
        .filter(|e| !skip(e) && suits(e, opening))
        .collect();
    suited.sort_by_key(|e| rank_key(e));
    suited
}

/// How far from freed time a slot of a type with `rules` may start and still
/// have been kept out by it: its duration and both buffers.
pub fn reach(rules: &TypeRules) -> Duration {
    rules.duration + rules.buffer_before + rules.buffer_after
}

/// Whether `slot` (of a type with `rules`) is one that `freed` time opened:
/// its time with buffers touches it. A slot next to a cancelled appointment
/// counts too when the appointment's buffers were what kept it out.
pub fn opened_by(rules: &TypeRules, slot: &Slot, freed: Busy) -> bool {
    let b = blocked(rules, slot);
    b.start < freed.end && freed.start < b.end
}

/// Where to look for the slots `freed` time opened, for types reaching at
/// most `reach` and entries wanting slots within `[earliest, latest]`
/// (`None`: nowhere). Only as far as someone waits: new hours open a year.
pub fn search_window(
    freed: Busy,
    reach: Duration,
    earliest: DateTime<Utc>,
    latest: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let from = (freed.start - reach).max(earliest);
    let to = (freed.end + reach).min(latest);
    (from < to).then_some((from, to))
}

/// An entry's state.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    /// Waiting for a slot to open.
    Waiting,
    /// A slot is held for it now (`offer`).
    Offered,
    /// Its patient booked an offered slot.
    Fulfilled,
    /// Withdrawn by its patient or staff.
    Left,
}

impl EntryStatus {
    pub const ALL: [EntryStatus; 4] = [
        EntryStatus::Waiting,
        EntryStatus::Offered,
        EntryStatus::Fulfilled,
        EntryStatus::Left,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Waiting => "waiting",
            EntryStatus::Offered => "offered",
            EntryStatus::Fulfilled => "fulfilled",
            EntryStatus::Left => "left",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Waiting or offered: the entry still wants a slot.
    pub fn is_active(self) -> bool {
        matches!(self, EntryStatus::Waiting | EntryStatus::Offered)
    }
}

/// A request to join, before it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub target: Target,
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    pub weekdays: Vec<Weekday>,
    pub time_of_day: Option<(NaiveTime, NaiveTime)>,
    pub priority: i32,
}

/// The longest range one entry may wait over.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Staff priorities run from -100 to 100 (0 by default).
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i32> = -100..=100;
/// A patient may wait in this many entries at once.
pub const MAX_ACTIVE_ENTRIES_PER_PATIENT: i64 = 10;

/// Why a request to join is refused: the field and what it must be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidRequest {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> InvalidRequest {
    InvalidRequest {
        field,
        message: message.into(),
    }
}

/// Check a request at `now`; duplicate weekdays are dropped.
pub fn validate(mut r: Request, now: DateTime<Utc>) -> Result<Request, InvalidRequest> {
    if let Target::Specialty(s) = &r.target {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > 100 {
            return Err(invalid("specialty", "1 to 100 characters"));
        }
        r.target = Target::Specialty(s.to_owned());
    }
    if r.latest <= r.earliest {
        return Err(invalid("latest", "must be after earliest"));
    }
    if r.latest <= now {
        return Err(invalid("latest", "must be in the future"));
    }
    if r.latest - r.earliest > Duration::days(MAX_RANGE_DAYS) {
        return Err(invalid(
            "latest",
            format!("an entry may span at most {MAX_RANGE_DAYS} days"),
        ));
    }
    if let Some((from, to)) = r.time_of_day {
        if to <= from {
            return Err(invalid("time_of_day", "end must be after start"));
        }
    }
    if !PRIORITY_RANGE.contains(&r.priority) {
        return Err(invalid("priority", "between -100 and 100"));
    }
    r.weekdays.sort_by_key(|d| d.num_days_from_monday());
    r.weekdays.dedup();
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    const PROVIDER: Uuid = Uuid::from_u128(0xb1);
    const TYPE: Uuid = Uuid::from_u128(0xd1);

    fn entry(n: u128, priority: i32, joined: &str) -> Entry {
        Entry {
            id: Uuid::from_u128(n),
            patient_id: Uuid::from_u128(1000 + n),
            appointment_type_id: TYPE,
            type_name: "Consultation".into(),
            target: Target::Provider(PROVIDER),
            earliest: at("2026-03-01T00:00:00Z"),
            latest: at("2026-04-01T00:00:00Z"),
            weekdays: Vec::new(),
            time_of_day: None,
            priority,
            created_at: at(joined),
        }
    }

    /// Tuesday 3 March 2026, 10:00–10:30 in Berlin (09:00 UTC).
    fn opening() -> Opening<'static> {
        Opening {
            provider_id: PROVIDER,
            specialty: "General practice",
            appointment_type_id: TYPE,
            type_name: "Consultation",
            tz: chrono_tz::Europe::Berlin,
            slot: Slot {
                start: at("2026-03-03T09:00:00Z"),
                end: at("2026-03-03T09:30:00Z"),
            },
        }
    }

    #[test]
    fn first_come_first_served_unless_staff_raised_a_priority() {
        let entries = vec![
            entry(3, 0, "2026-02-03T00:00:00Z"),
            entry(1, 0, "2026-02-01T00:00:00Z"),
            entry(2, 0, "2026-02-02T00:00:00Z"),
        ];
        let order: Vec<u128> = rank(&entries, &opening(), |_| false)
            .iter()
            .map(|e| e.id.as_u128())
            .collect();
        assert_eq!(order, [1, 2, 3]);
        let mut raised = entries.clone();
        raised[0].priority = 5;
        raised[2].priority = -1;
        let order: Vec<u128> = rank(&raised, &opening(), |_| false)
            .iter()
            .map(|e| e.id.as_u128())
            .collect();
        assert_eq!(order, [3, 1, 2]);
        let order: Vec<u128> = rank(&raised, &opening(), |e| e.id.as_u128() == 3)
            .iter()
            .map(|e| e.id.as_u128())
            .collect();
        assert_eq!(order, [1, 2], "an entry passed over is not offered again");
    }

    #[test]
    fn the_range_weekdays_and_local_time_of_day_must_all_suit() {
        let base = entry(1, 0, "2026-02-01T00:00:00Z");
        assert!(suits(&base, &opening()));
        let too_late = Entry {
            earliest: at("2026-03-03T09:01:00Z"),
            ..base.clone()
        };
        assert!(!suits(&too_late, &opening()));
        let ends_inside = Entry {
            latest: at("2026-03-03T09:29:00Z"),
            ..base.clone()
        };
        assert!(!suits(&ends_inside, &opening()));
        let tuesdays = Entry {
            weekdays: vec![Weekday::Tue],
            ..base.clone()
        };
        assert!(suits(&tuesdays, &opening()));
        let mondays = Entry {
            weekdays: vec![Weekday::Mon, Weekday::Wed],
            ..base.clone()
        };
        assert!(!suits(&mondays, &opening()));
        // 10:00–10:30 Berlin time, not UTC.
        let mornings = Entry {
            time_of_day: Some((t(10, 0), t(10, 30))),
            ..base.clone()
        };
        assert!(suits(&mornings, &opening()));
        let utc_mornings = Entry {
            time_of_day: Some((t(9, 0), t(10, 0))),
            ..base.clone()
        };
        assert!(!suits(&utc_mornings, &opening()));
    }

    #[test]
    fn a_specialty_entry_takes_any_provider_of_it_with_a_type_of_the_same_name() {
        let anyone = Entry {
            target: Target::Specialty("general PRACTICE".into()),
            appointment_type_id: Uuid::from_u128(0xd2),
            ..entry(1, 0, "2026-02-01T00:00:00Z")
        };
        assert!(suits(&anyone, &opening()));
        let other_type = Opening {
            type_name: "Follow-up",
            appointment_type_id: Uuid::from_u128(0xd3),
            ..opening()
        };
        assert!(!suits(&anyone, &other_type));
        let other_specialty = Opening {
            specialty: "Dermatology",
            ..opening()
        };
        assert!(!suits(&anyone, &other_specialty));
        let other_provider = Opening {
            provider_id: Uuid::from_u128(0xb2),
            ..opening()
        };
        assert!(!suits(
            &entry(2, 0, "2026-02-01T00:00:00Z"),
            &other_provider
        ));
    }

    fn rules() -> TypeRules {
        TypeRules {
            duration: Duration::minutes(30),
            buffer_before: Duration::minutes(5),
            buffer_after: Duration::minutes(10),
            min_notice: Duration::zero(),
            horizon: Duration::days(60),
            slot_step: None,
            min_notice_days: 0,
        }
    }

    #[test]
    fn a_cancellation_opens_its_slot_and_those_its_buffers_kept_out() {
        // 10:00–10:30 with 5 minutes before and 10 after: 09:55–10:40 freed.
        let freed = Busy {
            start: at("2026-03-03T09:55:00Z"),
            end: at("2026-03-03T10:40:00Z"),
        };
        let slot = |s: &str| Slot {
            start: at(s),
            end: at(s) + Duration::minutes(30),
        };
        let r = rules();
        assert!(opened_by(&r, &slot("2026-03-03T10:00:00Z"), freed));
        // 09:30–10:00 needs until 10:10 with its buffer; 10:30 from 10:25.
        assert!(opened_by(&r, &slot("2026-03-03T09:30:00Z"), freed));
        assert!(opened_by(&r, &slot("2026-03-03T10:30:00Z"), freed));
        assert!(!opened_by(&r, &slot("2026-03-03T09:00:00Z"), freed));
        assert!(!opened_by(&r, &slot("2026-03-03T11:00:00Z"), freed));

        // An entry waiting for exactly 09:30–10:00 is still looked for.
        let window = search_window(
            freed,
            reach(&r),
            at("2026-03-03T09:30:00Z"),
            at("2026-03-03T10:00:00Z"),
        );
        assert_eq!(
            window,
            Some((at("2026-03-03T09:30:00Z"), at("2026-03-03T10:00:00Z")))
        );
        // One waiting for the afternoon is not.
        assert_eq!(
            search_window(
                freed,
                reach(&r),
                at("2026-03-03T13:00:00Z"),
                at("2026-03-03T17:00:00Z")
            ),
            None
        );
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let now = at("2026-03-01T00:00:00Z");
        let ok = Request {
            target: Target::Specialty("  Cardiology ".into()),
            earliest: at("2026-03-02T00:00:00Z"),
            latest: at("2026-03-20T00:00:00Z"),
            weekdays: vec![Weekday::Fri, Weekday::Mon, Weekday::Fri],
            time_of_day: Some((t(8, 0), t(12, 0))),
            priority: 0,
        };
        let checked = validate(ok.clone(), now).unwrap();
        assert_eq!(checked.weekdays, [Weekday::Mon, Weekday::Fri]);
        assert_eq!(checked.target, Target::Specialty("Cardiology".into()));
        let field = |r: Request| validate(r, now).unwrap_err().field;
        assert_eq!(
            field(Request {
                latest: ok.earliest,
                ..ok.clone()
            }),
            "latest"
        );
        assert_eq!(
            field(Request {
                earliest: at("2026-01-01T00:00:00Z"),
                latest: at("2026-02-01T00:00:00Z"),
                ..ok.clone()
            }),
            "latest"
        );
        assert_eq!(
            field(Request {
                latest: ok.earliest + Duration::days(400),
                ..ok.clone()
            }),
            "latest"
        );
        assert_eq!(
            field(Request {
                time_of_day: Some((t(12, 0), t(8, 0))),
                ..ok.clone()
            }),
            "time_of_day"
        );
        assert_eq!(
            field(Request {
                priority: 101,
                ..ok.clone()
            }),
            "priority"
        );
        assert_eq!(
            field(Request {
                target: Target::Specialty(" ".into()),
                ..ok
            }),
            "specialty"
        );
    }

    fn entries() -> impl Strategy<Value = Vec<Entry>> {
        proptest::collection::vec(
            (
                -2i32..3,
                0i64..5,
                0i64..40,
                0i64..40,
                proptest::collection::vec(0u8..7, 0..3),
                proptest::option::of((6u32..12, 12u32..20)),
            ),
            0..12,
        )
        .prop_map(|rows| {
            rows.into_iter()
                .enumerate()
                .map(
                    |(i, (priority, joined, from_d, len_d, days, window))| Entry {
                        id: Uuid::from_u128(i as u128 + 1),
                        priority,
                        created_at: at("2026-02-01T00:00:00Z") + Duration::days(joined),
                        earliest: at("2026-02-20T00:00:00Z") + Duration::days(from_d),
                        latest: at("2026-02-20T00:00:00Z") + Duration::days(from_d + len_d + 1),
                        weekdays: days
                            .iter()
                            .map(|d| Weekday::try_from(*d).unwrap())
                            .collect(),
                        time_of_day: window.map(|(a, b)| (t(a, 0), t(b, 0))),
                        ..entry(0, 0, "2026-02-01T00:00:00Z")
                    },
                )
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Every slot freed time opened starts inside the search window of
        /// an entry range containing it, and a slot clear of the freed time
        /// by more than its buffers was not opened by it.
        #[test]
        fn the_search_window_holds_every_slot_an_opening_frees(
            freed_start in 0i64..2_000,
            freed_len in 1i64..600,
            slot_start in -1_000i64..3_000,
            before in 0i64..30,
            after in 0i64..30,
            duration in 5i64..120,
        ) {
            let base = at("2026-03-03T00:00:00Z");
            let minutes = |m: i64| base + Duration::minutes(m);
            let r = TypeRules {
                duration: Duration::minutes(duration),
                buffer_before: Duration::minutes(before),
                buffer_after: Duration::minutes(after),
                ..rules()
            };
            let freed = Busy { start: minutes(freed_start), end: minutes(freed_start + freed_len) };
            let slot = Slot { start: minutes(slot_start), end: minutes(slot_start + duration) };
            if opened_by(&r, &slot, freed) {
                // An entry wanting exactly this slot finds it.
                let window = search_window(freed, reach(&r), slot.start, slot.end);
                prop_assert!(matches!(window, Some((from, to)) if from <= slot.start && slot.start < to));
            } else {
                let b = blocked(&r, &slot);
                prop_assert!(b.end <= freed.start || b.start >= freed.end);
            }
        }

        /// The first-ranked entry suits the slot, nothing skipped is ranked,
        /// and no suited entry outranks it, in whatever order entries come.
        #[test]
        fn the_first_ranked_entry_suits_and_none_outranks_it(
            entries in entries(),
            day in 0i64..60,
            hour in 6u32..19,
            skipped in proptest::collection::vec(1u128..13, 0..4),
            rotate in 0usize..12,
        ) {
            let start = at("2026-02-20T00:00:00Z") + Duration::days(day) + Duration::hours(hour.into());
            let o = Opening { slot: Slot { start, end: start + Duration::minutes(30) }, ..opening() };
            let skip = |e: &Entry| skipped.contains(&e.id.as_u128());
            let ranked = rank(&entries, &o, skip);
            for e in &ranked {
                prop_assert!(suits(e, &o));
                prop_assert!(!skip(e));
            }
            prop_assert!(ranked.windows(2).all(|w| rank_key(w[0]) < rank_key(w[1])));
            let suited_unskipped = entries.iter().filter(|e| suits(e, &o) && !skip(e)).count();
            prop_assert_eq!(ranked.len(), suited_unskipped);
            let mut shuffled = entries.clone();
            if !shuffled.is_empty() {
                let n = rotate % shuffled.len();
                shuffled.rotate_left(n);
            }
            let again: Vec<Uuid> = rank(&shuffled, &o, skip).iter().map(|e| e.id).collect();
            let first: Vec<Uuid> = ranked.iter().map(|e| e.id).collect();
            prop_assert_eq!(again, first);
        }
    }
}

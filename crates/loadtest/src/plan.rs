//! What each virtual user asks for and when: pure arithmetic over the run's
//! settings, so the properties the benchmark relies on (no two users ever
//! want the same slot; every slot is inside the provider's hours; sends are
//! spread evenly) are unit-tested rather than hoped for.

use std::time::Duration;

use chrono::{DateTime, Duration as Span, NaiveTime, Utc};

/// Every benchmark provider works these hours, every day, in UTC.
pub const OPENS: NaiveTime = match NaiveTime::from_hms_opt(8, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};
pub const CLOSES: NaiveTime = match NaiveTime::from_hms_opt(18, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};
/// Length of the benchmark's appointment type (no buffers).
pub const SLOT_MINUTES: i64 = 20;
/// How far ahead a provider can be booked (the appointment type's horizon).
pub const HORIZON_DAYS: i64 = 730;

pub const SPECIALTIES: [&str; 10] = [
    "cardiology",
    "dermatology",
    "pediatrics",
    "neurology",
    "oncology",
    "orthopedics",
    "psychiatry",
    "radiology",
    "urology",
    "endocrinology",
];

pub const SURNAMES: [&str; 20] = [
    "Abbott", "Becker", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jansen", "Kowalski", "Laurent", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi",
    "Singh", "Tanaka",
];

pub const GIVEN_NAMES: [&str; 10] = [
    "Ada", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas",
];

/// The `i`-th benchmark provider's name and specialty (distinct names up to 200).
pub fn provider_profile(i: usize) -> (String, &'static str, &'static str) {
    let surname = SURNAMES[i % SURNAMES.len()];
    let given = GIVEN_NAMES[(i / SURNAMES.len()) % GIVEN_NAMES.len()];
    let specialty = SPECIALTIES[i % SPECIALTIES.len()];
    (format!("{given} {surname}"), surname, specialty)
}

/// Which slot each user books next: the slot space (providers × days ×
/// slots of the day) is dealt out so that user `u` only ever books at its
/// home provider `u % providers`, in turns with the other users of that
/// provider. Two users therefore never race for a slot; a 409 in the
/// results means something else went wrong (or a retried booking).
#[derive(Clone, Copy, Debug)]
pub struct SlotPlan {
    pub providers: usize,
    pub users: usize,
    /// Midnight UTC of the first bookable day.
    pub first_day: DateTime<Utc>,
}

impl SlotPlan {
    /// Bookings start on the day after tomorrow, so no reminder (24 h, 2 h
    /// before) falls due during a run and no slot is inside a minimum notice.
    pub fn starting_after(now: DateTime<Utc>, providers: usize, users: usize) -> Self {
        let first_day = (now.date_naive() + Span::days(2))
            .and_time(NaiveTime::MIN)
            .and_utc();
        Self {
            providers: providers.max(1),
            users: users.max(1),
            first_day,
        }
    }

    pub fn slots_per_day() -> i64 {
        (CLOSES - OPENS).num_minutes() / SLOT_MINUTES
    }

    pub fn home_provider(&self, user: usize) -> usize {
        user % self.providers
    }

    fn users_per_provider(&self) -> u64 {
        self.users.div_ceil(self.providers) as u64
    }

    /// Start of user `user`'s `booking`-th slot (0-based), at its home provider.
    pub fn slot(&self, user: usize, booking: u64) -> DateTime<Utc> {
        let turn = booking * self.users_per_provider() + (user / self.providers) as u64;
        let per_day = Self::slots_per_day() as u64;
        let day = (turn / per_day) as i64;
        let index = (turn % per_day) as i64;
        self.first_day
            + Span::days(day)
            + (OPENS - NaiveTime::MIN)
            + Span::minutes(SLOT_MINUTES * index)
    }

    /// Bookings each user can make before the plan runs past the horizon.
    pub fn bookings_per_user(&self) -> u64 {
        let days = (HORIZON_DAYS - 3) as u64;
        days * Self::slots_per_day() as u64 / self.users_per_provider()
    }

    /// The window a user searches before a booking: the week from the day of
    /// its next slot.
    pub fn search_window(&self, user: usize, booking: u64) -> (DateTime<Utc>, DateTime<Utc>) {
        let day = self
            .slot(user, booking)
            .date_naive()
            .and_time(NaiveTime::MIN)
            .and_utc();
        (day, day + Span::days(7))
    }
}

/// The operations of the mix and their weights (out of 10): 70 % reads, 20 %
/// bookings, 10 % cancellations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Search,
    Slots,
    OwnAppointments,
    Book,
    Cancel,
}

impl Op {
    pub const ALL: [Op; 5] = [
        Op::Search,
        Op::Slots,
        Op::OwnAppointments,
        Op::Book,
        Op::Cancel,
    ];

    /// One round of a user's sends: each operation as many times as its
    /// share of ten (the mix's weights), reads spread between the writes.
    pub const ROUND: [Op; 10] = [
        Op::Search,
        Op::Slots,
        Op::Book,
        Op::OwnAppointments,
        Op::Slots,
        Op::Cancel,
        Op::Search,
        Op::Slots,
        Op::Book,
        Op::OwnAppointments,
    ];

    /// What user `user` sends on its `turn`-th send. Each user starts at its
    /// own place in the round, so users due at the same moment (neighbours
    /// in the pacing) send the mix together, not all the same operation:
    /// a run at N req/s is the mix at N req/s at every instant, never bursts
    /// of bookings or cancellations.
    pub fn for_send(user: usize, turn: usize) -> Op {
        Self::ROUND[(user + turn) % Self::ROUND.len()]
    }

    /// The request name in goose's metrics.
    pub fn name(self) -> &'static str {
        match self {
            Op::Search => "provider search",
            Op::Slots => "slots",
            Op::OwnAppointments => "own appointments",
            Op::Book => "book",
            Op::Cancel => "cancel",
        }
    }
}

/// When each user sends: every `users / rate` seconds, user `u` offset by
/// `u / users` of that interval, so together they send at `rate` per second,
/// evenly spaced, whatever the responses do (open loop). A user waits for its
/// own previous response only, so a send is late only when one response takes
/// longer than the whole interval; those are counted, not hidden.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    pub interval: Duration,
    pub users: usize,
}

impl Pacing {
    pub fn new(users: usize, rate: f64) -> Self {
        let users = users.max(1);
        let rate = if rate > 0.0 { rate } else { 1.0 };
        Self {
            interval: Duration::from_secs_f64(users as f64 / rate),
            users,
        }
    }

    /// How long after its start user `u` sends its first request.
    pub fn offset(&self, user: usize) -> Duration {
        self.interval
            .mul_f64((user % self.users) as f64 / self.users as f64)
    }
}

/// The `n`-th provider search of a user: by specialty, by a surname, or both.
pub fn search_query(user: usize, n: u64) -> String {
    let pick = user as u64 + n;
    let specialty = SPECIALTIES[(pick % SPECIALTIES.len() as u64) as usize];
    let surname = SURNAMES[((pick / 3) % SURNAMES.len() as u64) as usize];
    match n % 3 {
        0 => format!("specialty={specialty}"),
        1 => format!("q={}", surname.to_lowercase()),
        _ => format!("q={}&specialty={specialty}", surname.to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::Timelike;
    use proptest::prelude::*;

    use super::*;

    fn plan(providers: usize, users: usize) -> SlotPlan {
        SlotPlan::starting_after("2026-11-25T13:37:00Z".parse().unwrap(), providers, users)
    }

    #[test]
    fn no_two_users_ever_want_the_same_slot() {
        for (providers, users) in [(7, 50), (10, 50), (100, 500), (3, 4)] {
            let p = plan(providers, users);
            let mut seen = HashSet::new();
            for u in 0..users {
                for j in 0..40 {
                    assert!(
                        seen.insert((p.home_provider(u), p.slot(u, j))),
                        "user {u} booking {j} collides ({providers} providers, {users} users)"
                    );
                }
            }
        }
    }

    #[test]
    fn slots_lie_inside_opening_hours_from_the_day_after_tomorrow() {
        let p = plan(100, 500);
        for u in [0, 1, 99, 100, 499] {
            for j in [0, 1, 5, 29, 30, 1000] {
                let s = p.slot(u, j);
                assert!(s >= "2026-11-27T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
                assert!(s.time() >= OPENS, "{s}");
                assert!(s.time() + Span::minutes(SLOT_MINUTES) <= CLOSES, "{s}");
                assert_eq!(s.minute() % SLOT_MINUTES as u32, 0);
            }
        }
    }

    #[test]
    fn the_plan_covers_a_long_run_within_the_horizon() {
        let p = plan(100, 500);
        // 5 minutes at 2,000 requests/s, 20 % bookings, spread over 500 users.
        let needed = 2000 * 300 / 5 / 500;
        assert!(p.bookings_per_user() > needed, "{}", p.bookings_per_user());
        let last = p.slot(499, p.bookings_per_user() - 1);
        assert!(last < p.first_day + Span::days(HORIZON_DAYS - 2));
    }

    #[test]
    fn the_search_window_holds_the_next_slot() {
        let p = plan(100, 500);
        let (from, to) = p.search_window(42, 17);
        let slot = p.slot(42, 17);
        assert!(from <= slot && slot < to);
        assert_eq!(to - from, Span::days(7));
    }

    #[test]
    fn users_together_send_at_the_rate_evenly_spaced() {
        let pacing = Pacing::new(500, 300.0);
        assert_eq!(pacing.interval, Duration::from_secs_f64(500.0 / 300.0));
        let gap = pacing.offset(1) - pacing.offset(0);
        assert_eq!(pacing.offset(0), Duration::ZERO);
        assert!((gap.as_secs_f64() - 1.0 / 300.0).abs() < 1e-6);
        assert!(pacing.offset(499) < pacing.interval);
    }

    /// How many of ten sends are `op`.
    fn weight(op: Op) -> usize {
        Op::ROUND.iter().filter(|o| **o == op).count()
    }

    proptest! {
        /// Any ten users due together send the mix, whatever their turn; and
        /// one user's ten sends in a row are the mix too.
        #[test]
        fn users_due_together_send_the_mix(first in 0usize..10_000, turn in 0usize..10_000) {
            for op in Op::ALL {
                let together = (first..first + 10).filter(|u| Op::for_send(*u, turn) == op).count();
                let one_user = (turn..turn + 10).filter(|t| Op::for_send(first, *t) == op).count();
                prop_assert_eq!(together, weight(op));
                prop_assert_eq!(one_user, weight(op));
            }
        }
    }

    #[test]
    fn the_mix_is_seventy_twenty_ten() {
        let total: usize = Op::ALL.iter().map(|o| weight(*o)).sum();
        let reads: usize = [Op::Search, Op::Slots, Op::OwnAppointments]
            .iter()
            .map(|o| weight(*o))
            .sum();
        assert_eq!(
            (total, reads, weight(Op::Book), weight(Op::Cancel)),
            (10, 7, 2, 1)
        );
    }

    #[test]
    fn searches_vary_between_specialty_name_and_both() {
        let q: Vec<String> = (0..3).map(|n| search_query(5, n)).collect();
        assert!(q[0].starts_with("specialty="));
        assert!(q[1].starts_with("q=") && !q[1].contains('&'));
        assert!(q[2].starts_with("q=") && q[2].contains("&specialty="));
        let (_, surname, _) = provider_profile(3);
        assert!(SURNAMES.contains(&surname));
    }
}

//! Care windows: when an appointment lets a provider see a patient's record and
//! summary. One pure function, used by records and by the directory's patient
//! summary, over what each learns from scheduling's `appointment.*` events.
//!
//! - A booked appointment opens access [`CarePolicy::opens_before`] (7 days)
//!   before its start, and keeps it open while it stays booked or checked in.
//! - After completion, a follow-up window of [`CarePolicy::follow_up`] (90 days).
//! - Cancelled, or marked no-show (both happen before any check-in): access
//!   ends at that moment, with no grace — a booking cancelled a minute later
//!   leaves nothing behind.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

use crate::config::Env;

/// How long care windows last (configurable: `CAREBOOK_CARE_OPENS_BEFORE_DAYS`,
/// `CAREBOOK_CARE_FOLLOW_UP_DAYS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CarePolicy {
    /// Access opens this long before a booked appointment's start.
    pub opens_before: Duration,
    /// Access lasts this long after a completed visit.
    pub follow_up: Duration,
}

impl Default for CarePolicy {
    fn default() -> Self {
        Self {
            opens_before: Duration::days(7),
            follow_up: Duration::days(90),
        }
    }
}

impl CarePolicy {
    /// Read the policy (bounded: a window of years is a mistake, not a policy).
    pub fn load(env: &mut Env) -> Self {
        let default = Self::default();
        let opens: i64 = env.parsed("CARE_OPENS_BEFORE_DAYS", default.opens_before.num_days());
        let follow: i64 = env.parsed("CARE_FOLLOW_UP_DAYS", default.follow_up.num_days());
        if !(0..=30).contains(&opens) {
            env.invalid("CARE_OPENS_BEFORE_DAYS must be between 0 and 30");
        }
        if !(0..=730).contains(&follow) {
            env.invalid("CARE_FOLLOW_UP_DAYS must be between 0 and 730");
        }
        Self {
            opens_before: Duration::days(opens.clamp(0, 30)),
            follow_up: Duration::days(follow.clamp(0, 730)),
        }
    }
}

/// Where an appointment stands, with the moment it changed where that matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisitState {
    Booked,
    CheckedIn,
    Completed { at: DateTime<Utc> },
    Cancelled { at: DateTime<Utc> },
    NoShow { at: DateTime<Utc> },
}

/// One appointment of a provider with a patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Visit {
    pub start: DateTime<Utc>,
    pub state: VisitState,
}

/// Until when access lasts, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CareAccess {
    /// No appointment opens access now.
    None,
    /// While the appointment starting at `start` is booked or checked in.
    WhileActive { start: DateTime<Utc> },
    /// Until `until`: the follow-up window of the visit of `visit`.
    FollowUp {
        visit: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

impl CareAccess {
    pub fn open(self) -> bool {
        !matches!(self, CareAccess::None)
    }

    /// When access ends, if it is known to end (`None` while an appointment is active).
    pub fn until(self) -> Option<DateTime<Utc>> {
        match self {
            CareAccess::FollowUp { until, .. } => Some(until),
            CareAccess::None | CareAccess::WhileActive { .. } => None,
        }
    }
}

impl fmt::Display for CareAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CareAccess::None => f.write_str("no appointment opens access"),
            CareAccess::WhileActive { start } => {
                write!(
                    f,
                    "while the appointment of {} is booked or checked in",
                    start.format("%Y-%m-%d %H:%M UTC")
                )
            }
            CareAccess::FollowUp { visit, until } => write!(
                f,
                "until {} (follow-up of the visit of {})",
                until.format("%Y-%m-%d %H:%M UTC"),
                visit.format("%Y-%m-%d")
            ),
        }
    }
}

/// The interval `[from, until)` in which `visit` grants access; `until` is
/// `None` while the appointment is active. `None` when it never does (a
/// booking cancelled before its window opened).
pub fn window(
    visit: &Visit,
    policy: &CarePolicy,
) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let from = visit.start - policy.opens_before;
    let until = match visit.state {
        VisitState::Booked | VisitState::CheckedIn => return Some((from, None)),
        VisitState::Completed { at } => at + policy.follow_up,
        VisitState::Cancelled { at } | VisitState::NoShow { at } => at,
    };
    (from < until).then_some((from, Some(until)))
}

/// Whether any of `visits` lets the provider in at `now`, and until when:
/// an active appointment wins over a follow-up; of follow-ups, the latest end.
pub fn access(visits: &[Visit], policy: &CarePolicy, now: DateTime<Utc>) -> CareAccess {
    let mut best = CareAccess::None;
    for v in visits {
        let Some((from, until)) = window(v, policy) else {
            continue;
        };
        if now < from {
            continue;
        }
        match until {
            None => return CareAccess::WhileActive { start: v.start },
            Some(until) if now < until => {
                if best.until().is_none_or(|b| until > b) {
                    best = CareAccess::FollowUp {
                        visit: v.start,
                        until,
                    };
                }
            }
            Some(_) => {}
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(days: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default() + Duration::days(days)
    }

    fn visit(start: i64, state: VisitState) -> Visit {
        Visit {
            start: t(start),
            state,
        }
    }

    /// The whole state × time table for one appointment starting on day 10.
    #[test]
    fn one_appointment_across_every_state_and_moment() {
        let p = CarePolicy::default();
        let open = |v: Visit, now: i64| access(&[v], &p, t(now)).open();
        // Booked: from 7 days before the start, for as long as it stays booked.
        let booked = visit(10, VisitState::Booked);
        assert!(!open(booked, 2), "8 days before");
        assert!(open(booked, 3), "7 days before");
        assert!(
            open(booked, 10) && open(booked, 400),
            "booked, never closed"
        );
        // Checked in: the same.
        let checked_in = visit(10, VisitState::CheckedIn);
        assert!(!open(checked_in, 2) && open(checked_in, 10) && open(checked_in, 11));
        // Completed on day 10: 90 days of follow-up, then closed.
        let completed = visit(10, VisitState::Completed { at: t(10) });
        assert!(!open(completed, 2));
        assert!(open(completed, 10) && open(completed, 99));
        assert!(!open(completed, 100), "90 days after completion");
        // Cancelled on day 5 (inside the window): open until that moment, not after.
        let cancelled = visit(10, VisitState::Cancelled { at: t(5) });
        assert!(open(cancelled, 4));
        assert!(!open(cancelled, 5) && !open(cancelled, 6) && !open(cancelled, 10));
        // Cancelled before the window opened: never open at all.
        let early = visit(10, VisitState::Cancelled { at: t(1) });
        assert_eq!(window(&early, &p), None);
        assert!(!open(early, 1) && !open(early, 3));
        // No-show marked on day 10: access ends then.
        let no_show = visit(10, VisitState::NoShow { at: t(10) });
        assert!(open(no_show, 9) && !open(no_show, 10) && !open(no_show, 11));
    }

    #[test]
    fn an_active_appointment_wins_and_the_latest_follow_up_is_named() {
        let p = CarePolicy::default();
        let older = visit(0, VisitState::Completed { at: t(0) });
        let newer = visit(30, VisitState::Completed { at: t(30) });
        assert_eq!(
            access(&[older, newer], &p, t(40)),
            CareAccess::FollowUp {
                visit: t(30),
                until: t(120)
            }
        );
        let next = visit(45, VisitState::Booked);
        assert_eq!(
            access(&[older, newer, next], &p, t(40)),
            CareAccess::WhileActive { start: t(45) }
        );
        assert_eq!(access(&[], &p, t(40)), CareAccess::None);
        assert!(CareAccess::None.to_string().contains("no appointment"));
    }

    #[test]
    fn the_policy_is_configurable_and_bounded() {
        let mut env = crate::testing::local_env(
            "records",
            &[
                ("CAREBOOK_CARE_OPENS_BEFORE_DAYS", "2"),
                ("CAREBOOK_CARE_FOLLOW_UP_DAYS", "30"),
            ],
        );
        let p = CarePolicy::load(&mut env);
        assert!(env.finish().is_ok());
        assert_eq!(
            (p.opens_before, p.follow_up),
            (Duration::days(2), Duration::days(30))
        );
        let mut env =
            crate::testing::local_env("records", &[("CAREBOOK_CARE_FOLLOW_UP_DAYS", "9999")]);
        CarePolicy::load(&mut env);
        assert!(env.finish().is_err());
    }

    proptest! {
        /// Access at `now` is exactly "some visit's window contains now".
        #[test]
        fn access_is_the_union_of_the_windows(
            starts in proptest::collection::vec(0i64..60, 0..5),
            kinds in proptest::collection::vec(0u8..5, 5),
            changes in proptest::collection::vec(-10i64..10, 5),
            now in -20i64..200,
        ) {
            let p = CarePolicy::default();
            let visits: Vec<Visit> = starts.iter().enumerate().map(|(i, s)| {
                let at = t(s + changes[i]);
                let state = match kinds[i] {
                    0 => VisitState::Booked,
                    1 => VisitState::CheckedIn,
                    2 => VisitState::Completed { at },
                    3 => VisitState::Cancelled { at },
                    _ => VisitState::NoShow { at },
                };
                Visit { start: t(*s), state }
            }).collect();
            let inside = visits.iter().any(|v| match window(v, &p) {
                Some((from, None)) => t(now) >= from,
                Some((from, Some(until))) => t(now) >= from && t(now) < until,
                None => false,
            });
            prop_assert_eq!(access(&visits, &p, t(now)).open(), inside);
        }
    }
}

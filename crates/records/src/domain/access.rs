//! Who may read or write a patient's clinical record: one pure function,
//! [`decide`], tested as a full matrix; and the pure rules of break-glass
//! (how long, how often, who reviews it) and of the "when and why does my
//! access end" answer.
//!
//! - A patient reads their own record, never another's, and never writes clinical entries.
//! - A provider reads and writes while a care window of theirs with the patient
//!   is open ([`platform::care`]: from 7 days before a booked appointment while it
//!   stays booked or checked in, 90 days after a completed visit; a cancellation or
//!   a no-show ends it at that moment).
//! - Without one, a current break-glass grant lets a provider *read* (flagged in
//!   the audit); writing needs a care relationship.
//! - A provider never reaches their own record through provider rights.
//! - Staff and admins never see clinical content; admins review break-glass.

use chrono::{DateTime, Duration, Utc};
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use platform::{
    auth::Actor,
    care::{CareAccess, CarePolicy},
};

/// Shortest accepted break-glass reason (characters, after trimming).
pub const MIN_BREAK_GLASS_REASON: usize = 15;
/// Longest accepted break-glass reason.
pub const MAX_BREAK_GLASS_REASON: usize = 1000;

/// Shortest break-glass grant a provider may ask for (minutes).
pub const MIN_BREAK_GLASS_MINUTES: i64 = 5;
/// Longest break-glass grant (minutes): 4 hours. Longer care needs an appointment.
pub const MAX_BREAK_GLASS_MINUTES: i64 = 240;
/// How long a grant lasts when the provider does not say (`RECORDS_BREAK_GLASS_MINUTES`).
pub const DEFAULT_BREAK_GLASS_MINUTES: i64 = 30;
/// Grants per provider per rolling window (`RECORDS_BREAK_GLASS_DAILY_LIMIT`).
pub const DEFAULT_BREAK_GLASS_DAILY_LIMIT: u32 = 3;
/// The rolling window the limit counts grants in (hours).
pub const BREAK_GLASS_LIMIT_WINDOW_HOURS: i64 = 24;

/// Longest accepted review note (characters, after trimming).
pub const MAX_REVIEW_NOTE: usize = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Read,
    Write,
}

/// A provider's emergency access to one patient's record, for a limited time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakGlass {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub patient_id: Uuid,
    pub granted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl BreakGlass {
    pub fn current(&self, now: DateTime<Utc>) -> bool {
        self.granted_at <= now && now < self.expires_at
    }
}

/// Why access was refused; recorded in the audit log, never shown beyond the
/// problem type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// A patient asked for someone else's record.
    OtherPatient,
    /// Patients read their record; clinical entries are written by providers.
    PatientWrite,
    /// A provider with neither an open care window nor break-glass.
    NoCareRelationship,
    /// A provider's break-glass grant for this patient has expired.
    BreakGlassExpired,
    /// A provider with only break-glass (no open care window) tried to write:
    /// break-glass is read-only.
    BreakGlassReadOnly,
    /// A provider asked for more break-glass grants than the rolling limit allows.
    BreakGlassLimit,
    /// A provider asked for their own record through provider rights.
    OwnRecordAsProvider,
    /// Staff and admins never see clinical content.
    NonClinicalRole,
    /// Only admins review break-glass grants.
    NotAdmin,
}

impl DenyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::OtherPatient => "other_patient",
            DenyReason::PatientWrite => "patient_write",
            DenyReason::NoCareRelationship => "no_care_relationship",
            DenyReason::BreakGlassExpired => "break_glass_expired",
            DenyReason::BreakGlassReadOnly => "break_glass_read_only",
            DenyReason::BreakGlassLimit => "break_glass_limit",
            DenyReason::OwnRecordAsProvider => "own_record_as_provider",
            DenyReason::NonClinicalRole => "non_clinical_role",
            DenyReason::NotAdmin => "not_admin",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A read allowed only because of a current break-glass grant: flagged in the audit.
    AllowBreakGlass,
    Deny(DenyReason),
}

impl Decision {
    pub fn allowed(self) -> bool {
        !matches!(self, Decision::Deny(_))
    }
}

/// May `actor` perform `action` on the clinical record of `patient_id`?
///
/// `care` is what [`platform::care::access`] found over this provider's
/// appointments with this patient at `now` ([`CareAccess::None`] for anyone
/// else); `break_glass` is the provider's latest grant for the patient, and
/// counts only when it names this very pair and is current at `now`.
pub fn decide(
    actor: Actor,
    patient_id: Uuid,
    care: CareAccess,
    break_glass: Option<BreakGlass>,
    action: Action,
    now: DateTime<Utc>,
) -> Decision {
    match actor.role {
        Role::Patient => match (actor.user_id == patient_id, action) {
            (false, _) => Decision::Deny(DenyReason::OtherPatient),
            (true, Action::Read) => Decision::Allow,
            (true, Action::Write) => Decision::Deny(DenyReason::PatientWrite),
        },
        Role::Provider => {
            if actor.user_id == patient_id {
                return Decision::Deny(DenyReason::OwnRecordAsProvider);
            }
            if care.open() {
                return Decision::Allow;
            }
            let ours =
                |g: &BreakGlass| g.provider_id == actor.user_id && g.patient_id == patient_id;
            match (break_glass.filter(ours), action) {
                (Some(g), Action::Read) if g.current(now) => Decision::AllowBreakGlass,
                (Some(g), Action::Write) if g.current(now) => {
                    Decision::Deny(DenyReason::BreakGlassReadOnly)
                }
                (Some(_), _) => Decision::Deny(DenyReason::BreakGlassExpired),
                (None, _) => Decision::Deny(DenyReason::NoCareRelationship),
            }
        }
        Role::Staff | Role::Admin => Decision::Deny(DenyReason::NonClinicalRole),
    }
}

/// How long a grant lasts: `requested` minutes, or `default`; between
/// [`MIN_BREAK_GLASS_MINUTES`] and [`MAX_BREAK_GLASS_MINUTES`].
pub fn break_glass_duration(requested: Option<i64>, default: Duration) -> Result<Duration, String> {
    let minutes = requested.unwrap_or_else(|| default.num_minutes());
    if minutes < MIN_BREAK_GLASS_MINUTES {
        return Err(format!("at least {MIN_BREAK_GLASS_MINUTES} minutes"));
    }
    if minutes > MAX_BREAK_GLASS_MINUTES {
        return Err(format!(
            "at most {MAX_BREAK_GLASS_MINUTES} minutes (4 hours); longer care needs an appointment"
        ));
    }
    Ok(Duration::minutes(minutes))
}

/// May a provider whose earlier grants were given at `granted` get another at
/// `now`? At most `limit` grants in any rolling [`BREAK_GLASS_LIMIT_WINDOW_HOURS`].
/// When not: how long until enough of them have left the window that one more
/// fits (for `Retry-After`; with the limit just reached, until the oldest of
/// them leaves).
pub fn check_break_glass_limit(
    granted: &[DateTime<Utc>],
    limit: u32,
    now: DateTime<Utc>,
) -> Result<(), Duration> {
    let window = Duration::hours(BREAK_GLASS_LIMIT_WINDOW_HOURS);
    let mut inside: Vec<DateTime<Utc>> = granted
        .iter()
        .copied()
        .filter(|t| *t > now - window)
        .collect();
    let limit = limit as usize;
    if inside.len() < limit {
        return Ok(());
    }
    inside.sort_unstable();
    // Once this one leaves the window, `limit - 1` remain.
    let wait = inside
        .get(inside.len() - limit)
        .map_or(window, |t| *t + window - now);
    Err(wait.max(Duration::seconds(1)))
}

/// Whole seconds to wait, rounded up (a `Retry-After` value), at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let millis = wait.num_milliseconds().max(1);
    u64::try_from((millis + 999) / 1000).unwrap_or(1)
}

/// What a provider's access to a patient's record rests on now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// An open care window: read and write.
    Care,
    /// A current break-glass grant only: read-only, until it expires.
    BreakGlass,
    /// No access.
    None,
}

/// When and why a provider's access to a patient's record ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessAnswer {
    pub basis: Basis,
    /// When access ends, if it is known to (`None` while an appointment is
    /// active, and when there is no access).
    pub until: Option<DateTime<Utc>>,
    pub explanation: String,
}

/// The answer [`decide`] gives a provider, explained: a care window wins over
/// break-glass (it allows writing). `None` for anyone but a provider.
pub fn explain(
    actor: Actor,
    patient_id: Uuid,
    care: CareAccess,
    break_glass: Option<BreakGlass>,
    now: DateTime<Utc>,
) -> Option<AccessAnswer> {
    if actor.role != Role::Provider {
        return None;
    }
    if actor.user_id == patient_id {
        return Some(AccessAnswer {
            basis: Basis::None,
            until: None,
            explanation: "providers never open their own record through provider rights".to_owned(),
        });
    }
    if care.open() {
        return Some(AccessAnswer {
            basis: Basis::Care,
            until: care.until(),
            explanation: care.to_string(),
        });
    }
    let current = break_glass
        .filter(|g| g.provider_id == actor.user_id && g.patient_id == patient_id && g.current(now));
    Some(match current {
        Some(g) => AccessAnswer {
            basis: Basis::BreakGlass,
            until: Some(g.expires_at),
            explanation: format!(
                "break-glass until {}, read-only",
                g.expires_at.format("%Y-%m-%d %H:%M UTC")
            ),
        },
        None => AccessAnswer {
            basis: Basis::None,
            until: None,
            explanation: CareAccess::None.to_string(),
        },
    })
}

/// What a reviewer concluded about a break-glass grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    Justified,
    Unjustified,
}

impl ReviewOutcome {
    pub const ALL: [ReviewOutcome; 2] = [ReviewOutcome::Justified, ReviewOutcome::Unjustified];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewOutcome::Justified => "justified",
            ReviewOutcome::Unjustified => "unjustified",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Only admins (the privacy officer's role) review break-glass grants.
pub fn may_review_break_glass(actor: Actor) -> Result<(), DenyReason> {
    match actor.role {
        Role::Admin => Ok(()),
        Role::Patient | Role::Provider | Role::Staff => Err(DenyReason::NotAdmin),
    }
}

/// A review note: 1 to [`MAX_REVIEW_NOTE`] characters after trimming, no
/// control characters but line breaks and tabs.
pub fn check_review_note(note: &str) -> Result<String, String> {
    let trimmed = note.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err("say what the review found".to_owned());
    }
    if chars > MAX_REVIEW_NOTE {
        return Err(format!("at most {MAX_REVIEW_NOTE} characters"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("control characters are not allowed".to_owned());
    }
    Ok(trimmed.to_owned())
}

/// Only providers break the glass, and never for their own record.
pub fn may_break_glass(actor: Actor, patient_id: Uuid) -> Result<(), DenyReason> {
    match actor.role {
        Role::Provider if actor.user_id == patient_id => Err(DenyReason::OwnRecordAsProvider),
        Role::Provider => Ok(()),
        Role::Patient => Err(DenyReason::PatientWrite),
        Role::Staff | Role::Admin => Err(DenyReason::NonClinicalRole),
    }
}

/// Who read a record: the patient themselves, and admins (who see ids and
/// times, never clinical content).
pub fn may_read_access_log(actor: Actor, patient_id: Uuid) -> Result<(), DenyReason> {
    match actor.role {
        Role::Patient if actor.user_id == patient_id => Ok(()),
        Role::Patient => Err(DenyReason::OtherPatient),
        Role::Admin => Ok(()),
        Role::Provider if actor.user_id == patient_id => Err(DenyReason::OwnRecordAsProvider),
        Role::Provider | Role::Staff => Err(DenyReason::NonClinicalRole),
    }
}

/// A break-glass reason says why, in more than a word or two.
pub fn check_break_glass_reason(reason: &str) -> Result<String, String> {
    let trimmed = reason.trim();
    let chars = trimmed.chars().count();
    if chars < MIN_BREAK_GLASS_REASON {
        return Err(format!(
            "state the emergency in at least {MIN_BREAK_GLASS_REASON} characters"
        ));
    }
    if chars > MAX_BREAK_GLASS_REASON {
        return Err(format!("at most {MAX_BREAK_GLASS_REASON} characters"));
    }
    if trimmed.split_whitespace().count() < 3 {
        return Err("state the emergency in a few words".to_owned());
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return Err("control characters are not allowed".to_owned());
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::care::{access, Visit, VisitState};

    /// Care states a provider can be in with the patient.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Care {
        None,
        Active,
        FollowUp,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Glass {
        None,
        Current,
        Expired,
        /// A current grant for another patient (must never count).
        Foreign,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Target {
        Own,
        Other,
    }

    fn expected(role: Role, target: Target, care: Care, glass: Glass, action: Action) -> Decision {
        use Decision::*;
        use DenyReason::*;
        match role {
            Role::Patient => match (target, action) {
                (Target::Other, _) => Deny(OtherPatient),
                (Target::Own, Action::Read) => Allow,
                (Target::Own, Action::Write) => Deny(PatientWrite),
            },
            Role::Provider => {
                if target == Target::Own {
                    return Deny(OwnRecordAsProvider);
                }
                if care != Care::None {
                    return Allow;
                }
                match (glass, action) {
                    (Glass::Current, Action::Read) => AllowBreakGlass,
                    (Glass::Current, Action::Write) => Deny(BreakGlassReadOnly),
                    (Glass::Expired, _) => Deny(BreakGlassExpired),
                    (Glass::None | Glass::Foreign, _) => Deny(NoCareRelationship),
                }
            }
            Role::Staff | Role::Admin => Deny(NonClinicalRole),
        }
    }

    #[test]
    fn the_record_access_matrix_is_exhaustive() {
        let now: DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
        let actor_id = Uuid::now_v7();
        let other_patient = Uuid::now_v7();
        let mut checked = 0;
        for role in Role::ALL {
            for target in [Target::Own, Target::Other] {
                let patient_id = match target {
                    Target::Own => actor_id,
                    Target::Other => other_patient,
                };
                for care in [Care::None, Care::Active, Care::FollowUp] {
                    let care_access = match care {
                        Care::None => CareAccess::None,
                        Care::Active => CareAccess::WhileActive {
                            start: now + Duration::days(2),
                        },
                        Care::FollowUp => CareAccess::FollowUp {
                            visit: now - Duration::days(10),
                            until: now + Duration::days(80),
                        },
                    };
                    for glass in [Glass::None, Glass::Current, Glass::Expired, Glass::Foreign] {
                        let grant = |patient: Uuid, expires_at: DateTime<Utc>| BreakGlass {
                            id: Uuid::now_v7(),
                            provider_id: actor_id,
                            patient_id: patient,
                            granted_at: expires_at - Duration::minutes(30),
                            expires_at,
                        };
                        let break_glass = match glass {
                            Glass::None => None,
                            Glass::Current => Some(grant(patient_id, now + Duration::minutes(1))),
                            Glass::Expired => Some(grant(patient_id, now)),
                            Glass::Foreign => {
                                Some(grant(Uuid::now_v7(), now + Duration::minutes(30)))
                            }
                        };
                        for action in [Action::Read, Action::Write] {
                            let actor = Actor::new(actor_id, role);
                            let got =
                                decide(actor, patient_id, care_access, break_glass, action, now);
                            let want = expected(role, target, care, glass, action);
                            assert_eq!(
                                got, want,
                                "{role:?} {target:?} {care:?} {glass:?} {action:?}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 4 * 2 * 3 * 4 * 2);
    }

    /// The care table of issue 17, through `platform::care` into `decide`.
    #[test]
    fn each_appointment_state_opens_or_closes_the_record() {
        let now: DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
        let provider = Uuid::now_v7();
        let patient = Uuid::now_v7();
        let p = CarePolicy::default();
        let days = Duration::days;
        let rows = [
            (
                "booked 8 days ahead",
                now + days(8),
                VisitState::Booked,
                false,
            ),
            (
                "booked 6 days ahead",
                now + days(6),
                VisitState::Booked,
                true,
            ),
            ("checked in", now, VisitState::CheckedIn, true),
            (
                "cancelled before check-in",
                now + days(1),
                VisitState::Cancelled { at: now },
                false,
            ),
            (
                "no-show",
                now - days(1),
                VisitState::NoShow { at: now - days(1) },
                false,
            ),
            (
                "completed today",
                now - Duration::hours(1),
                VisitState::Completed { at: now },
                true,
            ),
            (
                "completed 91 days ago",
                now - days(92),
                VisitState::Completed { at: now - days(91) },
                false,
            ),
        ];
        for (name, start, state, open) in rows {
            let care = access(&[Visit { start, state }], &p, now);
            for action in [Action::Read, Action::Write] {
                let d = decide(
                    Actor::new(provider, Role::Provider),
                    patient,
                    care,
                    None,
                    action,
                    now,
                );
                assert_eq!(d.allowed(), open, "{name} {action:?}");
            }
        }
    }

    #[test]
    fn break_glass_is_current_only_inside_its_window() {
        let now = Utc::now();
        let g = BreakGlass {
            id: Uuid::nil(),
            provider_id: Uuid::nil(),
            patient_id: Uuid::nil(),
            granted_at: now,
            expires_at: now + Duration::minutes(30),
        };
        assert!(!g.current(now - Duration::seconds(1)));
        assert!(g.current(now));
        assert!(g.current(now + Duration::minutes(29)));
        assert!(!g.current(now + Duration::minutes(30)));
    }

    #[test]
    fn a_grant_lasts_the_default_or_what_was_asked_between_5_minutes_and_4_hours() {
        let default = Duration::minutes(DEFAULT_BREAK_GLASS_MINUTES);
        assert_eq!(
            break_glass_duration(None, default),
            Ok(Duration::minutes(30))
        );
        assert_eq!(
            break_glass_duration(Some(5), default),
            Ok(Duration::minutes(5))
        );
        assert_eq!(
            break_glass_duration(Some(240), default),
            Ok(Duration::hours(4))
        );
        assert!(break_glass_duration(Some(241), default).is_err());
        assert!(break_glass_duration(Some(4), default).is_err());
        assert!(break_glass_duration(Some(0), default).is_err());
        assert!(break_glass_duration(Some(-30), default).is_err());
        assert!(break_glass_duration(Some(i64::MAX), default).is_err());
    }

    #[test]
    fn three_grants_in_a_rolling_day_then_wait_for_the_oldest_to_leave() {
        let now: DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
        let h = Duration::hours;
        assert_eq!(check_break_glass_limit(&[], 3, now), Ok(()));
        assert_eq!(
            check_break_glass_limit(&[now - h(1), now - h(2)], 3, now),
            Ok(())
        );
        // The 4th: the oldest of the three (20 h ago) leaves in 4 h.
        let three = [now - h(1), now - h(20), now - h(5)];
        assert_eq!(check_break_glass_limit(&three, 3, now), Err(h(4)));
        // Grants older than 24 h do not count.
        let old = [now - h(1), now - h(2), now - h(24), now - h(30)];
        assert_eq!(check_break_glass_limit(&old, 3, now), Ok(()));
        // Over the limit (a lowered setting): wait until enough have left.
        let five = [now - h(1), now - h(2), now - h(3), now - h(10), now - h(23)];
        assert_eq!(check_break_glass_limit(&five, 3, now), Err(h(21)));
        // Never a wait of zero.
        let edge = [now - h(24) + Duration::milliseconds(1)];
        assert_eq!(
            check_break_glass_limit(&edge, 1, now),
            Err(Duration::seconds(1))
        );
        assert_eq!(check_break_glass_limit(&[now], 0, now), Err(h(24)));
        assert_eq!(retry_after_seconds(h(4)), 4 * 3600);
        assert_eq!(retry_after_seconds(Duration::milliseconds(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::zero()), 1);
    }

    #[test]
    fn the_access_answer_names_the_basis_and_when_it_ends() {
        let now: DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
        let me = Uuid::now_v7();
        let patient = Uuid::now_v7();
        let provider = Actor::new(me, Role::Provider);
        let grant = BreakGlass {
            id: Uuid::now_v7(),
            provider_id: me,
            patient_id: patient,
            granted_at: now - Duration::minutes(10),
            expires_at: now + Duration::minutes(20),
        };
        let follow_up = CareAccess::FollowUp {
            visit: now - Duration::days(1),
            until: now + Duration::days(89),
        };
        let care = explain(provider, patient, follow_up, Some(grant), now).unwrap();
        assert_eq!(care.basis, Basis::Care);
        assert_eq!(care.until, Some(now + Duration::days(89)));
        assert!(
            care.explanation.contains("follow-up"),
            "{}",
            care.explanation
        );
        let active = CareAccess::WhileActive { start: now };
        let care = explain(provider, patient, active, None, now).unwrap();
        assert_eq!((care.basis, care.until), (Basis::Care, None));
        let glass = explain(provider, patient, CareAccess::None, Some(grant), now).unwrap();
        assert_eq!(glass.basis, Basis::BreakGlass);
        assert_eq!(glass.until, Some(grant.expires_at));
        assert_eq!(
            glass.explanation,
            "break-glass until 2026-06-01 12:20 UTC, read-only"
        );
        let later = now + Duration::minutes(20);
        let none = explain(provider, patient, CareAccess::None, Some(grant), later).unwrap();
        assert_eq!((none.basis, none.until), (Basis::None, None));
        assert_eq!(none.explanation, CareAccess::None.to_string());
        let own = explain(provider, me, active, None, now).unwrap();
        assert_eq!(own.basis, Basis::None);
        for role in [Role::Patient, Role::Staff, Role::Admin] {
            assert_eq!(
                explain(Actor::new(me, role), patient, active, None, now),
                None
            );
        }
    }

    #[test]
    fn only_admins_review_and_a_review_says_something() {
        let me = Uuid::now_v7();
        assert_eq!(may_review_break_glass(Actor::new(me, Role::Admin)), Ok(()));
        for role in [Role::Patient, Role::Provider, Role::Staff] {
            assert_eq!(
                may_review_break_glass(Actor::new(me, role)),
                Err(DenyReason::NotAdmin)
            );
        }
        assert!(check_review_note("   ").is_err());
        assert!(check_review_note(&"x".repeat(2001)).is_err());
        assert!(check_review_note("ok\u{7}").is_err());
        assert_eq!(check_review_note(&"x".repeat(2000)).unwrap().len(), 2000);
        assert_eq!(
            check_review_note(" Confirmed with the ER.\r\nFine. ").unwrap(),
            "Confirmed with the ER.\r\nFine."
        );
        assert_eq!(
            ReviewOutcome::parse("justified"),
            Some(ReviewOutcome::Justified)
        );
        assert_eq!(
            ReviewOutcome::parse("unjustified"),
            Some(ReviewOutcome::Unjustified)
        );
        assert_eq!(ReviewOutcome::parse("maybe"), None);
    }

    #[test]
    fn who_may_break_the_glass_and_read_the_access_log() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        let a = |role| Actor::new(me, role);
        assert_eq!(may_break_glass(a(Role::Provider), other), Ok(()));
        assert_eq!(
            may_break_glass(a(Role::Provider), me),
            Err(DenyReason::OwnRecordAsProvider)
        );
        assert!(may_break_glass(a(Role::Patient), me).is_err());
        assert!(may_break_glass(a(Role::Staff), other).is_err());
        assert!(may_break_glass(a(Role::Admin), other).is_err());

        assert_eq!(may_read_access_log(a(Role::Patient), me), Ok(()));
        assert!(may_read_access_log(a(Role::Patient), other).is_err());
        assert_eq!(may_read_access_log(a(Role::Admin), other), Ok(()));
        assert!(may_read_access_log(a(Role::Staff), other).is_err());
        assert!(may_read_access_log(a(Role::Provider), other).is_err());
        assert!(may_read_access_log(a(Role::Provider), me).is_err());
    }

    #[test]
    fn break_glass_reasons_must_say_something() {
        assert!(check_break_glass_reason("because").is_err());
        assert!(check_break_glass_reason("               x").is_err());
        assert!(check_break_glass_reason("aaaaaaaaaaaaaaaaaaaaaaaaa").is_err());
        assert!(check_break_glass_reason(&"word ".repeat(300)).is_err());
        assert_eq!(
            check_break_glass_reason("  unconscious patient in the emergency room  ").unwrap(),
            "unconscious patient in the emergency room"
        );
    }
}

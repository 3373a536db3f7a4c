//! Who may read or write a patient's clinical record: one pure function,
//! [`decide`], tested as a full matrix.
//!
//! - A patient reads their own record, never another's, and never writes clinical entries.
//! - A provider reads and writes only with a care relationship (an active appointment
//!   with the patient, or one that ended within [`CARE_RETENTION_DAYS`]), or under a
//!   current break-glass grant (flagged in the audit).
//! - A provider never reaches their own record through provider rights.
//! - Staff and admins never see clinical content.

use chrono::{DateTime, Duration, Utc};
use platform::auth::Role;
use uuid::Uuid;

/// How long after the last appointment ended a provider keeps access.
pub const CARE_RETENTION_DAYS: i64 = 90;

/// Shortest accepted break-glass reason (characters, after trimming).
pub const MIN_BREAK_GLASS_REASON: usize = 15;
/// Longest accepted break-glass reason.
pub const MAX_BREAK_GLASS_REASON: usize = 1000;

pub use platform::auth::Actor;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Read,
    Write,
}

/// What records knows about a provider's appointments with a patient (from
/// `appointment.*` events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CareRelationship {
    pub provider_id: Uuid,
    pub patient_id: Uuid,
    /// The last moment of care: the latest scheduled end of their booked or
    /// checked-in appointments, or the time the latest of the others was
    /// completed, cancelled or marked no-show, whichever is later. A booked
    /// appointment next month makes the relationship current today; a booking
    /// nobody closed stops counting one retention window after its end.
    pub care_until: DateTime<Utc>,
}

impl CareRelationship {
    /// Care is ongoing, or ended within the retention window.
    pub fn current(&self, now: DateTime<Utc>) -> bool {
        now <= self.care_until + Duration::days(CARE_RETENTION_DAYS)
    }
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

/// Why access was refused; recorded in the audit log, never shown beyond 403.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// A patient asked for someone else's record.
    OtherPatient,
    /// Patients read their record; clinical entries are written by providers.
    PatientWrite,
    /// A provider with neither a care relationship nor break-glass.
    NoCareRelationship,
    /// A provider's break-glass grant for this patient has expired.
    BreakGlassExpired,
    /// A provider asked for their own record through provider rights.
    OwnRecordAsProvider,
    /// Staff and admins never see clinical content.
    NonClinicalRole,
}

impl DenyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::OtherPatient => "other_patient",
            DenyReason::PatientWrite => "patient_write",
            DenyReason::NoCareRelationship => "no_care_relationship",
            DenyReason::BreakGlassExpired => "break_glass_expired",
            DenyReason::OwnRecordAsProvider => "own_record_as_provider",
            DenyReason::NonClinicalRole => "non_clinical_role",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Allowed only because of a current break-glass grant: flagged in the audit.
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
/// `relationship` and `break_glass` are what the store found for this actor and
/// patient (or nothing); they count only when they name this very pair and are
/// current at `now`.
pub fn decide(
    actor: Actor,
    patient_id: Uuid,
    relationship: Option<CareRelationship>,
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
            let ours =
                |provider: Uuid, patient: Uuid| provider == actor.user_id && patient == patient_id;
            let cared = relationship
                .filter(|r| ours(r.provider_id, r.patient_id))
                .is_some_and(|r| r.current(now));
            if cared {
                return Decision::Allow;
            }
            match break_glass.filter(|g| ours(g.provider_id, g.patient_id)) {
                Some(g) if g.current(now) => Decision::AllowBreakGlass,
                Some(_) => Decision::Deny(DenyReason::BreakGlassExpired),
                None => Decision::Deny(DenyReason::NoCareRelationship),
            }
        }
        Role::Staff | Role::Admin => Decision::Deny(DenyReason::NonClinicalRole),
    }
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

    /// Relationship states a provider can be in with the patient.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Rel {
        None,
        Active,
        EndedRecently,
        EndedLongAgo,
        /// A current relationship, but of another provider (must never count).
        Foreign,
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

    fn expected(role: Role, target: Target, rel: Rel, glass: Glass, action: Action) -> Decision {
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
                if matches!(rel, Rel::Active | Rel::EndedRecently) {
                    return Allow;
                }
                match glass {
                    Glass::Current => AllowBreakGlass,
                    Glass::Expired => Deny(BreakGlassExpired),
                    Glass::None | Glass::Foreign => Deny(NoCareRelationship),
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
        let other_provider = Uuid::now_v7();
        let mut checked = 0;
        for role in Role::ALL {
            for target in [Target::Own, Target::Other] {
                let patient_id = match target {
                    Target::Own => actor_id,
                    Target::Other => other_patient,
                };
                for rel in [
                    Rel::None,
                    Rel::Active,
                    Rel::EndedRecently,
                    Rel::EndedLongAgo,
                    Rel::Foreign,
                ] {
                    let relationship = match rel {
                        Rel::None => None,
                        Rel::Active => Some(CareRelationship {
                            provider_id: actor_id,
                            patient_id,
                            care_until: now + Duration::days(30),
                        }),
                        Rel::EndedRecently => Some(CareRelationship {
                            provider_id: actor_id,
                            patient_id,
                            care_until: now - Duration::days(CARE_RETENTION_DAYS),
                        }),
                        Rel::EndedLongAgo => Some(CareRelationship {
                            provider_id: actor_id,
                            patient_id,
                            care_until: now
                                - Duration::days(CARE_RETENTION_DAYS)
                                - Duration::seconds(1),
                        }),
                        Rel::Foreign => Some(CareRelationship {
                            provider_id: other_provider,
                            patient_id,
                            care_until: now + Duration::days(30),
                        }),
                    };
                    for glass in [Glass::None, Glass::Current, Glass::Expired, Glass::Foreign] {
                        let grant = |patient: Uuid, expires_at: DateTime<Utc>| BreakGlass {
                            id: Uuid::now_v7(),
                            provider_id: actor_id,
                            patient_id: patient,
                            granted_at: expires_at - Duration::minutes(60),
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
                                decide(actor, patient_id, relationship, break_glass, action, now);
                            let want = expected(role, target, rel, glass, action);
                            assert_eq!(
                                got, want,
                                "{role:?} {target:?} {rel:?} {glass:?} {action:?}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 4 * 2 * 5 * 4 * 2);
    }

    #[test]
    fn the_retention_window_is_inclusive_and_ends() {
        let now = Utc::now();
        let r = |care_until: DateTime<Utc>| CareRelationship {
            provider_id: Uuid::nil(),
            patient_id: Uuid::nil(),
            care_until,
        };
        assert!(r(now).current(now));
        assert!(r(now - Duration::days(CARE_RETENTION_DAYS)).current(now));
        assert!(!r(now - Duration::days(CARE_RETENTION_DAYS + 1)).current(now));
        // A booked appointment months ahead makes the relationship current now.
        assert!(r(now + Duration::days(180)).current(now));
    }

    #[test]
    fn break_glass_is_current_only_inside_its_window() {
        let now = Utc::now();
        let g = BreakGlass {
            id: Uuid::nil(),
            provider_id: Uuid::nil(),
            patient_id: Uuid::nil(),
            granted_at: now,
            expires_at: now + Duration::minutes(60),
        };
        assert!(!g.current(now - Duration::seconds(1)));
        assert!(g.current(now));
        assert!(g.current(now + Duration::minutes(59)));
        assert!(!g.current(now + Duration::minutes(60)));
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

//! Who may read and change which profile, as pure decisions (tested as a matrix).
//!
//! - Provider profiles: any signed-in user reads them; the provider edits their
//!   own; staff and admins edit any.
//! - Patient profiles: a patient reads and edits their own; staff and admins any.
//!   Everyone else — providers, and patients asking for someone else — is
//!   refused with 403 *before* any lookup, so the answer never reveals whether
//!   a patient exists.
//! - Patient summaries (name, date of birth, contact): whoever may read the
//!   profile, and a provider while one of their appointments with the patient
//!   opens a care window ([`platform::care`], the rule records follows: from 7
//!   days before a booking's start while it stays booked or checked in, 90
//!   days after a completed visit, closed at once by a cancellation or a
//!   no-show). A provider outside every window gets the same 403 whether or
//!   not the patient exists.
//! - Patient search: staff and admins only.

use platform::{auth::Role, care::CareAccess};
use uuid::Uuid;

pub use platform::auth::{Actor, Decision};

fn is_office(role: Role) -> bool {
    matches!(role, Role::Staff | Role::Admin)
}

/// Edit provider `provider_id`'s profile.
pub fn can_edit_provider(actor: &Actor, provider_id: Uuid) -> Decision {
    Decision::from_bool(is_office(actor.role) || actor.provider_id == Some(provider_id))
}

/// Read or edit patient `patient_id`'s profile.
pub fn can_access_patient(actor: &Actor, patient_id: Uuid) -> Decision {
    Decision::from_bool(is_office(actor.role) || actor.patient_id == Some(patient_id))
}

/// Where a provider stands with a patient now, as the directory learned it
/// from scheduling's events: the care window their appointments together open
/// (`platform::care::access` over their visits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CareRelationship {
    pub provider_id: Uuid,
    pub patient_id: Uuid,
    pub access: CareAccess,
}

/// Read patient `patient_id`'s summary. `care` is what the store found for
/// this provider and patient (if the actor is a provider); it counts only when
/// it names this very pair and its care window is open.
pub fn can_read_patient_summary(
    actor: &Actor,
    patient_id: Uuid,
    care: Option<CareRelationship>,
) -> Decision {
    let in_care = |provider_id| {
        care.is_some_and(|c| {
            c.provider_id == provider_id && c.patient_id == patient_id && c.access.open()
        })
    };
    let allowed = match actor.role {
        Role::Staff | Role::Admin => true,
        Role::Patient => actor.patient_id == Some(patient_id),
        Role::Provider => actor.provider_id.is_some_and(in_care),
    };
    Decision::from_bool(allowed)
}

/// Search patients by name or email: the front desk (staff and admins) over
/// every patient; a provider too, but the search then keeps only the patients
/// whose summary [`can_read_patient_summary`] opens to them (their care).
pub fn can_search_patients(actor: &Actor) -> Decision {
    Decision::from_bool(is_office(actor.role) || actor.provider_id.is_some())
}

/// The patient id behind `/patients/me`, for patients only.
pub fn own_patient_id(actor: &Actor) -> Option<Uuid> {
    actor.patient_id
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};
    use platform::auth::Claims;
    use Decision::{Allow, Deny};

    fn actor(role: Role, id: Uuid) -> Actor {
        Actor {
            user_id: id,
            role,
            patient_id: (role == Role::Patient).then_some(id),
            provider_id: (role == Role::Provider).then_some(id),
        }
    }

    #[test]
    fn provider_profile_edit_matrix() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        let cases = [
            (Role::Provider, me, Allow),
            (Role::Provider, other, Deny),
            (Role::Patient, me, Deny),
            (Role::Staff, other, Allow),
            (Role::Admin, other, Allow),
        ];
        for (role, target, expected) in cases {
            assert_eq!(
                can_edit_provider(&actor(role, me), target),
                expected,
                "{role:?} → {target}"
            );
        }
    }

    #[test]
    fn patient_profile_access_matrix() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        let cases = [
            (Role::Patient, me, Allow),
            (Role::Patient, other, Deny),
            (Role::Provider, other, Deny),
            (Role::Provider, me, Deny),
            (Role::Staff, other, Allow),
            (Role::Admin, other, Allow),
        ];
        for (role, target, expected) in cases {
            assert_eq!(
                can_access_patient(&actor(role, me), target),
                expected,
                "{role:?} → {target}"
            );
        }
    }

    #[test]
    fn patient_summary_matrix() {
        let (me, patient, other_patient) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let now = Utc::now();
        let active = CareAccess::WhileActive {
            start: now + Duration::days(6),
        };
        let follow_up = CareAccess::FollowUp {
            visit: now - Duration::days(30),
            until: now + Duration::days(60),
        };
        let care = |provider_id, patient_id, access| {
            Some(CareRelationship {
                provider_id,
                patient_id,
                access,
            })
        };
        let cases = [
            // a provider inside a care window with the patient: a booking, or a follow-up
            (Role::Provider, patient, care(me, patient, active), Allow),
            (Role::Provider, patient, care(me, patient, follow_up), Allow),
            // …but not outside every window (too early, cancelled, follow-up over)
            (
                Role::Provider,
                patient,
                care(me, patient, CareAccess::None),
                Deny,
            ),
            // …nor without any appointment, nor with a window that names another pair
            (Role::Provider, patient, None, Deny),
            (
                Role::Provider,
                patient,
                care(me, other_patient, active),
                Deny,
            ),
            (
                Role::Provider,
                patient,
                care(Uuid::now_v7(), patient, active),
                Deny,
            ),
            // patients: their own only, whatever care says
            (Role::Patient, me, None, Allow),
            (Role::Patient, patient, None, Deny),
            (Role::Patient, patient, care(me, patient, active), Deny),
            // the front desk: anyone
            (Role::Staff, patient, None, Allow),
            (Role::Admin, patient, None, Allow),
        ];
        for (role, target, found, expected) in cases {
            assert_eq!(
                can_read_patient_summary(&actor(role, me), target, found),
                expected,
                "{role:?} → {target} with {found:?}"
            );
        }
    }

    #[test]
    fn a_care_relationship_does_not_open_the_full_profile() {
        let (provider, patient) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            can_access_patient(&actor(Role::Provider, provider), patient),
            Deny
        );
    }

    #[test]
    fn the_front_desk_and_providers_search_patients() {
        let id = Uuid::now_v7();
        for (role, expected) in [
            (Role::Patient, Deny),
            (Role::Provider, Allow),
            (Role::Staff, Allow),
            (Role::Admin, Allow),
        ] {
            assert_eq!(can_search_patients(&actor(role, id)), expected, "{role:?}");
        }
    }

    #[test]
    fn only_patients_have_a_me_profile() {
        let id = Uuid::now_v7();
        assert_eq!(own_patient_id(&actor(Role::Patient, id)), Some(id));
        for role in [Role::Provider, Role::Staff, Role::Admin] {
            assert_eq!(own_patient_id(&actor(role, id)), None);
        }
    }

    #[test]
    fn ids_claimed_for_another_role_are_ignored() {
        // A staff token that somehow carries patient_id does not act as that patient…
        let claims = Claims {
            sub: Uuid::now_v7(),
            role: Role::Provider,
            iss: "i".into(),
            aud: "a".into(),
            exp: 0,
            iat: 0,
            jti: Uuid::now_v7(),
            patient_id: Some(Uuid::now_v7()),
            provider_id: None,
            scope: None,
        };
        let a = Actor::from(&claims);
        assert_eq!(a.patient_id, None);
        assert_eq!(can_access_patient(&a, claims.patient_id.unwrap()), Deny);
    }
}

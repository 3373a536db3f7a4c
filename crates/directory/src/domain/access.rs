//! Who may read and change which profile, as pure decisions (tested as a matrix).
//!
//! - Provider profiles: any signed-in user reads them; the provider edits their
//!   own; staff and admins edit any.
//! - Patient profiles: a patient reads and edits their own; staff and admins any.
//!   Everyone else — providers, and patients asking for someone else — is
//!   refused with 403 *before* any lookup, so the answer never reveals whether
//!   a patient exists.

use platform::auth::Role;
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

/// The patient id behind `/patients/me`, for patients only.
pub fn own_patient_id(actor: &Actor) -> Option<Uuid> {
    actor.patient_id
}

#[cfg(test)]
mod tests {
    use super::*;
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
        };
        let a = Actor::from(&claims);
        assert_eq!(a.patient_id, None);
        assert_eq!(can_access_patient(&a, claims.patient_id.unwrap()), Deny);
    }
}

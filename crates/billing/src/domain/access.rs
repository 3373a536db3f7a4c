//! Who may see and change which invoices and patient accounts, as pure
//! decisions (tested as a matrix).
//!
//! - Invoices: staff and admins see and manage all; a patient reads their own;
//!   a provider reads those of their appointments. Everyone else is told the
//!   invoice does not exist (404), so ids cannot be probed.
//! - A patient's account (insurance details, balance): the patient themself,
//!   staff and admins. Others are refused (403) before any lookup, so the
//!   answer never reveals whether billing knows the patient.
//! - Insurance details on an invoice are shown to those who may see the
//!   patient's account, not to providers (they do not need member ids).

use platform::auth::Role;
use uuid::Uuid;

pub use platform::auth::{Actor, Decision};

/// What the caller may do with one invoice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum InvoiceAccess {
    /// The invoice does not exist for them (404).
    None,
    /// They may read it (changes are 403).
    Read,
    /// They may read it and record payments, credits, refunds, voids.
    Manage,
}

fn is_office(role: Role) -> bool {
    matches!(role, Role::Staff | Role::Admin)
}

/// Access to the invoice of `patient_id` for an appointment with `provider_id`.
pub fn invoice_access(actor: &Actor, patient_id: Uuid, provider_id: Uuid) -> InvoiceAccess {
    if is_office(actor.role) {
        InvoiceAccess::Manage
    } else if actor.patient_id == Some(patient_id) || actor.provider_id == Some(provider_id) {
        InvoiceAccess::Read
    } else {
        InvoiceAccess::None
    }
}

/// Read or change patient `patient_id`'s account: insurance details, balance.
pub fn can_access_account(actor: &Actor, patient_id: Uuid) -> Decision {
    Decision::from_bool(is_office(actor.role) || actor.patient_id == Some(patient_id))
}

/// Which invoices a list may show the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListScope {
    All,
    Patient(Uuid),
    Provider(Uuid),
    /// A token that names no patient or provider sees nothing.
    Nothing,
}

pub fn list_scope(actor: &Actor) -> ListScope {
    match actor.role {
        Role::Staff | Role::Admin => ListScope::All,
        Role::Patient => actor
            .patient_id
            .map_or(ListScope::Nothing, ListScope::Patient),
        Role::Provider => actor
            .provider_id
            .map_or(ListScope::Nothing, ListScope::Provider),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::auth::Claims;
    use InvoiceAccess::{Manage, None as Hidden, Read};

    fn actor(role: Role, id: Uuid) -> Actor {
        Actor {
            user_id: id,
            role,
            patient_id: (role == Role::Patient).then_some(id),
            provider_id: (role == Role::Provider).then_some(id),
        }
    }

    #[test]
    fn the_invoice_access_matrix() {
        let (patient, other_patient, provider, other_provider, office) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let cases = [
            (actor(Role::Patient, patient), Read),
            (actor(Role::Patient, other_patient), Hidden),
            (actor(Role::Provider, provider), Read),
            (actor(Role::Provider, other_provider), Hidden),
            (actor(Role::Staff, office), Manage),
            (actor(Role::Admin, office), Manage),
            // A patient who happens to share the provider's id is still only a patient.
            (actor(Role::Patient, provider), Hidden),
            (actor(Role::Provider, patient), Hidden),
        ];
        for (who, want) in cases {
            assert_eq!(invoice_access(&who, patient, provider), want, "{who:?}");
        }
    }

    #[test]
    fn the_account_access_matrix() {
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let cases = [
            (Role::Patient, me, Decision::Allow),
            (Role::Patient, other, Decision::Deny),
            (Role::Provider, me, Decision::Deny),
            (Role::Provider, other, Decision::Deny),
            (Role::Staff, other, Decision::Allow),
            (Role::Admin, other, Decision::Allow),
        ];
        for (role, target, want) in cases {
            assert_eq!(
                can_access_account(&actor(role, me), target),
                want,
                "{role:?} → {target}"
            );
        }
    }

    #[test]
    fn lists_are_scoped_by_role() {
        let id = Uuid::now_v7();
        assert_eq!(
            list_scope(&actor(Role::Patient, id)),
            ListScope::Patient(id)
        );
        assert_eq!(
            list_scope(&actor(Role::Provider, id)),
            ListScope::Provider(id)
        );
        assert_eq!(list_scope(&actor(Role::Staff, id)), ListScope::All);
        assert_eq!(list_scope(&actor(Role::Admin, id)), ListScope::All);
        let no_claim = Actor {
            user_id: id,
            role: Role::Patient,
            patient_id: None,
            provider_id: None,
        };
        assert_eq!(list_scope(&no_claim), ListScope::Nothing);
    }

    #[test]
    fn ids_claimed_for_another_role_are_ignored() {
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
        assert_eq!(
            invoice_access(&a, claims.patient_id.unwrap_or_default(), Uuid::now_v7()),
            Hidden
        );
    }
}

//! Who may do what with appointments and a provider's calendar.

use platform::auth::Role;
use uuid::Uuid;

pub use platform::auth::Actor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    View,
    Cancel,
    Reschedule,
    /// Check in, complete, no-show: the clinic's side of the visit.
    RecordVisit,
}

/// Whether `actor` may perform `op` on an appointment between these two.
pub fn may(actor: Actor, op: Operation, patient_id: Uuid, provider_id: Uuid) -> bool {
    match actor.role {
        Role::Staff | Role::Admin => true,
        Role::Provider => actor.user_id == provider_id,
        Role::Patient => actor.user_id == patient_id && op != Operation::RecordVisit,
    }
}

/// Patients book for themselves; staff for any patient; providers do not book.
pub fn may_book_for(actor: Actor, patient_id: Uuid) -> bool {
    match actor.role {
        Role::Staff | Role::Admin => true,
        Role::Patient => actor.user_id == patient_id,
        Role::Provider => false,
    }
}

/// Waiving a late fee (a late reschedule's): staff and admins only, who answer
/// for it with a reason. Providers do not charge for moving their own visits,
/// and a patient cannot waive their own fee.
pub fn may_waive_fee(actor: Actor) -> bool {
    matches!(actor.role, Role::Staff | Role::Admin)
}

/// Setting a waitlist priority: staff and admins, who run the clinic's list.
pub fn may_manage_waitlist(actor: Actor) -> bool {
    matches!(actor.role, Role::Staff | Role::Admin)
}

/// Availability, time off and appointment types: the provider and staff.
pub fn may_manage_calendar(actor: Actor, provider_id: Uuid) -> bool {
    match actor.role {
        Role::Staff | Role::Admin => true,
        Role::Provider => actor.user_id == provider_id,
        Role::Patient => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_appointment_access_matrix() {
        let (patient, other_patient, provider, other_provider, staff) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let actors = [
            (
                Actor::new(patient, Role::Patient),
                [true, true, true, false],
            ),
            (Actor::new(other_patient, Role::Patient), [false; 4]),
            (Actor::new(provider, Role::Provider), [true; 4]),
            (Actor::new(other_provider, Role::Provider), [false; 4]),
            (Actor::new(staff, Role::Staff), [true; 4]),
            (Actor::new(staff, Role::Admin), [true; 4]),
        ];
        let ops = [
            Operation::View,
            Operation::Cancel,
            Operation::Reschedule,
            Operation::RecordVisit,
        ];
        for (actor, expected) in actors {
            for (op, want) in ops.iter().zip(expected) {
                assert_eq!(may(actor, *op, patient, provider), want, "{actor:?} {op:?}");
            }
        }
    }

    #[test]
    fn booking_and_calendar_rights() {
        let (me, you) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(may_book_for(Actor::new(me, Role::Patient), me));
        assert!(!may_book_for(Actor::new(me, Role::Patient), you));
        assert!(may_book_for(Actor::new(me, Role::Staff), you));
        assert!(!may_book_for(Actor::new(me, Role::Provider), you));
        assert!(may_manage_calendar(Actor::new(me, Role::Provider), me));
        assert!(!may_manage_calendar(Actor::new(me, Role::Provider), you));
        assert!(may_manage_calendar(Actor::new(me, Role::Staff), you));
        assert!(!may_manage_calendar(Actor::new(me, Role::Patient), me));
        assert!(may_waive_fee(Actor::new(me, Role::Staff)));
        assert!(may_waive_fee(Actor::new(me, Role::Admin)));
        assert!(!may_waive_fee(Actor::new(me, Role::Provider)));
        assert!(!may_waive_fee(Actor::new(me, Role::Patient)));
        assert!(may_manage_waitlist(Actor::new(me, Role::Staff)));
        assert!(may_manage_waitlist(Actor::new(me, Role::Admin)));
        assert!(!may_manage_waitlist(Actor::new(me, Role::Provider)));
        assert!(!may_manage_waitlist(Actor::new(me, Role::Patient)));
    }
}

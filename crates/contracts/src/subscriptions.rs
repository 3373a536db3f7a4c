//! Who consumes what: every consumer's queue purpose and the routing keys it
//! binds. Services build their queues from these, and the AsyncAPI document
//! lists them, so the two cannot drift apart.

use crate::{scheduling::APPOINTMENT_EVENTS, Service};

/// One consumer: a durable queue `<prefix>.<name>` bound to `events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub service: Service,
    /// Stable name (`billing.appointments`); keys `processed_events`, so it is
    /// never reused for another purpose.
    pub name: &'static str,
    /// What the consumer does with the events.
    pub purpose: &'static str,
    /// Routing keys, each an event type of the catalog.
    pub events: &'static [&'static str],
}

pub const DIRECTORY_USERS: Subscription = Subscription {
    service: Service::Directory,
    name: "directory.users",
    purpose: "Creates a provider or patient profile for each new account.",
    events: &["user.registered"],
};

pub const DIRECTORY_CARE: Subscription = Subscription {
    service: Service::Directory,
    name: "directory.care",
    purpose: "Keeps care relationships, which open a patient's summary to their providers.",
    events: &APPOINTMENT_EVENTS,
};

pub const SCHEDULING_PEOPLE: Subscription = Subscription {
    service: Service::Scheduling,
    name: "scheduling.people",
    purpose: "Keeps the providers (with their time zones) and patients that can book.",
    events: &["user.registered", "provider.updated"],
};

pub const NOTIFICATIONS_APPOINTMENTS: Subscription = Subscription {
    service: Service::Notifications,
    name: "notifications.appointments",
    purpose: "Emails confirmations, reschedules and cancellations with calendar files, and plans reminders; puts the self-service links of each version in its patient's confirmation and reminders; emails waitlist offers; keeps each visit's status for the providers' calendar feeds; takes a lapsed or released offer's tentative calendar entry back.",
    events: &[
        "appointment.booked",
        "appointment.rescheduled",
        "appointment.cancelled",
        "appointment.checked_in",
        "appointment.completed",
        "appointment.no_show",
        "hold.expired",
        "hold.released",
        "appointment.links_issued",
        "waitlist.offered",
    ],
};

pub const NOTIFICATIONS_RECORDS: Subscription = Subscription {
    service: Service::Notifications,
    name: "notifications.records",
    purpose: "Tells the patient and the clinic's privacy contact at once when a record is opened by break-glass.",
    events: &["record.break_glass_granted"],
};

pub const NOTIFICATIONS_ACCOUNTS: Subscription = Subscription {
    service: Service::Notifications,
    name: "notifications.accounts",
    purpose: "Emails account links and alerts: verification, reset, a registration attempt, a changed password, unusual sign-ins.",
    events: &[
        "user.verification_requested",
        "user.registration_attempted",
        "user.password_reset_requested",
        "user.password_changed",
        "user.signin_alert",
    ],
};

pub const NOTIFICATIONS_PEOPLE: Subscription = Subscription {
    service: Service::Notifications,
    name: "notifications.people",
    purpose: "Keeps names and addresses to write to.",
    events: &["user.registered", "patient.updated", "provider.updated"],
};

pub const BILLING_APPOINTMENTS: Subscription = Subscription {
    service: Service::Billing,
    name: "billing.appointments",
    purpose: "Keeps appointments and invoices completed visits, late cancellations (a late reschedule counts as one) and no-shows.",
    events: &[
        "appointment.completed",
        "appointment.cancelled",
        "appointment.no_show",
        "appointment.booked",
        "appointment.rescheduled",
    ],
};

pub const RECORDS_CARE: Subscription = Subscription {
    service: Service::Records,
    name: "records.care",
    purpose: "Keeps care relationships, which decide who may open a patient's record.",
    events: &APPOINTMENT_EVENTS,
};

pub const RECORDS_PATIENTS: Subscription = Subscription {
    service: Service::Records,
    name: "records.patients",
    purpose: "Keeps the patients that exist, so an unknown id is told apart from an empty record.",
    events: &["user.registered"],
};

/// Every consumer of every service.
pub const ALL: &[Subscription] = &[
    DIRECTORY_USERS,
    DIRECTORY_CARE,
    SCHEDULING_PEOPLE,
    NOTIFICATIONS_APPOINTMENTS,
    NOTIFICATIONS_RECORDS,
    NOTIFICATIONS_ACCOUNTS,
    NOTIFICATIONS_PEOPLE,
    BILLING_APPOINTMENTS,
    RECORDS_CARE,
    RECORDS_PATIENTS,
];

/// The consumers `service` runs.
pub fn of(service: Service) -> impl Iterator<Item = &'static Subscription> {
    ALL.iter().filter(move |s| s.service == service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscription_binds_only_events_in_the_catalog_from_other_services() {
        for s in ALL {
            for e in s.events {
                let producer = crate::producer_of(e);
                assert!(producer.is_some(), "{} binds unknown {e}", s.name);
                assert_ne!(producer, Some(s.service), "{} consumes its own {e}", s.name);
            }
            assert!(s.name.starts_with(s.service.as_str()), "{}", s.name);
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(ALL[i + 1..].iter().all(|b| b.name != a.name), "{}", a.name);
        }
    }
}

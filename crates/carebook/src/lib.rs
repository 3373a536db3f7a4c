//! What the `carebook` binary runs, as a library: the system tests start the very
//! same services, queues and demo data the binary does.

pub mod certs;
pub mod dlq;
pub mod provision;
pub mod seed;
#[cfg(feature = "testing")]
pub mod stack;

use platform::events::ConsumerSpec;

/// The services `serve all` runs in one process (the gateway routes to them).
pub const SERVED_IN_PROCESS: &[&str] = &[
    "identity",
    "directory",
    "scheduling",
    "notifications",
    "billing",
    "records",
    "portal",
    "fhir",
];

/// The services that own a database (the portal keeps only sessions, in Redis;
/// fhir keeps nothing).
pub const WITH_DATABASE: &[&str] = &[
    "identity",
    "directory",
    "scheduling",
    "notifications",
    "billing",
    "records",
];

/// The processes that keep state in Redis, each under its own key prefix
/// (and ACL user).
pub const WITH_REDIS: &[&str] = &[
    "identity",
    "directory",
    "scheduling",
    "notifications",
    "billing",
    "records",
    "portal",
    "gateway",
];

/// The queues `service` consumes from, so `migrate` can declare them before the
/// service first runs and events published meanwhile wait for it.
pub fn consumer_specs(service: &str, queue_prefix: &str) -> Vec<ConsumerSpec> {
    match service {
        "directory" => vec![
            directory::consumers::registrations_spec(queue_prefix),
            directory::consumers::care_spec(queue_prefix),
        ],
        "scheduling" => vec![scheduling::consumers::spec(queue_prefix)],
        "notifications" => vec![
            notifications::consumers::appointments_spec(queue_prefix),
            notifications::consumers::records_spec(queue_prefix),
            notifications::consumers::accounts_spec(queue_prefix),
            notifications::consumers::people_spec(queue_prefix),
        ],
        "billing" => vec![billing::consumers::spec(queue_prefix)],
        "records" => vec![
            records::consumers::care_spec(queue_prefix),
            records::consumers::patients_spec(queue_prefix),
        ],
        _ => Vec::new(),
    }
}

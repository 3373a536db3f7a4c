//! Carebook's event contracts: the one definition of every domain event that
//! crosses a service line — its payload type, routing key, version, the service
//! that publishes it and the consumers that read it.
//!
//! Each producing service owns a module (`contracts::scheduling`,
//! `contracts::billing`, …). Producers publish these types and consumers decode
//! these types; no service keeps a copy. A consumer that needs fewer fields reads
//! the same type and ignores the rest.
//!
//! # Versioning
//!
//! - Within a version, a payload may only grow: a new field must be optional
//!   (`#[serde(default)]`), so every consumer built against the older shape still
//!   decodes it, and every consumer of the newer shape decodes older events.
//! - Anything else — removing or renaming a field, changing its type, making a
//!   field required, changing an enum's values — is a new version. The new
//!   version is published *beside* the old one (both routing keys carry the
//!   type; the envelope's `version` tells them apart) until every consumer has
//!   moved; then the old one is retired.
//! - `schemas/<type>.v<version>.json` holds the JSON schema each version had when
//!   it was published. The `contracts` tests fail when a payload's shape changes:
//!   an additive change is accepted by regenerating the snapshot
//!   (`CAREBOOK_BLESS=1`); any other change is refused until the version is bumped.
//! - `docs/asyncapi.yaml` is generated from this crate ([`asyncapi::document`]);
//!   a test fails when the committed file is stale.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Declares the events of a family that share one payload: a zero-sized type
/// per routing key, each an [`Event`] whose payload is `$payload`.
macro_rules! family {
    ($payload:ty, $producer:expr, $example:path; $($(#[$doc:meta])* $name:ident = $key:literal version $version:literal: $summary:literal;)+) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug)]
            pub struct $name;

            impl $crate::Event for $name {
                type Payload = $payload;
                const TYPE: &'static str = $key;
                const VERSION: u32 = $version;
                const PRODUCER: $crate::Service = $producer;
                const SUMMARY: &'static str = $summary;

                fn example() -> $payload {
                    $example(Self::TYPE)
                }
            }
        )+
    };
}

mod examples;

pub mod asyncapi;
pub mod billing;
pub mod compatibility;
pub mod directory;
pub mod identity;
pub mod records;
pub mod scheduling;
#[cfg(feature = "sqlx")]
mod storage;
pub mod subscriptions;
pub mod time_zone;

pub use subscriptions::Subscription;

/// The services that publish or consume events; the envelope's `source` and the
/// broker user each publishes as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Identity,
    Directory,
    Scheduling,
    Notifications,
    Billing,
    Records,
}

impl Service {
    pub const ALL: [Service; 6] = [
        Service::Identity,
        Service::Directory,
        Service::Scheduling,
        Service::Notifications,
        Service::Billing,
        Service::Records,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Service::Identity => "identity",
            Service::Directory => "directory",
            Service::Scheduling => "scheduling",
            Service::Notifications => "notifications",
            Service::Billing => "billing",
            Service::Records => "records",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A user's role; exactly one per account. Part of `user.registered` and of
/// every access token.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Patient,
    Provider,
    Staff,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Patient, Role::Provider, Role::Staff, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Provider => "provider",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}"))
    }
}

/// An amount in integer minor units of an ISO 4217 currency (no floats anywhere),
/// on the wire `{"amount_minor": 4500, "currency": "EUR"}`.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
pub struct Money {
    /// Integer minor units (cents); negative only on credits and balances.
    pub amount_minor: i64,
    /// ISO 4217 alphabetic code (`EUR`, `USD`, `INR`).
    #[schema(example = "EUR")]
    pub currency: String,
}

/// One domain event: a routing key, the version of its payload's shape, the
/// service allowed to publish it, and the payload type.
///
/// Events of one family that share a payload (`appointment.*`) are zero-sized
/// types naming the event, with the shared payload as [`Event::Payload`];
/// an event with a payload of its own is that payload.
pub trait Event: 'static {
    type Payload: Serialize + DeserializeOwned + JsonSchema;
    /// The routing key and the envelope's `type`.
    const TYPE: &'static str;
    /// The version of the payload's shape (the envelope's `version`).
    const VERSION: u32;
    /// The only service that may publish it.
    const PRODUCER: Service;
    /// One sentence: what happened.
    const SUMMARY: &'static str;
    /// The payload holds a secret or free text meant for one reader (a
    /// single-use token, a break-glass reason): the producer's outbox forgets
    /// it as soon as the broker has it, instead of keeping it for days.
    const SENSITIVE: bool = false;
    /// A typical payload, for the AsyncAPI document and the round-trip tests.
    fn example() -> Self::Payload;
}

/// An event as data: what the catalog, the AsyncAPI document and the schema
/// snapshots need without knowing the type.
#[derive(Clone, Copy)]
pub struct EventSpec {
    pub event_type: &'static str,
    pub version: u32,
    pub producer: Service,
    pub summary: &'static str,
    /// See [`Event::SENSITIVE`].
    pub sensitive: bool,
    /// The payload type's name (`Appointment`, `UserRegistered`).
    pub payload_name: fn() -> String,
    /// The payload's schema as a subschema of `generator` (usually a `$ref`).
    pub payload_schema: fn(&mut SchemaGenerator) -> Schema,
    /// [`Event::example`] as JSON.
    pub example: fn() -> serde_json::Value,
    /// Decode `data` as the payload and encode it again (what a consumer reads).
    pub round_trip: fn(&serde_json::Value) -> Result<serde_json::Value, serde_json::Error>,
}

impl EventSpec {
    pub const fn of<E: Event>() -> Self {
        Self {
            event_type: E::TYPE,
            version: E::VERSION,
            producer: E::PRODUCER,
            summary: E::SUMMARY,
            sensitive: E::SENSITIVE,
            payload_name: payload_name::<E>,
            payload_schema: payload_schema::<E>,
            example: example::<E>,
            round_trip: round_trip::<E>,
        }
    }

    /// The payload's JSON schema (draft-07) on its own, definitions included:
    /// what `schemas/<type>.v<version>.json` keeps.
    pub fn schema(&self) -> serde_json::Value {
        let mut generator = schemars::generate::SchemaSettings::draft07().into_generator();
        let mut root = (self.payload_schema)(&mut generator).to_value();
        let definitions = generator.take_definitions(true);
        if let Some(object) = root.as_object_mut() {
            object.insert(
                "$schema".into(),
                "http://json-schema.org/draft-07/schema#".into(),
            );
            if !definitions.is_empty() {
                object.insert("definitions".into(), definitions.into());
            }
        }
        root
    }

    /// The consumers that bind this event's routing key.
    pub fn consumers(&self) -> impl Iterator<Item = &'static Subscription> + '_ {
        subscriptions::ALL
            .iter()
            .filter(move |s| s.events.contains(&self.event_type))
    }
}

fn payload_name<E: Event>() -> String {
    E::Payload::schema_name().into_owned()
}

fn payload_schema<E: Event>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<E::Payload>()
}

fn example<E: Event>() -> serde_json::Value {
    // A payload of plain fields always serializes; the round-trip tests check it.
    serde_json::to_value(E::example()).unwrap_or(serde_json::Value::Null)
}

fn round_trip<E: Event>(data: &serde_json::Value) -> Result<serde_json::Value, serde_json::Error> {
    let payload = E::Payload::deserialize(data)?;
    serde_json::to_value(payload)
}

/// Every event of every service, each (type, version) once.
pub const CATALOG: &[EventSpec] = &[
    EventSpec::of::<identity::UserRegistered>(),
    EventSpec::of::<identity::VerificationRequested>(),
    EventSpec::of::<identity::RegistrationAttempted>(),
    EventSpec::of::<identity::PasswordResetRequested>(),
    EventSpec::of::<identity::PasswordChanged>(),
    EventSpec::of::<identity::SigninAlert>(),
    EventSpec::of::<directory::ProviderUpdated>(),
    EventSpec::of::<directory::PatientUpdated>(),
    EventSpec::of::<scheduling::AppointmentBooked>(),
    EventSpec::of::<scheduling::AppointmentRescheduled>(),
    EventSpec::of::<scheduling::AppointmentCancelled>(),
    EventSpec::of::<scheduling::AppointmentCheckedIn>(),
    EventSpec::of::<scheduling::AppointmentCompleted>(),
    EventSpec::of::<scheduling::AppointmentNoShow>(),
    EventSpec::of::<scheduling::AppointmentLinksIssued>(),
    EventSpec::of::<scheduling::HoldCreated>(),
    EventSpec::of::<scheduling::HoldReleased>(),
    EventSpec::of::<scheduling::HoldExpired>(),
    EventSpec::of::<scheduling::HoldConverted>(),
    EventSpec::of::<scheduling::WaitlistJoined>(),
    EventSpec::of::<scheduling::WaitlistOffered>(),
    EventSpec::of::<scheduling::WaitlistFulfilled>(),
    EventSpec::of::<scheduling::WaitlistLeft>(),
    EventSpec::of::<billing::InvoiceIssued>(),
    EventSpec::of::<billing::InvoicePaid>(),
    EventSpec::of::<billing::InvoiceVoided>(),
    EventSpec::of::<records::RecordAccessed>(),
    EventSpec::of::<records::BreakGlassGranted>(),
];

/// The contract for an event as published: its type and version.
pub fn find(event_type: &str, version: u32) -> Option<&'static EventSpec> {
    CATALOG
        .iter()
        .find(|e| e.event_type == event_type && e.version == version)
}

/// The event types whose published outbox rows are deleted at once.
pub fn sensitive_types() -> Vec<&'static str> {
    CATALOG
        .iter()
        .filter(|e| e.sensitive)
        .map(|e| e.event_type)
        .collect()
}

/// The service allowed to publish `event_type` (any version).
pub fn producer_of(event_type: &str) -> Option<Service> {
    CATALOG
        .iter()
        .find(|e| e.event_type == event_type)
        .map(|e| e.producer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_and_version_is_in_the_catalog_once() {
        for (i, a) in CATALOG.iter().enumerate() {
            for b in &CATALOG[i + 1..] {
                assert!(
                    (a.event_type, a.version) != (b.event_type, b.version),
                    "{} v{} twice",
                    a.event_type,
                    a.version
                );
            }
        }
    }

    #[test]
    fn every_type_has_one_producer_whose_name_prefixes_nothing_else() {
        for e in CATALOG {
            assert_eq!(producer_of(e.event_type), Some(e.producer));
            assert_eq!(
                find(e.event_type, e.version).map(|f| f.version),
                Some(e.version)
            );
        }
        assert_eq!(producer_of("appointment.booked"), Some(Service::Scheduling));
        assert_eq!(producer_of("appointment.teleported"), None);
        assert!(find("appointment.booked", 99).is_none());
    }

    #[test]
    fn roles_and_services_parse_what_they_print() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
        for s in Service::ALL {
            assert_eq!(Service::parse(s.as_str()), Some(s));
        }
    }
}

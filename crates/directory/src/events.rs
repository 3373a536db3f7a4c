//! What the directory publishes and consumes.
//!
//! Consumes `user.registered` (identity): a provider account gets a provider
//! profile with defaults, a patient account a patient profile; staff and admins
//! have none. Consumes `appointment.*` (scheduling): a provider and a patient
//! with an appointment together have a care relationship, which lets the
//! provider read the patient's summary. Publishes `provider.updated` and
//! `patient.updated` (v1) through the outbox, in the transaction of every
//! change — creation included, so scheduling learns a provider's time zone
//! from the start.

use async_trait::async_trait;
use platform::{
    auth::Role,
    events::{outbox, ConsumerSpec, Envelope, EventHandler, HandleError},
};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    domain::{access::CareRelationship, provider::ProviderProfile},
    store::{self, PatientRow, ProviderRow},
};

pub const SOURCE: &str = "directory";
pub const USER_REGISTERED: &str = "user.registered";
pub const PROVIDER_UPDATED: &str = "provider.updated";
pub const PATIENT_UPDATED: &str = "patient.updated";

/// `user.registered` v1, as identity publishes it.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub role: Role,
    pub name: String,
    pub email: String,
}

/// `provider.updated` v1: what other services keep about a provider.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProviderUpdated {
    pub provider_id: Uuid,
    pub name: String,
    pub specialty: String,
    /// IANA name; scheduling computes availability in it.
    pub time_zone: String,
    pub accepting_new_patients: bool,
}

/// `patient.updated` v1: what other services keep about a patient.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PatientUpdated {
    pub patient_id: Uuid,
    pub name: String,
    pub email: String,
    pub preferred_provider_id: Option<Uuid>,
}

/// `appointment.*` v1 as scheduling publishes it (the fields the directory
/// reads). Every appointment event type shares this payload, so any of them
/// tells who is in whose care: a pair the directory missed (an appointment
/// booked before it consumed these events) is learned at the appointment's
/// next change.
#[derive(Debug, Deserialize)]
pub struct AppointmentChanged {
    pub appointment_id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
}

pub fn provider_updated(row: &ProviderRow) -> Result<Envelope, serde_json::Error> {
    Envelope::new(
        PROVIDER_UPDATED,
        1,
        SOURCE,
        &ProviderUpdated {
            provider_id: row.id,
            name: row.name.clone(),
            specialty: row.specialty.clone(),
            time_zone: row.time_zone.clone(),
            accepting_new_patients: row.accepting_new_patients,
        },
    )
}

pub fn patient_updated(row: &PatientRow) -> Result<Envelope, serde_json::Error> {
    Envelope::new(
        PATIENT_UPDATED,
        1,
        SOURCE,
        &PatientUpdated {
            patient_id: row.id,
            name: row.name.clone(),
            email: row.email.clone(),
            preferred_provider_id: row.preferred_provider_id,
        },
    )
}

/// The consumer of identity's registrations (queue `<prefix>.directory.users`).
pub fn registrations_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::new(queue_prefix, "directory.users", &[USER_REGISTERED])
}

/// Creates profiles for new accounts, in the consumer's transaction.
pub struct Registrations;

#[async_trait]
impl EventHandler for Registrations {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        if event.event_type != USER_REGISTERED {
            return Ok(());
        }
        if event.version != 1 {
            return Err(HandleError::Malformed(format!(
                "user.registered v{} is not understood",
                event.version
            )));
        }
        let user: UserRegistered = event.data_as()?;
        let correlation = event.correlation_id.or(Some(event.id));
        let created = match user.role {
            Role::Provider => {
                let profile = ProviderProfile::initial(&user.name);
                match store::insert_provider(conn, user.user_id, &profile).await? {
                    Some(row) => Some(provider_updated(&row)?),
                    None => None,
                }
            }
            Role::Patient => {
                match store::insert_patient(conn, user.user_id, user.name.trim(), &user.email)
                    .await?
                {
                    Some(row) => Some(patient_updated(&row)?),
                    None => None,
                }
            }
            Role::Staff | Role::Admin => None,
        };
        match created {
            Some(update) => {
                outbox::enqueue(conn, &update.with_correlation(correlation)).await?;
                tracing::info!(user_id = %user.user_id, role = user.role.as_str(), "profile created");
            }
            None => {
                tracing::debug!(user_id = %user.user_id, role = user.role.as_str(), "no profile to create")
            }
        }
        Ok(())
    }
}

/// The consumer of scheduling's appointment events (queue `<prefix>.directory.care`).
pub fn care_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::new(queue_prefix, "directory.care", &["appointment.*"])
}

/// Keeps care relationships, in the consumer's transaction. The platform
/// consumer applies each event id once; the same pair under another event is
/// a no-op in the store.
pub struct CareRelationships;

#[async_trait]
impl EventHandler for CareRelationships {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        if event.version != 1 {
            return Err(HandleError::Malformed(format!(
                "{} v{} is not understood",
                event.event_type, event.version
            )));
        }
        let a: AppointmentChanged = event.data_as()?;
        let care = CareRelationship {
            provider_id: a.provider_id,
            patient_id: a.patient_id,
        };
        store::add_care_relationship(conn, &care, a.appointment_id, event.occurred_at).await?;
        tracing::debug!(
            appointment_id = %a.appointment_id,
            provider_id = %a.provider_id,
            patient_id = %a.patient_id,
            "care relationship noted"
        );
        Ok(())
    }
}

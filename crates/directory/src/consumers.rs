//! The directory's consumers. `user.registered` (identity): a provider account
//! gets a provider profile with defaults, a patient account a patient profile;
//! staff and admins have none. `appointment.*` (scheduling): a provider and a
//! patient with an appointment together have a care relationship, which lets
//! the provider read the patient's summary.

use async_trait::async_trait;
use contracts::{identity::UserRegistered, scheduling::Appointment};
use platform::{
    auth::Role,
    events::{outbox, ConsumerSpec, Envelope, EventHandler, HandleError},
};
use sqlx::PgConnection;

use crate::{
    domain::{access::CareRelationship, provider::ProviderProfile},
    events::{patient_updated, provider_updated},
    store,
};

/// The consumer of identity's registrations (queue `<prefix>.directory.users`).
pub fn registrations_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::of(queue_prefix, &contracts::subscriptions::DIRECTORY_USERS)
}

/// Creates profiles for new accounts, in the consumer's transaction.
pub struct Registrations;

#[async_trait]
impl EventHandler for Registrations {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let user = event.decode::<UserRegistered>()?;
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
    ConsumerSpec::of(queue_prefix, &contracts::subscriptions::DIRECTORY_CARE)
}

/// Keeps care relationships, in the consumer's transaction. The platform
/// consumer applies each event id once; the same pair under another event is
/// a no-op in the store.
pub struct CareRelationships;

#[async_trait]
impl EventHandler for CareRelationships {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        // The platform consumer let through only the appointment events of the
        // contract; every one of them carries the whole appointment.
        let a: Appointment = event.data_as()?;
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

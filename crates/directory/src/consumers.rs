//! The directory's consumers. `user.registered` (identity): a provider account
//! gets a provider profile with defaults, a patient account a patient profile
//! (with the time zone the browser reported, when it is a known one);
//! staff and admins have none. `appointment.*` (scheduling): each appointment
//! is kept as its latest event left it, so that its care window (booked,
//! completed, cancelled…) decides whether its provider reads the patient's
//! summary.

use async_trait::async_trait;
use contracts::{identity::UserRegistered, scheduling::Appointment};
use platform::{
    auth::Role,
    events::{outbox, ConsumerSpec, Envelope, EventHandler, HandleError},
};
use sqlx::PgConnection;

use crate::{
    domain::{care::closed_at, provider::ProviderProfile, TimeZone},
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
                // Identity checked the zone against the same tz database; a
                // name it does not know here is dropped rather than stored.
                let time_zone = user
                    .time_zone
                    .as_deref()
                    .and_then(|raw| TimeZone::parse(raw).ok());
                if user.time_zone.is_some() && time_zone.is_none() {
                    tracing::warn!(user_id = %user.user_id, "unknown time zone in user.registered ignored");
                }
                match store::insert_patient(
                    conn,
                    user.user_id,
                    user.name.trim(),
                    &user.email,
                    time_zone,
                )
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

/// Keeps each appointment's latest state, in the consumer's transaction. The
/// platform consumer applies each event id once; an event older than the one
/// stored (a lower appointment version) is a no-op in the store, so events
/// arriving out of order leave the newest state in place.
pub struct CareRelationships;

#[async_trait]
impl EventHandler for CareRelationships {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        // The platform consumer let through only the appointment events of the
        // contract; every one of them carries the whole appointment.
        let a: Appointment = event.data_as()?;
        let closed = closed_at(a.status, event.occurred_at);
        store::apply_appointment(conn, &a, closed).await?;
        tracing::debug!(
            appointment_id = %a.appointment_id,
            provider_id = %a.provider_id,
            patient_id = %a.patient_id,
            status = a.status.as_str(),
            version = a.version,
            "care visit applied"
        );
        Ok(())
    }
}

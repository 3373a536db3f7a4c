//! Scheduling's read models, kept from other services' events.

use async_trait::async_trait;
use chrono_tz::Tz;
use platform::{
    auth::Role,
    events::{ConsumerSpec, Envelope, EventHandler, HandleError},
};
use sqlx::PgConnection;

use contracts::{directory::ProviderUpdated, identity::UserRegistered, Event};

use crate::{cache::SlotCache, store::readmodel};

/// The consumer's queue: new users and provider profile changes.
pub fn spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::of(queue_prefix, &contracts::subscriptions::SCHEDULING_PEOPLE)
}

pub struct PeopleHandler {
    pub slots: SlotCache,
}

#[async_trait]
impl EventHandler for PeopleHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        match event.event_type.as_str() {
            UserRegistered::TYPE => {
                let user = event.decode::<UserRegistered>()?;
                match user.role {
                    Role::Patient => readmodel::ensure_patient(conn, user.user_id).await?,
                    Role::Provider => {
                        readmodel::ensure_provider(conn, user.user_id, &user.name).await?
                    }
                    Role::Staff | Role::Admin => {}
                }
            }
            ProviderUpdated::TYPE => {
                let p = event.decode::<ProviderUpdated>()?;
                if p.time_zone.parse::<Tz>().is_err() {
                    return Err(HandleError::Malformed(format!(
                        "unknown time zone for provider {}",
                        p.provider_id
                    )));
                }
                readmodel::upsert_provider_profile(
                    conn,
                    p.provider_id,
                    &p.name,
                    &p.time_zone,
                    &p.specialty,
                    event.occurred_at,
                )
                .await?;
            }
            other => return Err(HandleError::unsupported(other, event.version)),
        }
        Ok(())
    }

    /// A provider's new time zone moves every slot: abandon their cached days
    /// once the change is committed.
    async fn after_commit(&self, event: &Envelope) {
        if let Ok(p) = event.decode::<ProviderUpdated>() {
            self.slots.invalidate(p.provider_id).await;
        }
    }
}

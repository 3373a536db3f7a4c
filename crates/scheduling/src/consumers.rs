//! Scheduling's read models, kept from other services' events.

use async_trait::async_trait;
use chrono_tz::Tz;
use platform::{
    auth::Role,
    events::{ConsumerSpec, Envelope, EventHandler, HandleError},
};
use sqlx::PgConnection;

use crate::{
    events::{ProviderUpdated, UserRegistered},
    slot_cache::SlotCache,
    store::readmodel,
};

/// The consumer's queue: new users and provider profile changes.
pub fn spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::new(
        queue_prefix,
        "scheduling.people",
        &["user.registered", "provider.updated"],
    )
}

pub struct PeopleHandler {
    pub slots: SlotCache,
}

#[async_trait]
impl EventHandler for PeopleHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        match (event.event_type.as_str(), event.version) {
            ("user.registered", 1) => {
                let user: UserRegistered = event.data_as()?;
                match user.role {
                    Role::Patient => readmodel::ensure_patient(conn, user.user_id).await?,
                    Role::Provider => {
                        readmodel::ensure_provider(conn, user.user_id, &user.name).await?
                    }
                    Role::Staff | Role::Admin => {}
                }
            }
            ("provider.updated", 1) => {
                let p: ProviderUpdated = event.data_as()?;
                if p.time_zone.parse::<Tz>().is_err() {
                    return Err(HandleError::Malformed(format!(
                        "unknown time zone for provider {}",
                        p.provider_id
                    )));
                }
                readmodel::upsert_provider(
                    conn,
                    p.provider_id,
                    &p.name,
                    &p.time_zone,
                    event.occurred_at,
                )
                .await?;
            }
            (kind, version) => {
                return Err(HandleError::Malformed(format!(
                    "unsupported event {kind} v{version}"
                )));
            }
        }
        Ok(())
    }

    /// A provider's new time zone moves every slot: abandon their cached days
    /// once the change is committed.
    async fn after_commit(&self, event: &Envelope) {
        if event.event_type == "provider.updated" {
            if let Ok(p) = event.data_as::<ProviderUpdated>() {
                self.slots.invalidate(p.provider_id).await;
            }
        }
    }
}

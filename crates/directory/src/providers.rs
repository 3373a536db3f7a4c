//! Provider profiles: reading (cache-aside), searching and editing. Every edit
//! and its `provider.updated` event commit together.

use chrono::{DateTime, Utc};
use platform::events::outbox;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    cache::Entity,
    domain::{
        access::{can_edit_provider, Actor, Decision},
        cursor::next_page,
        provider::{ProviderInput, ProviderProfile},
        search::Search,
        Cursor,
    },
    error::Error,
    events,
    store::{self, ProviderRow},
    AppState,
};

/// A provider's public profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Provider {
    /// The provider's user id.
    pub id: Uuid,
    pub name: String,
    pub specialty: String,
    pub bio: String,
    /// BCP 47 language tags (`en`, `pt-BR`).
    pub languages: Vec<String>,
    pub location: String,
    /// IANA time zone name; availability is expressed in it.
    pub time_zone: String,
    pub accepting_new_patients: bool,
    pub updated_at: DateTime<Utc>,
}

impl From<ProviderRow> for Provider {
    fn from(r: ProviderRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            specialty: r.specialty,
            bio: r.bio,
            languages: r.languages,
            location: r.location,
            time_zone: r.time_zone,
            accepting_new_patients: r.accepting_new_patients,
            updated_at: r.updated_at,
        }
    }
}

/// One page of the listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderPage {
    pub items: Vec<Provider>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

pub async fn get(state: &AppState, id: Uuid) -> Result<Provider, Error> {
    if let Some(cached) = state.cache.get(Entity::Provider, id).await {
        return Ok(cached);
    }
    let row = store::provider(&state.db, id)
        .await?
        .ok_or(Error::ProviderNotFound)?;
    let version = row.version;
    let provider = Provider::from(row);
    state
        .cache
        .fill(Entity::Provider, id, version, &provider)
        .await;
    Ok(provider)
}

pub async fn search(state: &AppState, search: &Search) -> Result<ProviderPage, Error> {
    let mut rows = store::search_providers(&state.db, search).await?;
    let next_cursor = next_page(&mut rows, search.limit, |last| Cursor {
        name: last.name.clone(),
        id: last.id,
    });
    Ok(ProviderPage {
        items: rows.into_iter().map(Provider::from).collect(),
        next_cursor,
    })
}

/// Replace provider `id`'s profile (that provider, staff or admin).
pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    input: &ProviderInput<'_>,
) -> Result<Provider, Error> {
    if can_edit_provider(actor, id) == Decision::Deny {
        return Err(Error::Forbidden);
    }
    let profile = ProviderProfile::parse(input)?;
    let mut tx = state.db.begin().await?;
    let row = store::update_provider(&mut tx, id, &profile)
        .await?
        .ok_or(Error::ProviderNotFound)?;
    let event = events::provider_updated(&row).map_err(|e| Error::Internal(e.to_string()))?;
    outbox::enqueue(&mut tx, &event).await?;
    tx.commit().await?;
    state.relay.wake();
    state
        .cache
        .invalidate(Entity::Provider, id, row.version)
        .await;
    tracing::info!(provider_id = %id, actor_id = %actor.user_id, "provider profile updated");
    Ok(Provider::from(row))
}

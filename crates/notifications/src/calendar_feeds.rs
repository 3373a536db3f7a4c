//! A provider's calendar feed (issue 21): creating, rotating and ending it,
//! and rendering it for whoever holds its secret URL. The rules (who manages
//! a feed, what it lists, how an event reads) are in [`crate::domain::feed`].

use std::collections::HashMap;

use platform::{auth::Actor, Problem};
use uuid::Uuid;

use crate::{
    domain::feed::{self, FeedEntry, FeedToken},
    error::Error,
    store::{appointments, calendar_feeds, people},
    AppState,
};

pub use calendar_feeds::Feed;

/// 403 unless `actor` may manage `provider_id`'s feed.
fn authorize(actor: &Actor, provider_id: Uuid) -> Result<(), Error> {
    if feed::can_manage(actor, provider_id) {
        Ok(())
    } else {
        Err(Problem::forbidden().into())
    }
}

/// Create or replace `provider_id`'s feed; the new URL (shown only now) and
/// what was stored.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    provider_id: Uuid,
    patient_initials: bool,
) -> Result<(String, Feed), Error> {
    authorize(actor, provider_id)?;
    let token = FeedToken::generate();
    let stored = calendar_feeds::replace(
        &state.db,
        provider_id,
        &token.hash,
        patient_initials,
        state.clock.now(),
    )
    .await?;
    let url = state.portal_url.page(feed::FEED_PATH, &token.token);
    Ok((url, stored))
}

/// `provider_id`'s feed settings (never its URL).
pub async fn settings(state: &AppState, actor: &Actor, provider_id: Uuid) -> Result<Feed, Error> {
    authorize(actor, provider_id)?;
    calendar_feeds::get(&state.db, provider_id)
        .await?
        .ok_or(Error::FeedNotFound)
}

/// End `provider_id`'s feed: its URL answers 404 from now on.
pub async fn delete(state: &AppState, actor: &Actor, provider_id: Uuid) -> Result<(), Error> {
    authorize(actor, provider_id)?;
    if calendar_feeds::delete(&state.db, provider_id).await? {
        Ok(())
    } else {
        Err(Error::FeedNotFound)
    }
}

/// The `.ics` of the feed whose URL carries `token`; [`Error::FeedNotFound`]
/// for a token that is unknown or was replaced.
pub async fn render(state: &AppState, token: &str) -> Result<String, Error> {
    let found = calendar_feeds::by_token(&state.db, &feed::hash_token(token))
        .await?
        .ok_or(Error::FeedNotFound)?;
    let now = state.clock.now();
    let (from, to) = feed::window(now);
    let listed =
        appointments::for_provider(&state.db, found.provider_id, &feed::LISTED, from, to).await?;
    let mut ids: Vec<Uuid> = vec![found.provider_id];
    if found.patient_initials {
        ids.extend(listed.iter().map(|a| a.patient_id));
        ids.sort_unstable();
        ids.dedup();
    }
    let known = people::get_many(&state.db, &ids).await?;
    let names: HashMap<Uuid, &str> = known.iter().map(|p| (p.id, p.name.as_str())).collect();
    let name_of = |id: Uuid| names.get(&id).copied();
    let entries: Vec<FeedEntry<'_>> = listed
        .iter()
        .map(|a| FeedEntry {
            appointment: a,
            initials: if found.patient_initials {
                name_of(a.patient_id).and_then(feed::initials)
            } else {
                None
            },
        })
        .collect();
    Ok(feed::calendar(name_of(found.provider_id), &entries, now))
}

//! A provider's calendar: appointment types, availability, time off, free slots.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::{
    domain::{
        access::{may_manage_calendar, Actor},
        availability::{Availability, TimeOff},
        slots::{offered_slots, still_free, Slot, SlotQuery},
    },
    error::Error,
    store::{appointments, availability, readmodel, types, types::TypeRow},
    AppState,
};

/// The longest window one slot query may span.
pub const MAX_SLOT_WINDOW_DAYS: i64 = 31;

pub fn time_zone(name: &str, provider: Uuid) -> Tz {
    name.parse().unwrap_or_else(|_| {
        tracing::warn!(%provider, "provider has an unknown time zone; using UTC");
        Tz::UTC
    })
}

pub async fn provider(state: &AppState, id: Uuid) -> Result<readmodel::ProviderRow, Error> {
    readmodel::provider(&state.db, id)
        .await?
        .ok_or(Error::ProviderNotFound)
}

/// The type, if it belongs to `provider_id`.
pub async fn provider_type(
    state: &AppState,
    provider_id: Uuid,
    type_id: Uuid,
) -> Result<TypeRow, Error> {
    types::by_id(&state.db, type_id)
        .await?
        .filter(|t| t.provider_id == provider_id)
        .ok_or(Error::TypeNotFound)
}

pub fn ensure_manager(actor: Actor, provider_id: Uuid) -> Result<(), Error> {
    if may_manage_calendar(actor, provider_id) {
        Ok(())
    } else {
        Err(platform::Problem::forbidden().into())
    }
}

pub async fn add_type(state: &AppState, actor: Actor, row: TypeRow) -> Result<TypeRow, Error> {
    ensure_manager(actor, row.provider_id)?;
    provider(state, row.provider_id).await?;
    types::insert(&state.db, &row).await?;
    state.slots.invalidate(row.provider_id).await;
    Ok(row)
}

pub async fn set_availability(
    state: &AppState,
    actor: Actor,
    provider_id: Uuid,
    a: Availability,
) -> Result<(), Error> {
    ensure_manager(actor, provider_id)?;
    provider(state, provider_id).await?;
    a.validate()?;
    availability::replace(&state.db, provider_id, &a).await?;
    state.slots.invalidate(provider_id).await;
    Ok(())
}

pub async fn add_time_off(
    state: &AppState,
    actor: Actor,
    provider_id: Uuid,
    off: TimeOff,
    reason: Option<&str>,
) -> Result<Uuid, Error> {
    ensure_manager(actor, provider_id)?;
    provider(state, provider_id).await?;
    if off.end <= off.start {
        return Err(Error::invalid("end", "must be after start"));
    }
    if off.end - off.start > Duration::days(366) {
        return Err(Error::invalid("end", "time off may span at most a year"));
    }
    let id =
        availability::add_time_off(&state.db, provider_id, &off, reason, actor.user_id).await?;
    state.slots.invalidate(provider_id).await;
    Ok(id)
}

/// UTC days touching `[from, to)`.
fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<NaiveDate> {
    let last = (to - Duration::nanoseconds(1)).date_naive();
    from.date_naive()
        .iter_days()
        .take_while(|d| *d <= last)
        .collect()
}

/// Free slots of `type_id` with `provider_id` in `[from, to)`.
pub async fn free_slots(
    state: &AppState,
    provider_id: Uuid,
    type_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Slot>, Error> {
    if to <= from {
        return Err(Error::invalid("to", "must be after from"));
    }
    if to - from > Duration::days(MAX_SLOT_WINDOW_DAYS) {
        return Err(Error::invalid(
            "to",
            format!("a query may span at most {MAX_SLOT_WINDOW_DAYS} days"),
        ));
    }
    let provider = provider(state, provider_id).await?;
    let t = provider_type(state, provider_id, type_id).await?;
    let rules = t.rules();
    let tz = time_zone(&provider.time_zone, provider_id);
    let offered = offered_by_day(state, provider_id, tz, &t, &days(from, to)).await?;
    let busy = appointments::busy(
        &state.db,
        provider_id,
        from - Duration::days(1),
        to + Duration::days(1),
    )
    .await?;
    Ok(still_free(&rules, Utc::now(), &busy, &offered)
        .into_iter()
        .filter(|s| s.start >= from && s.start < to)
        .collect())
}

/// Offered slots day by day, from the cache where it has them.
async fn offered_by_day(
    state: &AppState,
    provider_id: Uuid,
    tz: Tz,
    t: &TypeRow,
    days: &[NaiveDate],
) -> Result<Vec<Slot>, Error> {
    let generation = state.slots.generation(provider_id).await;
    let cached = match generation {
        Some(g) => state.slots.get(provider_id, g, t.id, days).await,
        None => vec![None; days.len()],
    };
    let missing: Vec<NaiveDate> = days
        .iter()
        .zip(&cached)
        .filter(|(_, c)| c.is_none())
        .map(|(d, _)| *d)
        .collect();
    let mut computed = std::collections::HashMap::new();
    if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
        let start = first.and_time(chrono::NaiveTime::MIN).and_utc();
        let end = last.and_time(chrono::NaiveTime::MIN).and_utc() + Duration::days(1);
        let a =
            availability::load(&mut *state.db.acquire().await?, provider_id, start, end).await?;
        for day in &missing {
            let from = day.and_time(chrono::NaiveTime::MIN).and_utc();
            let q = SlotQuery {
                tz,
                availability: &a,
                rules: t.rules(),
                busy: &[],
                from,
                to: from + Duration::days(1),
                now: from,
            };
            let slots = offered_slots(&q);
            if let Some(g) = generation {
                state.slots.put(provider_id, g, t.id, *day, &slots).await;
            }
            computed.insert(*day, slots);
        }
    }
    Ok(days
        .iter()
        .zip(cached)
        .flat_map(|(d, c)| c.or_else(|| computed.remove(d)).unwrap_or_default())
        .collect())
}

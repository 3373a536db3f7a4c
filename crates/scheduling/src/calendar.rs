//! A provider's calendar: appointment types, availability, time off, free slots.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::{
    domain::{
        access::{may_manage_calendar, Actor},
        availability::{Availability, DateOverride, TimeOff},
        slots::{offered_slots, still_free, Busy, Slot, SlotQuery},
    },
    error::Error,
    store::{
        appointments, availability, readmodel, types,
        types::TypeRow,
        waitlist::{self, Cause},
    },
    AppState,
};

/// The longest window one slot query may span.
pub const MAX_SLOT_WINDOW_DAYS: i64 = 31;
/// The longest range one listing of time off or date overrides may span.
pub const MAX_LIST_WINDOW_DAYS: i64 = 366;

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

/// How far ahead new hours are offered to the waitlist (entries span at most this).
const NEW_HOURS_REACH_DAYS: i64 = crate::domain::waitlist::MAX_RANGE_DAYS;

/// After a change that may have opened hours (availability, an override,
/// time off removed): let the waitlist's backfill look at what is free now.
async fn hours_opened(state: &AppState, provider_id: Uuid) -> Result<(), Error> {
    let now = state.clock.now();
    let ahead = Busy {
        start: now,
        end: now + Duration::days(NEW_HOURS_REACH_DAYS),
    };
    waitlist::record_opening(&state.db, provider_id, ahead, Cause::Hours, now).await?;
    state.backfill.notify_one();
    Ok(())
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
    hours_opened(state, provider_id).await
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

/// The provider's time off overlapping `[from, to)` (at most
/// [`MAX_LIST_WINDOW_DAYS`] long), a page after `after`; one row more than
/// `limit` when a next page exists.
pub async fn list_time_off(
    state: &AppState,
    actor: Actor,
    provider_id: Uuid,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<availability::TimeOffRow>, Error> {
    ensure_manager(actor, provider_id)?;
    provider(state, provider_id).await?;
    if to <= from {
        return Err(Error::invalid("to", "must be after from"));
    }
    if to - from > Duration::days(MAX_LIST_WINDOW_DAYS) {
        return Err(Error::invalid(
            "to",
            format!("a listing may span at most {MAX_LIST_WINDOW_DAYS} days"),
        ));
    }
    Ok(availability::time_off(&state.db, provider_id, (from, to), after, limit + 1).await?)
}

/// Remove one stretch of time off: its hours can be booked again.
pub async fn remove_time_off(
    state: &AppState,
    actor: Actor,
    provider_id: Uuid,
    id: Uuid,
) -> Result<(), Error> {
    ensure_manager(actor, provider_id)?;
    provider(state, provider_id).await?;
    if !availability::delete_time_off(&state.db, provider_id, id).await? {
        return Err(Error::TimeOffNotFound);
    }
    state.slots.invalidate(provider_id).await;
    hours_opened(state, provider_id).await?;
    tracing::info!(%provider_id, time_off_id = %id, actor_id = %actor.user_id, "time off removed");
    Ok(())
}

/// The date overrides of `from` through `to` (at most [`MAX_LIST_WINDOW_DAYS`]
/// dates); `from` defaults to the provider's today, `to` to a year later.
pub async fn list_overrides(
    state: &AppState,
    provider_id: Uuid,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<DateOverride>, Error> {
    let p = provider(state, provider_id).await?;
    let today = state
        .clock
        .now()
        .with_timezone(&time_zone(&p.time_zone, provider_id))
        .date_naive();
    let from = from.unwrap_or(today);
    let to = to.unwrap_or(from + Duration::days(MAX_LIST_WINDOW_DAYS - 1));
    if to < from {
        return Err(Error::invalid("to", "must not be before from"));
    }
    if (to - from).num_days() >= MAX_LIST_WINDOW_DAYS {
        return Err(Error::invalid(
            "to",
            format!("a listing may span at most {MAX_LIST_WINDOW_DAYS} dates"),
        ));
    }
    Ok(availability::overrides(&state.db, provider_id, from, to).await?)
}

/// Set one date's override (its windows replace the weekly rules that day;
/// none: closed).
pub async fn put_override(
    state: &AppState,
    actor: Actor,
    provider_id: Uuid,
    mut o: DateOverride,
) -> Result<DateOverride, Error> {
    ensure_manager(actor, provider_id)?;
    provider(state, provider_id).await?;
    o.windows.sort();
    Availability {
        overrides: vec![o.clone()],
        ..Availability::default()
    }
    .validate()?;
    availability::put_override(&state.db, provider_id, &o).await?;
    state.slots.invalidate(provider_id).await;
    hours_opened(state, provider_id).await?;
    Ok(o)
}

/// Remove one date's override: the weekly rules apply that day again.
pub async fn remove_override(
    state: &AppState,
    actor: Actor,
    provider_id: Uuid,
    date: NaiveDate,
) -> Result<(), Error> {
    ensure_manager(actor, provider_id)?;
    provider(state, provider_id).await?;
    if !availability::delete_override(&state.db, provider_id, date).await? {
        return Err(Error::OverrideNotFound);
    }
    state.slots.invalidate(provider_id).await;
    hours_opened(state, provider_id).await
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
    let now = state.clock.now();
    // Bookings and live holds, from the database on every read (the cache
    // keeps only what the calendar offers, so a hold needs no invalidation).
    let busy = appointments::busy(
        &state.db,
        provider_id,
        from - Duration::days(1),
        to + Duration::days(1),
        now,
    )
    .await?;
    Ok(still_free(&rules, now, &busy, &offered)
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

//! A provider's calendar: appointment types, availability, time off, free slots.
//!
//! Changes to the hours (weekly rules, date overrides, time off) run under the
//! provider's calendar lock, the one booking takes, and bump the calendar's
//! version so a booking checked against the old hours checks again. A change
//! that would strand booked appointments (the provider no longer there for
//! them) answers 409 `availability-conflicts` listing them, unless the request
//! says what to do with them ([`OnConflict`]).

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    domain::{
        access::{may_manage_calendar, Actor},
        availability::{Availability, DateOverride, TimeOff},
        slots::{attended, local_date, offered_on_utc_day, still_free, Busy, Slot},
    },
    error::Error,
    store::{
        appointments, availability,
        holds::{self as holds_store, HoldRow},
        readmodel, types,
        types::TypeRow,
        waitlist::{self, Cause},
    },
    AppState,
};

/// What to do with booked appointments a change of the hours would strand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OnConflict {
    /// Cancel them with this reason: the patients get the cancellation
    /// email, no fee is charged, and the waitlist is offered the freed time.
    CancelConflicts { reason: String },
    /// Keep them booked where they are, recorded as exceptions to the hours.
    Keep,
}

impl OnConflict {
    /// The resolution from query parameters (`on_conflict`, `reason`), for
    /// requests without a body.
    pub fn from_params(
        on_conflict: Option<&str>,
        reason: Option<&str>,
    ) -> Result<Option<Self>, Error> {
        match (on_conflict, reason) {
            (None, None) => Ok(None),
            (Some("keep"), None) => Ok(Some(OnConflict::Keep)),
            (Some("cancel_conflicts"), Some(reason)) => Ok(Some(OnConflict::CancelConflicts {
                reason: reason.to_owned(),
            })),
            (Some("cancel_conflicts"), None) => {
                Err(Error::invalid("reason", "required with cancel_conflicts"))
            }
            (Some("keep") | None, Some(_)) => Err(Error::invalid(
                "reason",
                "only with on_conflict=cancel_conflicts",
            )),
            (Some(_), _) => Err(Error::invalid(
                "on_conflict",
                "either cancel_conflicts or keep",
            )),
        }
    }

    /// Checked: a cancellation's reason is 1–500 characters (trimmed).
    fn validated(self) -> Result<Self, Error> {
        match self {
            OnConflict::CancelConflicts { reason } => {
                let reason = reason.trim();
                if reason.is_empty() || reason.chars().count() > 500 {
                    return Err(Error::invalid(
                        "on_conflict.cancel_conflicts.reason",
                        "1 to 500 characters",
                    ));
                }
                Ok(OnConflict::CancelConflicts {
                    reason: reason.to_owned(),
                })
            }
            OnConflict::Keep => Ok(OnConflict::Keep),
        }
    }
}

/// A booked appointment a change of the hours strands (or stranded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stranded {
    /// The appointment.
    pub id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
}

impl From<&availability::Upcoming> for Stranded {
    fn from(u: &availability::Upcoming) -> Self {
        Self {
            id: u.id,
            start: u.start,
            end: u.end,
            patient_id: u.patient_id,
            appointment_type_id: u.appointment_type_id,
        }
    }
}

/// What a change did with the appointments it stranded (each list absent
/// when empty, so a change that strands nothing answers as it always did).
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Resolved {
    /// Cancelled (`on_conflict: {"cancel_conflicts": …}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancelled: Vec<Stranded>,
    /// Kept outside the hours (`on_conflict: "keep"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<Stranded>,
}

impl Resolved {
    pub fn is_empty(&self) -> bool {
        self.cancelled.is_empty() && self.kept.is_empty()
    }
}

/// One change of the hours.
enum Change<'a> {
    Hours(&'a Availability),
    Override(&'a DateOverride),
    RemoveOverride(NaiveDate),
    TimeOff {
        off: TimeOff,
        reason: Option<&'a str>,
    },
}

impl Change<'_> {
    /// How `availability_exceptions.change` names it.
    fn kind(&self) -> &'static str {
        match self {
            Change::Hours(_) => "hours",
            Change::Override(_) | Change::RemoveOverride(_) => "override",
            Change::TimeOff { .. } => "time_off",
        }
    }
}

/// What [`apply`] did.
struct Applied {
    /// The new time off's id.
    time_off: Option<Uuid>,
    /// For a removal: whether there was anything to remove.
    found: bool,
    resolved: Resolved,
}

/// Apply `change` under the provider's calendar lock: the appointments it
/// strands (attended under the hours before, not after) are refused with
/// `availability-conflicts`, cancelled or kept as `on_conflict` says, all in
/// the change's transaction. Bookings waiting for the lock find the version
/// bumped and check against the new hours.
async fn apply(
    state: &AppState,
    actor: Actor,
    provider_id: Uuid,
    change: Change<'_>,
    on_conflict: Option<OnConflict>,
) -> Result<Applied, Error> {
    let on_conflict = on_conflict.map(OnConflict::validated).transpose()?;
    let p = provider(&state.db, provider_id).await?;
    let tz = time_zone(&p.time_zone, provider_id);
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    appointments::lock_provider_calendar(&mut tx, provider_id).await?;
    let upcoming = availability::upcoming(&mut tx, provider_id, now).await?;
    let held = holds_store::live_for_provider(&mut tx, provider_id, now).await?;
    let span = upcoming
        .iter()
        .map(|u| (u.start, u.end))
        .chain(held.iter().map(|h| (h.start, h.end)))
        .reduce(|(f, t), (s, e)| (f.min(s), t.max(e)));
    let before = match span {
        Some((from, to)) => Some(availability::load(&mut tx, provider_id, from, to).await?),
        None => None,
    };
    availability::bump_version(&mut tx, provider_id).await?;
    let mut applied = Applied {
        time_off: None,
        found: true,
        resolved: Resolved::default(),
    };
    match &change {
        Change::Hours(a) => availability::replace_in(&mut tx, provider_id, a).await?,
        Change::Override(o) => availability::set_override(&mut tx, provider_id, o).await?,
        Change::RemoveOverride(date) => {
            applied.found = availability::clear_override(&mut tx, provider_id, *date).await?;
            if !applied.found {
                return Ok(applied);
            }
        }
        Change::TimeOff { off, reason } => {
            applied.time_off = Some(
                availability::add_time_off(&mut tx, provider_id, off, *reason, actor.user_id)
                    .await?,
            );
        }
    }
    let after = match span {
        Some((from, to)) => Some(availability::load(&mut tx, provider_id, from, to).await?),
        None => None,
    };
    // Attended under the hours before the change, not after it.
    let strands = |start, end| match (&before, &after) {
        (Some(before), Some(after)) => {
            attended(tz, before, start, end) && !attended(tz, after, start, end)
        }
        _ => false,
    };
    let stranded: Vec<&availability::Upcoming> = upcoming
        .iter()
        .filter(|u| strands(u.start, u.end))
        .collect();
    let stranded_holds: Vec<&HoldRow> = held.iter().filter(|h| strands(h.start, h.end)).collect();
    if !stranded.is_empty() {
        match &on_conflict {
            None => {
                return Err(Error::AvailabilityConflicts(
                    stranded.into_iter().map(Stranded::from).collect(),
                ))
            }
            Some(OnConflict::Keep) => {
                for u in stranded {
                    availability::record_exception(
                        &mut tx,
                        provider_id,
                        u,
                        change.kind(),
                        actor.user_id,
                    )
                    .await?;
                    applied.resolved.kept.push(Stranded::from(u));
                }
            }
            Some(OnConflict::CancelConflicts { reason }) => {
                for u in stranded {
                    if crate::appointments::cancel_stranded(
                        &mut tx,
                        u.id,
                        reason,
                        actor.user_id,
                        now,
                    )
                    .await?
                    {
                        applied.resolved.cancelled.push(Stranded::from(u));
                    }
                }
            }
        }
    }
    // A hold is a promise of a few minutes, not a booking: one the change
    // strands is released (its patient finds it gone; a waitlist offer it
    // carried passes on), so it can never become a booking outside the hours.
    for h in &stranded_holds {
        crate::holds::release_in(&mut tx, h, actor.user_id, now).await?;
    }
    tx.commit().await?;
    state.slots.invalidate(provider_id).await;
    if !applied.resolved.cancelled.is_empty() || !stranded_holds.is_empty() {
        state.relay.wake();
        state.backfill.notify_one();
    }
    tracing::info!(
        %provider_id,
        change = change.kind(),
        actor_id = %actor.user_id,
        cancelled = applied.resolved.cancelled.len(),
        kept = applied.resolved.kept.len(),
        holds_released = stranded_holds.len(),
        "provider hours changed"
    );
    Ok(applied)
}

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

pub async fn provider(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
) -> Result<readmodel::ProviderRow, Error> {
    readmodel::provider(db, id)
        .await?
        .ok_or(Error::ProviderNotFound)
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
    provider(&state.db, row.provider_id).await?;
    types::insert(&state.db, &row).await?;
    state.slots.invalidate(row.provider_id).await;
    Ok(row)
}

/// Replace the weekly rules (and set the given dates' overrides); see [`apply`].
pub async fn set_availability(
    state: &AppState,
    actor: Actor,
    provider_id: Uuid,
    a: Availability,
    on_conflict: Option<OnConflict>,
) -> Result<Resolved, Error> {
    ensure_manager(actor, provider_id)?;
    a.validate()?;
    let applied = apply(state, actor, provider_id, Change::Hours(&a), on_conflict).await?;
    hours_opened(state, provider_id).await?;
    Ok(applied.resolved)
}

/// Block time off; see [`apply`]. The new entry's id.
pub async fn add_time_off(
    state: &AppState,
    actor: Actor,
    provider_id: Uuid,
    off: TimeOff,
    reason: Option<&str>,
    on_conflict: Option<OnConflict>,
) -> Result<(Uuid, Resolved), Error> {
    ensure_manager(actor, provider_id)?;
    if off.end <= off.start {
        return Err(Error::invalid("end", "must be after start"));
    }
    if off.end - off.start > Duration::days(366) {
        return Err(Error::invalid("end", "time off may span at most a year"));
    }
    let change = Change::TimeOff { off, reason };
    let applied = apply(state, actor, provider_id, change, on_conflict).await?;
    let id = applied
        .time_off
        .ok_or_else(|| Error::Internal("time off written without an id".to_owned()))?;
    Ok((id, applied.resolved))
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
    provider(&state.db, provider_id).await?;
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
    provider(&state.db, provider_id).await?;
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
    let p = provider(&state.db, provider_id).await?;
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
/// none: closed); see [`apply`].
pub async fn put_override(
    state: &AppState,
    actor: Actor,
    provider_id: Uuid,
    mut o: DateOverride,
    on_conflict: Option<OnConflict>,
) -> Result<(DateOverride, Resolved), Error> {
    ensure_manager(actor, provider_id)?;
    o.windows.sort();
    Availability {
        overrides: vec![o.clone()],
        ..Availability::default()
    }
    .validate()?;
    let applied = apply(state, actor, provider_id, Change::Override(&o), on_conflict).await?;
    hours_opened(state, provider_id).await?;
    Ok((o, applied.resolved))
}

/// Remove one date's override: the weekly rules apply that day again; see
/// [`apply`].
pub async fn remove_override(
    state: &AppState,
    actor: Actor,
    provider_id: Uuid,
    date: NaiveDate,
    on_conflict: Option<OnConflict>,
) -> Result<Resolved, Error> {
    ensure_manager(actor, provider_id)?;
    let change = Change::RemoveOverride(date);
    let applied = apply(state, actor, provider_id, change, on_conflict).await?;
    if !applied.found {
        return Err(Error::OverrideNotFound);
    }
    hours_opened(state, provider_id).await?;
    Ok(applied.resolved)
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
    // One connection for the whole read: sqlx pings a connection every time
    // it goes back to the pool, a round trip per statement run on the pool.
    let mut conn = state.db.acquire().await?;
    let found = types::with_provider(&mut *conn, type_id, provider_id).await?;
    let (t, provider_zone, provider_cap) = match found {
        Some(f) if f.t.provider_id == provider_id => match f.provider_time_zone {
            Some(zone) => (f.t, zone, f.provider_daily_cap),
            None => return Err(Error::ProviderNotFound),
        },
        // Which of the two is unknown decides the answer.
        _ => {
            provider(&mut *conn, provider_id).await?;
            return Err(Error::TypeNotFound);
        }
    };
    let rules = t.rules();
    let tz = time_zone(&provider_zone, provider_id);
    let offered = offered_by_day(state, &mut conn, provider_id, tz, &t, &days(from, to)).await?;
    let now = state.clock.now();
    // Bookings and live holds, from the database on every read (the cache
    // keeps only what the calendar offers, so a hold needs no invalidation).
    let busy = appointments::busy(
        &mut *conn,
        provider_id,
        from - Duration::days(1),
        to + Duration::days(1),
        now,
    )
    .await?;
    let free: Vec<Slot> = still_free(&rules, tz, now, &busy, &offered)
        .into_iter()
        .filter(|s| s.start >= from && s.start < to)
        .collect();
    if provider_cap.is_none() && t.daily_cap.is_none() {
        return Ok(free);
    }
    without_full_days(&mut conn, provider_id, t.id, tz, free, now).await
}

/// `slots` less those on days the daily caps say are full: one day's first
/// slot stands for its day in the question to the database.
async fn without_full_days(
    conn: &mut PgConnection,
    provider_id: Uuid,
    type_id: Uuid,
    tz: Tz,
    slots: Vec<Slot>,
    now: DateTime<Utc>,
) -> Result<Vec<Slot>, Error> {
    let mut firsts: Vec<DateTime<Utc>> = Vec::new();
    for s in &slots {
        if firsts
            .last()
            .is_none_or(|f| local_date(tz, *f) != local_date(tz, s.start))
        {
            firsts.push(s.start);
        }
    }
    let full: HashSet<NaiveDate> =
        appointments::full_days(&mut *conn, provider_id, type_id, &firsts, now)
            .await?
            .into_iter()
            .map(|start| local_date(tz, start))
            .collect();
    Ok(slots
        .into_iter()
        .filter(|s| !full.contains(&local_date(tz, s.start)))
        .collect())
}

/// Offered slots day by day, from the cache where it has them.
async fn offered_by_day(
    state: &AppState,
    conn: &mut PgConnection,
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
        let a = availability::load(conn, provider_id, start, end).await?;
        for day in &missing {
            let slots = offered_on_utc_day(tz, &a, t.rules(), *day);
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

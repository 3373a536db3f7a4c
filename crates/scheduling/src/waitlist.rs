//! The waitlist: joining, listing and leaving it, the offers the backfill
//! worker makes (a hold on the freed slot for the first-ranked entry, and a
//! single-use claim token, hashed at rest, sent in `waitlist.offered`), and
//! claiming one, which books the held slot.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, NaiveTime, Utc, Weekday};
use contracts::scheduling::{
    AppointmentBooked, HoldConverted, HoldCreated, HoldReleased, WaitlistEntry as EntryEvent,
    WaitlistFulfilled, WaitlistJoined, WaitlistLeft, WaitlistOffered,
};
use platform::{auth::Role, events::outbox, Problem};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::{
    appointments::{self, AppointmentDetail},
    domain::{
        access::{may_book_for, may_manage_waitlist, Actor},
        holds,
        lifecycle::Status,
        slots::{blocked, Busy, Slot},
        waitlist::{self as rules, EntryStatus, Request, Target, MAX_ACTIVE_ENTRIES_PER_PATIENT},
    },
    error::Error,
    holds::{envelope, event_data as hold_data},
    store::{
        appointments::{lock_provider_calendar, AppointmentRow, WriteError},
        holds::{self as holds_store, NewHold},
        types::{self, TypeRow},
        waitlist::{self as store, Cause, EntryRow, ListFilter, NewEntry, OfferRow, OfferStatus},
    },
    AppState,
};

/// A local time-of-day window, `HH:MM` in the provider's time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeOfDay {
    pub start: String,
    pub end: String,
}

/// The slot held for an entry now: book it with `hold_id` (or the emailed
/// claim link) before `expires_at`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Offer {
    pub id: Uuid,
    pub hold_id: Uuid,
    pub provider_id: Uuid,
    pub start: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A waitlist entry as clients see it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WaitlistEntry {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    #[schema(required = true)]
    pub provider_id: Option<Uuid>,
    #[schema(required = true)]
    pub specialty: Option<String>,
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    /// `mon` … `sun`; empty: any day.
    pub weekdays: Vec<String>,
    #[schema(required = true)]
    pub time_of_day: Option<TimeOfDay>,
    /// Higher goes first; equal ones first come, first served.
    pub priority: i32,
    pub status: EntryStatus,
    /// Fulfilled: the appointment it booked.
    #[schema(required = true)]
    pub appointment_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Offered: the slot held for it.
    #[schema(required = true)]
    pub offer: Option<Offer>,
}

pub fn weekday_name(d: Weekday) -> String {
    d.to_string().to_lowercase()
}

fn hh_mm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

impl From<&EntryRow> for WaitlistEntry {
    fn from(r: &EntryRow) -> Self {
        let offer = match (
            r.offer_id,
            r.offer_hold_id,
            r.offer_provider_id,
            r.offer_start,
            r.offer_expires_at,
        ) {
            (Some(id), Some(hold_id), Some(provider_id), Some(start), Some(expires_at)) => {
                Some(Offer {
                    id,
                    hold_id,
                    provider_id,
                    start,
                    expires_at,
                })
            }
            _ => None,
        };
        Self {
            id: r.id,
            patient_id: r.patient_id,
            appointment_type_id: r.appointment_type_id,
            provider_id: r.provider_id,
            specialty: r.specialty.clone(),
            earliest: r.earliest,
            latest: r.latest,
            weekdays: r.weekdays().into_iter().map(weekday_name).collect(),
            time_of_day: r.time_of_day().map(|(s, e)| TimeOfDay {
                start: hh_mm(s),
                end: hh_mm(e),
            }),
            priority: r.priority,
            status: r.status(),
            appointment_id: r.appointment_id,
            created_at: r.created_at,
            offer,
        }
    }
}

/// The `waitlist.*` payload for `r`.
fn entry_data(r: &EntryRow, by: Uuid, appointment_id: Option<Uuid>) -> EntryEvent {
    EntryEvent {
        entry_id: r.id,
        patient_id: r.patient_id,
        appointment_type_id: r.appointment_type_id,
        provider_id: r.provider_id,
        specialty: r.specialty.clone(),
        earliest: r.earliest,
        latest: r.latest,
        weekdays: r.weekdays().into_iter().map(weekday_name).collect(),
        time_of_day_start: r.day_start.map(hh_mm),
        time_of_day_end: r.day_end.map(hh_mm),
        priority: r.priority,
        appointment_id: appointment_id.or(r.appointment_id),
        changed_by: by,
    }
}

pub struct JoinRequest {
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    pub request: Request,
}

/// Join: patients for themselves, staff for any patient (and only staff
/// set a priority). With `provider_id` the type must be that provider's.
pub async fn join(
    state: &AppState,
    actor: Actor,
    join: JoinRequest,
) -> Result<WaitlistEntry, Error> {
    if !may_book_for(actor, join.patient_id) {
        return Err(Problem::forbidden().into());
    }
    if join.request.priority != 0 && !may_manage_waitlist(actor) {
        return Err(Problem::forbidden()
            .with_detail("Only staff set a waitlist priority.")
            .into());
    }
    let now = state.clock.now();
    let request =
        rules::validate(join.request, now).map_err(|e| Error::invalid(e.field, e.message))?;
    let mut conn = state.db.acquire().await?;
    let found = types::in_zone(&mut *conn, join.appointment_type_id, join.patient_id)
        .await?
        .ok_or(Error::TypeNotFound)?;
    if let Target::Provider(p) = &request.target {
        if found.t.provider_id != *p {
            return Err(Error::TypeNotFound);
        }
    }
    if !found.patient_known {
        return Err(Error::PatientNotFound);
    }
    if store::active_for_patient(&mut *conn, join.patient_id, now).await?
        >= MAX_ACTIVE_ENTRIES_PER_PATIENT
    {
        return Err(Error::WaitlistLimit);
    }
    let new = NewEntry {
        id: Uuid::now_v7(),
        patient_id: join.patient_id,
        appointment_type_id: join.appointment_type_id,
        request,
        created_by: actor.user_id,
        created_at: now,
    };
    let mut tx = conn.begin().await?;
    store::insert(&mut tx, &new).await?;
    let row = store::get(&mut *tx, new.id)
        .await?
        .ok_or_else(|| Error::Internal("the new entry is gone".into()))?;
    outbox::enqueue(
        &mut tx,
        &envelope::<WaitlistJoined>(&entry_data(&row, actor.user_id, None))?,
    )
    .await?;
    tx.commit().await?;
    state.relay.wake();
    metrics::counter!("waitlist_joined_total").increment(1);
    tracing::info!(entry_id = %row.id, "waitlist joined");
    Ok(WaitlistEntry::from(&row))
}

/// Who sees which entries: patients their own, providers those for them,
/// staff the clinic's (filtered as asked).
pub fn scope(actor: Actor, filter: &mut ListFilter) {
    match actor.role {
        Role::Patient => filter.patient_id = Some(actor.user_id),
        Role::Provider => filter.provider_id = Some(actor.user_id),
        Role::Staff | Role::Admin => {}
    }
}

/// Lock the entry for a change by `actor` (not theirs: it does not exist).
async fn lock_for(conn: &mut PgConnection, actor: Actor, id: Uuid) -> Result<EntryRow, Error> {
    store::lock(conn, id)
        .await?
        .filter(|e| may_book_for(actor, e.patient_id))
        .ok_or(Error::WaitlistEntryNotFound)
}

/// Staff set an entry's priority (higher goes first).
pub async fn set_priority(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    priority: i32,
) -> Result<WaitlistEntry, Error> {
    if !may_manage_waitlist(actor) {
        return Err(Problem::forbidden()
            .with_detail("Only staff set a waitlist priority.")
            .into());
    }
    if !rules::PRIORITY_RANGE.contains(&priority) {
        return Err(Error::invalid("priority", "between -100 and 100"));
    }
    let mut tx = state.db.begin().await?;
    lock_for(&mut tx, actor, id).await?;
    store::set_priority(&mut tx, id, priority).await?;
    let row = store::get(&mut *tx, id)
        .await?
        .ok_or(Error::WaitlistEntryNotFound)?;
    tx.commit().await?;
    tracing::info!(entry_id = %id, priority, actor_id = %actor.user_id, "waitlist priority set");
    Ok(WaitlistEntry::from(&row))
}

/// Leave (its patient, staff). A standing offer is withdrawn and its slot
/// passes to the next entry. Leaving twice, or after booking, changes nothing.
///
/// Locks go hold, offer, entry, as everywhere (the expiry sweeper, releasing
/// a hold, claiming), so two of them never wait for each other in a circle.
pub async fn leave(state: &AppState, actor: Actor, id: Uuid) -> Result<(), Error> {
    let mut tx = state.db.begin().await?;
    let seen = store::get(&mut *tx, id)
        .await?
        .filter(|e| may_book_for(actor, e.patient_id))
        .ok_or(Error::WaitlistEntryNotFound)?;
    if !seen.status().is_active() {
        return Ok(());
    }
    let now = state.clock.now();
    if let (Some(offer_id), Some(hold_id)) = (seen.offer_id, seen.offer_hold_id) {
        withdraw(&mut tx, offer_id, hold_id, actor.user_id, now).await?;
    }
    let row = lock_for(&mut tx, actor, id).await?;
    if !row.status().is_active() {
        return Ok(());
    }
    store::set_status(&mut tx, id, EntryStatus::Left, None).await?;
    outbox::enqueue(
        &mut tx,
        &envelope::<WaitlistLeft>(&entry_data(&row, actor.user_id, None))?,
    )
    .await?;
    tx.commit().await?;
    state.relay.wake();
    state.backfill.notify_one();
    tracing::info!(entry_id = %id, "waitlist left");
    Ok(())
}

/// Withdraw an open offer: release its hold, and let the next entry have the
/// slot (its time to refill still counts from when the slot first opened).
async fn withdraw(
    conn: &mut PgConnection,
    offer_id: Uuid,
    hold_id: Uuid,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let hold = holds_store::lock(conn, hold_id).await?;
    let Some(offer) = store::lock_offer(conn, offer_id).await? else {
        return Ok(());
    };
    if !store::close_offer(conn, offer_id, OfferStatus::Withdrawn, now).await? {
        return Ok(());
    }
    let Some(hold) = hold else {
        return Ok(());
    };
    if holds_store::release(conn, hold_id).await? {
        store::record_opening(
            &mut *conn,
            hold.provider_id,
            hold.blocked(),
            Cause::OfferPassed,
            offer.opened_at,
        )
        .await?;
        let data = hold_data(&hold, Some(offer.entry_id), None, Some(by));
        outbox::enqueue(conn, &envelope::<HoldReleased>(&data)?).await?;
    }
    Ok(())
}

/// The SHA-256 a claim token is kept as.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("wo_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What came of offering a slot to one entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Offered {
    /// The slot is held for the entry and the offer is out.
    Made,
    /// The entry is not waiting any more (another replica just offered it something).
    EntryBusy,
    /// Its patient is booked (or holds something) at an overlapping time.
    PatientBusy,
    /// The slot is not free after all.
    SlotGone,
}

/// One free slot offered to `entry`, inside the caller's transaction (in a
/// savepoint, so a clash leaves the transaction usable for the next entry).
/// `checked_version`: the calendar version the slot was found free in (a
/// change of the hours since makes the slot gone).
pub async fn offer(
    tx: &mut PgConnection,
    state: &AppState,
    entry: &EntryRow,
    (t, time_zone): (&TypeRow, &str),
    slot: Slot,
    opened_at: DateTime<Utc>,
    checked_version: i64,
) -> Result<Offered, Error> {
    let now = state.clock.now();
    let expires_at = holds::expires_at(now, state.holds.offer, slot.start);
    if expires_at <= now {
        return Ok(Offered::SlotGone);
    }
    let mut sp = tx.begin().await?;
    let current = store::lock(&mut sp, entry.id).await?;
    if current.as_ref().map(EntryRow::status) != Some(EntryStatus::Waiting) {
        sp.rollback().await?;
        return Ok(Offered::EntryBusy);
    }
    let hold = NewHold {
        id: Uuid::now_v7(),
        patient_id: entry.patient_id,
        provider_id: t.provider_id,
        appointment_type_id: t.id,
        during: Busy {
            start: slot.start,
            end: slot.end,
        },
        blocked: blocked(&t.rules(), &slot),
        // Made by the waitlist, not by a user.
        created_by: Uuid::nil(),
        at: now,
        expires_at,
    };
    match holds_store::insert(&mut sp, &hold, checked_version).await {
        Ok(true) => {}
        Ok(false) => {
            sp.rollback().await?;
            return Ok(Offered::SlotGone);
        }
        Err(WriteError::PatientOverlap) => {
            sp.rollback().await?;
            return Ok(Offered::PatientBusy);
        }
        Err(WriteError::ProviderOverlap | WriteError::Contended) => {
            sp.rollback().await?;
            return Ok(Offered::SlotGone);
        }
        Err(WriteError::Db(e)) => return Err(e.into()),
    }
    let token = new_token();
    let offer_id = Uuid::now_v7();
    store::insert_offer(
        &mut sp,
        &store::NewOffer {
            id: offer_id,
            entry_id: entry.id,
            hold_id: hold.id,
            token_hash: token_hash(&token),
            provider_id: t.provider_id,
            start: slot.start,
            opened_at,
            offered_at: now,
            expires_at,
        },
    )
    .await?;
    store::set_status(&mut sp, entry.id, EntryStatus::Offered, None).await?;
    let held = hold.row();
    outbox::enqueue(
        &mut sp,
        &envelope::<HoldCreated>(&hold_data(&held, Some(entry.id), None, None))?,
    )
    .await?;
    let offered = WaitlistOffered {
        offer_id,
        entry_id: entry.id,
        patient_id: entry.patient_id,
        hold_id: hold.id,
        provider_id: t.provider_id,
        appointment_type_id: t.id,
        appointment_type_name: t.name.clone(),
        start: slot.start,
        end: slot.end,
        time_zone: time_zone.to_owned(),
        mode: t.mode(),
        expires_at,
        token,
    };
    outbox::enqueue(&mut sp, &envelope::<WaitlistOffered>(&offered)?).await?;
    sp.commit().await?;
    metrics::counter!("waitlist_offers_total").increment(1);
    tracing::info!(entry_id = %entry.id, hold_id = %hold.id, provider_id = %t.provider_id, "waitlist offer made");
    Ok(Offered::Made)
}

/// An offer's hold was booked: close the offer, fulfil the entry (it stops
/// matching) and say so, in the booking's transaction. Returns when the slot
/// had opened, for the time-to-refill metric once committed.
pub async fn fulfil(
    tx: &mut PgConnection,
    offer: &OfferRow,
    appointment_id: Uuid,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Error> {
    store::close_offer(tx, offer.id, OfferStatus::Claimed, now).await?;
    store::set_status(
        tx,
        offer.entry_id,
        EntryStatus::Fulfilled,
        Some(appointment_id),
    )
    .await?;
    if let Some(entry) = store::get(&mut *tx, offer.entry_id).await? {
        outbox::enqueue(
            tx,
            &envelope::<WaitlistFulfilled>(&entry_data(&entry, by, Some(appointment_id)))?,
        )
        .await?;
    }
    Ok(offer.opened_at)
}

/// Count a refill: a freed slot booked from the waitlist, `opened_at` → `now`.
pub fn record_refill(opened_at: DateTime<Utc>, now: DateTime<Utc>) {
    metrics::counter!("waitlist_refills_total").increment(1);
    let minutes = (now - opened_at).num_milliseconds().max(0) as f64 / 60_000.0;
    metrics::histogram!("waitlist_time_to_refill_minutes").record(minutes);
}

/// Claim an offer with its token (its patient only): the held slot is booked
/// for them at once, with no rule asked again (the hold was the promise).
pub async fn claim(
    state: &AppState,
    actor: Actor,
    token: &str,
) -> Result<AppointmentDetail, Error> {
    if token.is_empty() || token.len() > 200 {
        return Err(Error::OfferNotFound);
    }
    let mut tx = state.db.begin().await?;
    let seen = store::offer_by_token(&mut *tx, &token_hash(token))
        .await?
        .ok_or(Error::OfferNotFound)?;
    let entry = store::get(&mut *tx, seen.entry_id)
        .await?
        .filter(|e| e.patient_id == actor.user_id && actor.role == Role::Patient)
        .ok_or(Error::OfferNotFound)?;
    // The calendar, then the hold, then the offer: the order every change takes.
    lock_provider_calendar(&mut tx, seen.provider_id).await?;
    let hold = holds_store::lock(&mut tx, seen.hold_id)
        .await?
        .ok_or(Error::OfferExpired)?;
    let offer = store::lock_offer(&mut tx, seen.id)
        .await?
        .ok_or(Error::OfferNotFound)?;
    let now = state.clock.now();
    match offer.status.as_str() {
        "open" if holds::is_live(offer.expires_at, now) => {}
        "claimed" => return Err(Error::OfferClaimed),
        _ => return Err(Error::OfferExpired),
    }
    let (t, tz) =
        appointments::type_of(&mut *tx, hold.appointment_type_id, hold.patient_id).await?;
    if !holds_store::convert(&mut tx, &hold, now, actor.user_id).await? {
        return Err(Error::OfferExpired);
    }
    let row = AppointmentRow {
        id: hold.id,
        patient_id: hold.patient_id,
        provider_id: hold.provider_id,
        appointment_type_id: hold.appointment_type_id,
        start: hold.start,
        end: hold.end,
        status: Status::Booked.as_str().to_owned(),
        version: 1,
        cancel_reason: None,
        late_cancellation: false,
    };
    let booked =
        appointments::event::<AppointmentBooked>(&row, &t, &tz, Status::Booked, 1, actor.user_id)?;
    outbox::enqueue(&mut tx, &booked).await?;
    outbox::enqueue(&mut tx, &crate::links::issued(state, &row)?).await?;
    let converted = hold_data(&hold, Some(entry.id), Some(hold.id), Some(actor.user_id));
    outbox::enqueue(&mut tx, &envelope::<HoldConverted>(&converted)?).await?;
    let opened_at = fulfil(&mut tx, &offer, hold.id, actor.user_id, now).await?;
    tx.commit().await?;
    state.relay.wake();
    record_refill(opened_at, now);
    metrics::counter!("appointments_booked_total").increment(1);
    tracing::info!(appointment_id = %row.id, entry_id = %entry.id, "waitlist offer claimed");
    Ok(AppointmentDetail::of(&row, &t, state))
}

//! Holding a slot while a patient confirms: checked like a booking, written
//! with `hold.created` in one transaction, under the same exclusion
//! constraints as bookings; released on request; expired by the clock.

use chrono::{DateTime, Utc};
use contracts::scheduling::{Hold as HoldEvent, HoldCreated, HoldReleased};
use platform::{
    events::{outbox, Envelope},
    Problem,
};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::{
    appointments::{check, type_to_book, Room, CALENDAR_CHANGED_UNDER_LOCK},
    domain::{
        access::{may, may_book_for, Actor, Operation},
        holds::{self, MAX_LIVE_HOLDS_PER_PATIENT},
        slots::{blocked, Busy, Unbookable},
        waitlist::EntryStatus,
    },
    error::Error,
    store::{
        holds::{self as store, HoldRow, NewHold},
        waitlist::{self as waitlist_store, Cause, OfferStatus},
    },
    AppState,
};

/// What became of a hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Keeping the slot until `expires_at`.
    Held,
    /// Given up before it lapsed.
    Released,
    /// Lapsed without being booked.
    Expired,
    /// Booked: the appointment has the hold's id.
    Converted,
}

/// A hold as clients see it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hold {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The slot is kept until then; book it with `hold_id` before.
    pub expires_at: DateTime<Utc>,
    pub status: HoldStatus,
}

impl Hold {
    pub fn of(row: &HoldRow, now: DateTime<Utc>) -> Self {
        let status = match row.status.as_str() {
            "held" if holds::is_live(row.expires_at, now) => HoldStatus::Held,
            "held" | "expired" => HoldStatus::Expired,
            "released" => HoldStatus::Released,
            _ => HoldStatus::Converted,
        };
        Self {
            id: row.id,
            patient_id: row.patient_id,
            provider_id: row.provider_id,
            appointment_type_id: row.appointment_type_id,
            start: row.start,
            end: row.end,
            expires_at: row.expires_at,
            status,
        }
    }
}

/// The `hold.*` payload for `row`.
pub fn event_data(
    row: &HoldRow,
    entry_id: Option<Uuid>,
    appointment_id: Option<Uuid>,
    by: Option<Uuid>,
) -> HoldEvent {
    HoldEvent {
        hold_id: row.id,
        patient_id: row.patient_id,
        provider_id: row.provider_id,
        appointment_type_id: row.appointment_type_id,
        start: row.start,
        end: row.end,
        expires_at: row.expires_at,
        waitlist_entry_id: entry_id,
        appointment_id,
        changed_by: by,
    }
}

pub fn envelope<E: contracts::Event>(data: &E::Payload) -> Result<Envelope, Error> {
    Envelope::of::<E>(data).map_err(|e| Error::Internal(e.to_string()))
}

pub struct HoldRequest {
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub patient_id: Uuid,
}

/// Hold a free slot for `SCHEDULING_HOLD_MINUTES`: the booking rules apply
/// as to a booking, and the slot is then nobody else's until the hold lapses.
pub async fn create(state: &AppState, actor: Actor, req: HoldRequest) -> Result<Hold, Error> {
    if !may_book_for(actor, req.patient_id) {
        return Err(Problem::forbidden().into());
    }
    let mut conn = state.db.acquire().await?;
    let (t, time_zone) = type_to_book(
        &mut conn,
        req.provider_id,
        req.appointment_type_id,
        req.patient_id,
    )
    .await?;
    let now = state.clock.now();
    let (slot, checked_version) = check(
        &mut conn,
        req.provider_id,
        &time_zone,
        &t,
        req.start,
        now,
        Room::AtInsert,
    )
    .await?;
    let expires_at = holds::expires_at(now, state.holds.hold, slot.start);
    if expires_at <= now {
        return Err(Unbookable::InPast.into());
    }
    if store::live_for_patient(&mut *conn, req.patient_id, now).await? >= MAX_LIVE_HOLDS_PER_PATIENT
    {
        return Err(Error::HoldLimit);
    }
    let new = NewHold {
        id: Uuid::now_v7(),
        patient_id: req.patient_id,
        provider_id: req.provider_id,
        appointment_type_id: t.id,
        during: Busy {
            start: slot.start,
            end: slot.end,
        },
        blocked: blocked(&t.rules(), &slot),
        created_by: actor.user_id,
        at: now,
        expires_at,
    };
    let row = new.row();
    let created = envelope::<HoldCreated>(&event_data(&row, None, None, Some(actor.user_id)))?;
    let mut tx = conn.begin().await?;
    outbox::enqueue(&mut tx, &created).await?;
    if !store::insert(&mut tx, &new, checked_version).await? {
        // The hours changed after the check: check again, under the lock now held.
        let (_, version) = check(
            &mut tx,
            req.provider_id,
            &time_zone,
            &t,
            req.start,
            now,
            Room::Ask(None),
        )
        .await?;
        if !store::insert(&mut tx, &new, version).await? {
            return Err(Error::Internal(CALENDAR_CHANGED_UNDER_LOCK.to_owned()));
        }
    }
    tx.commit().await?;
    state.relay.wake();
    metrics::counter!("holds_created_total").increment(1);
    tracing::info!(hold_id = %row.id, provider_id = %row.provider_id, "slot held");
    Ok(Hold::of(&row, now))
}

/// The hold, if `actor` may see it (otherwise it does not exist for them).
pub async fn get(state: &AppState, actor: Actor, id: Uuid) -> Result<Hold, Error> {
    let row = store::get(&state.db, id)
        .await?
        .filter(|h| may(actor, Operation::View, h.patient_id, h.provider_id))
        .ok_or(Error::HoldNotFound)?;
    Ok(Hold::of(&row, state.clock.now()))
}

/// Give the slot up (its patient, staff). A hold that already lapsed or was
/// released is simply gone; one that was booked is an appointment now (409).
/// Releasing a waitlist offer's hold declines the offer: the slot passes to
/// the next entry and the entry waits for another.
pub async fn release(state: &AppState, actor: Actor, id: Uuid) -> Result<(), Error> {
    let mut tx = state.db.begin().await?;
    let row = store::lock(&mut tx, id)
        .await?
        .filter(|h| may_book_for(actor, h.patient_id))
        .ok_or(Error::HoldNotFound)?;
    let now = state.clock.now();
    match row.status.as_str() {
        "held" if holds::is_live(row.expires_at, now) => {}
        "held" | "released" | "expired" => return Ok(()),
        _ => return Err(Error::HoldConverted),
    }
    release_in(&mut tx, &row, actor.user_id, now).await?;
    tx.commit().await?;
    state.relay.wake();
    state.backfill.notify_one();
    tracing::info!(hold_id = %id, "hold released");
    Ok(())
}

/// Release a live, locked hold in the caller's transaction: its slot is
/// free at once, a waitlist offer it carried is declined (the slot passes
/// on), the freed time is recorded for the backfill, and `hold.released` is
/// published. The caller wakes the relay and the backfill after commit.
pub(crate) async fn release_in(
    tx: &mut PgConnection,
    row: &HoldRow,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    store::release(tx, row.id).await?;
    let offer = waitlist_store::open_offer_for_hold(&mut *tx, row.id).await?;
    let (cause, opened_at) = match &offer {
        Some(o) => {
            waitlist_store::close_offer(tx, o.id, OfferStatus::Declined, now).await?;
            waitlist_store::set_status(tx, o.entry_id, EntryStatus::Waiting, None).await?;
            (Cause::OfferPassed, o.opened_at)
        }
        None => (Cause::HoldReleased, now),
    };
    waitlist_store::record_opening(&mut *tx, row.provider_id, row.blocked(), cause, opened_at)
        .await?;
    let data = event_data(row, offer.map(|o| o.entry_id), None, Some(by));
    outbox::enqueue(tx, &envelope::<HoldReleased>(&data)?).await?;
    Ok(())
}

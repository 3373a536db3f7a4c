//! The backfill worker: no freed slot goes unused.
//!
//! Changes that free time on a calendar (a cancellation, a move, new hours, a
//! released hold) record a `slot_openings` row in their own transaction and
//! wake this worker; holds that lapse are found by the clock. Each opening is
//! taken by one replica (`FOR UPDATE SKIP LOCKED`) and, in one transaction,
//! the free slots it left are offered to the waitlist: for each slot, in
//! time order, the first-ranked waiting entry it suits gets a hold and an
//! offer (`domain::waitlist`); a patient already busy then is skipped. Lapsed
//! holds are marked expired and announced (`hold.expired`); a lapsed offer's
//! slot goes back through the same path to the next entry. Correctness never
//! waits for this worker: an expired hold stops blocking by itself.

use std::{collections::HashSet, sync::Arc, time::Duration};

use chrono::{DateTime, Duration as Span, Utc};
use contracts::scheduling::HoldExpired;
use platform::{events::outbox, shutdown::CancellationToken};
use sqlx::PgConnection;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    calendar::time_zone,
    domain::{
        slots::{blocked, free_slots, Busy, Slot, SlotQuery},
        waitlist::{self as rules, rank, EntryStatus, Opening},
    },
    error::Error,
    holds::{envelope, event_data},
    store::{
        appointments, availability,
        holds::{self as holds_store},
        readmodel, types,
        types::TypeRow,
        waitlist::{self as store, Cause, EntryRow, OfferStatus, OpeningRow},
    },
    waitlist::{offer, Offered},
    AppState,
};

/// Lapsed holds marked per statement.
const EXPIRY_BATCH: i64 = 100;
/// Openings taken per wake-up before lapsed holds are looked at again.
const OPENINGS_PER_ROUND: usize = 50;

/// How the worker is woken: changes that free time call `notify_one`.
pub type Wake = Arc<Notify>;

/// Run until `cancel`: on every wake-up and every `poll`.
pub async fn run(state: AppState, poll: Duration, cancel: CancellationToken) {
    loop {
        if let Err(e) = round(&state).await {
            tracing::warn!(error = %e, "waitlist backfill failed; retrying");
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = state.backfill.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// Announce lapsed holds, then offer what opened.
pub async fn round(state: &AppState) -> Result<(), Error> {
    if holds_store::any_lapsed(&state.db, state.clock.now()).await? {
        while expire_lapsed(state).await? == EXPIRY_BATCH as usize {}
    }
    if !store::any_opening(&state.db).await? {
        return Ok(());
    }
    for _ in 0..OPENINGS_PER_ROUND {
        if !fill_next(state).await? {
            break;
        }
    }
    Ok(())
}

/// Mark a batch of lapsed holds expired and announce them; a lapsed offer
/// passes on (its entry waits again, and the slot opens for the next one).
async fn expire_lapsed(state: &AppState) -> Result<usize, Error> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let lapsed = holds_store::expire_lapsed(&mut tx, now, EXPIRY_BATCH).await?;
    for hold in &lapsed {
        let offer = store::open_offer_for_hold(&mut *tx, hold.id).await?;
        let (cause, opened_at) = match &offer {
            Some(o) => {
                store::close_offer(&mut tx, o.id, OfferStatus::Lapsed, now).await?;
                store::set_status(&mut tx, o.entry_id, EntryStatus::Waiting, None).await?;
                metrics::counter!("waitlist_offers_lapsed_total").increment(1);
                (Cause::OfferPassed, o.opened_at)
            }
            None => (Cause::HoldExpired, hold.expires_at),
        };
        if hold.start > now {
            store::record_opening(&mut *tx, hold.provider_id, hold.blocked(), cause, opened_at)
                .await?;
        }
        let data = event_data(hold, offer.map(|o| o.entry_id), None, None);
        outbox::enqueue(&mut tx, &envelope::<HoldExpired>(&data)?).await?;
    }
    tx.commit().await?;
    if !lapsed.is_empty() {
        state.relay.wake();
        tracing::info!(count = lapsed.len(), "holds expired");
    }
    Ok(lapsed.len())
}

/// Take one opening and offer its free slots; `false` when none was waiting.
async fn fill_next(state: &AppState) -> Result<bool, Error> {
    let mut tx = state.db.begin().await?;
    let Some(opening) = store::take_opening(&mut tx).await? else {
        return Ok(false);
    };
    metrics::counter!("waitlist_slots_freed_total", "cause" => opening.cause.clone()).increment(1);
    let made = fill(&mut tx, state, &opening).await?;
    tx.commit().await?;
    if made > 0 {
        state.relay.wake();
    }
    Ok(true)
}

/// The type each provider-side offer would be of: the entry's own with its
/// provider, or with a specialty, the provider's type of the same name.
fn type_for<'t>(entry: &EntryRow, offered: &'t [TypeRow]) -> Option<&'t TypeRow> {
    offered.iter().find(|t| {
        t.id == entry.appointment_type_id
            || (entry.provider_id.is_none()
                && t.name.trim().to_lowercase() == entry.type_name.trim().to_lowercase())
    })
}

fn overlaps(a: Busy, b: Busy) -> bool {
    a.start < b.end && b.start < a.end
}

/// Offer the free slots `opening` left to the waiting entries they suit; how
/// many offers were made.
async fn fill(
    tx: &mut PgConnection,
    state: &AppState,
    opening: &OpeningRow,
) -> Result<usize, Error> {
    let Some(provider) = readmodel::provider(&mut *tx, opening.provider_id).await? else {
        return Ok(0);
    };
    let now = state.clock.now();
    let freed = Busy {
        start: opening.start.max(now),
        end: opening.end,
    };
    if freed.end <= freed.start {
        return Ok(0);
    }
    // Slots whose time (with buffers) touches the freed time: up to a type's
    // reach either side of it, so an entry waiting only for a neighbouring
    // slot that the freed buffers kept out is found too.
    let offered_types = types::active_for_provider(&mut *tx, provider.id).await?;
    let reach = offered_types
        .iter()
        .map(|t| rules::reach(&t.rules()))
        .max()
        .unwrap_or_else(Span::zero);
    let entries = store::waiting_for(
        tx,
        provider.id,
        &provider.specialty,
        freed.start - reach,
        freed.end + reach,
    )
    .await?;
    let (Some(earliest), Some(latest)) = (
        entries.iter().map(|e| e.earliest).min(),
        entries.iter().map(|e| e.latest).max(),
    ) else {
        return Ok(0);
    };
    let Some((from, to)) = rules::search_window(freed, reach, earliest, latest) else {
        return Ok(0);
    };
    let mut wanted: Vec<&TypeRow> = entries
        .iter()
        .filter_map(|e| type_for(e, &offered_types))
        .collect();
    wanted.sort_by_key(|t| t.id);
    wanted.dedup_by_key(|t| t.id);
    if wanted.is_empty() {
        return Ok(0);
    }
    let tz = time_zone(&provider.time_zone, provider.id);
    // The version the slots are computed against: a hold is made only while it
    // is current (hours changed meanwhile: that slot is gone).
    let (a, checked_version) =
        availability::load_versioned(tx, provider.id, from - Span::days(2), to + Span::days(2))
            .await?;
    let busy = appointments::busy(
        &mut *tx,
        provider.id,
        from - Span::days(1),
        to + Span::days(1),
        now,
    )
    .await?;
    let mut slots: Vec<(Slot, &TypeRow)> = Vec::new();
    for t in &wanted {
        let q = SlotQuery {
            tz,
            availability: &a,
            rules: t.rules(),
            busy: &busy,
            from,
            to,
            now,
        };
        slots.extend(
            free_slots(&q)
                .into_iter()
                .filter(|s| rules::opened_by(&t.rules(), s, freed))
                .map(|s| (s, *t)),
        );
    }
    slots.sort_by_key(|(s, t)| (s.start, t.id));
    let passed: HashSet<(Uuid, DateTime<Utc>)> = store::passed_over(tx, provider.id, from, to)
        .await?
        .into_iter()
        .collect();
    let ranked_entries: Vec<_> = entries.iter().map(EntryRow::entry).collect();
    let mut taken: Vec<Busy> = Vec::new();
    let mut done: HashSet<Uuid> = HashSet::new();
    for (slot, t) in slots {
        let b = blocked(&t.rules(), &slot);
        if taken.iter().any(|x| overlaps(*x, b)) {
            continue;
        }
        let o = Opening {
            provider_id: provider.id,
            specialty: &provider.specialty,
            appointment_type_id: t.id,
            type_name: &t.name,
            tz,
            slot,
        };
        let ranked = rank(&ranked_entries, &o, |e| {
            done.contains(&e.id) || passed.contains(&(e.id, slot.start))
        });
        for candidate in ranked {
            let Some(entry) = entries.iter().find(|e| e.id == candidate.id) else {
                continue;
            };
            match offer(
                tx,
                state,
                entry,
                (t, &provider.time_zone),
                slot,
                opening.opened_at,
                checked_version,
            )
            .await?
            {
                Offered::Made => {
                    done.insert(entry.id);
                    taken.push(b);
                    break;
                }
                // Not waiting any more: out of this round.
                Offered::EntryBusy => {
                    done.insert(entry.id);
                }
                // Already booked (or holding) at an overlapping time: the next one.
                Offered::PatientBusy => {}
                Offered::SlotGone => break,
            }
        }
    }
    Ok(taken.len())
}

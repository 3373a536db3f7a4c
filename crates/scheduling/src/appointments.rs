//! Booking and changing appointments: validate with the pure domain, write the
//! row and its event in one transaction, let the exclusion constraints decide
//! races. A booking may convert a hold; every booked or moved version gets its
//! self-service links (`appointment.links_issued`); time a change frees is
//! recorded for the waitlist's backfill in the same transaction.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use contracts::{
    scheduling::{
        Appointment as AppointmentEvent, AppointmentBooked, AppointmentCancelled,
        AppointmentCheckedIn, AppointmentCompleted, AppointmentNoShow, AppointmentRescheduled,
        HoldConverted,
    },
    Event,
};
use platform::idempotency::{self, IdempotencyKey};
use platform::{
    auth::Role,
    events::{outbox, Envelope},
    Problem,
};
use serde::Serialize;
use sqlx::Connection;
use uuid::Uuid;

use crate::{
    calendar::time_zone,
    domain::{
        access::{may, may_book_for, may_waive_fee, Actor, Operation},
        cancellation::{self, Policy},
        holds::{check_conversion, Conversion},
        lifecycle::{next, step_open, Action, Status},
        links::Link,
        slots::{blocked, check_start, Busy, Slot, SlotQuery, Unbookable},
        types::Money,
    },
    error::Error,
    holds::{envelope as hold_envelope, event_data as hold_data},
    links,
    store::{
        appointments as store,
        appointments::AppointmentRow,
        availability,
        holds::{self as holds_store, HoldRow},
        replays,
        types::{self, TypeRow},
        waitlist::{self as waitlist_store, Cause, OfferRow},
    },
    waitlist, AppState,
};

/// An appointment as clients see it.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Appointment {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: Status,
    pub version: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    pub late_cancellation: bool,
}

impl From<&AppointmentRow> for Appointment {
    fn from(r: &AppointmentRow) -> Self {
        Self {
            id: r.id,
            patient_id: r.patient_id,
            provider_id: r.provider_id,
            appointment_type_id: r.appointment_type_id,
            start: r.start,
            end: r.end,
            status: r.status(),
            version: r.version,
            cancel_reason: r.cancel_reason.clone(),
            late_cancellation: r.late_cancellation,
        }
    }
}

/// What cancelling, moving or missing an appointment costs the patient, shown
/// before they book: cancelling or rescheduling later than `window_minutes`
/// before the start owes `late_cancel_fee`, not coming owes `no_show_fee`
/// (`null`: nothing). Fees never exceed the clinic's cap
/// (`SCHEDULING_MAX_FEE_PERCENT` of the price).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CancellationPolicy {
    pub window_minutes: i64,
    #[schema(required = true)]
    pub late_cancel_fee: Option<Money>,
    #[schema(required = true)]
    pub no_show_fee: Option<Money>,
}

impl From<&Policy> for CancellationPolicy {
    fn from(p: &Policy) -> Self {
        Self {
            window_minutes: p.window.num_minutes(),
            late_cancel_fee: p.late_cancel_fee.clone(),
            no_show_fee: p.no_show_fee.clone(),
        }
    }
}

/// One appointment with the cancellation policy that applies to it: the
/// answer about a single appointment (booking it, reading it, every change).
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AppointmentDetail {
    #[serde(flatten)]
    pub appointment: Appointment,
    pub cancellation_policy: CancellationPolicy,
}

impl AppointmentDetail {
    pub fn of(row: &AppointmentRow, t: &TypeRow, state: &AppState) -> Self {
        Self {
            appointment: Appointment::from(row),
            cancellation_policy: CancellationPolicy::from(&t.policy(state.max_fee)),
        }
    }
}

/// A reschedule's answer: the appointment where it is now, and whether the
/// move owes the late-cancellation fee.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Rescheduled {
    #[serde(flatten)]
    pub appointment: AppointmentDetail,
    /// Moved inside the cancellation window: it counts as a late cancellation.
    pub late: bool,
    /// The fee the move owes (`null`: none, or waived by staff).
    #[schema(required = true)]
    pub fee: Option<Money>,
}

pub struct BookingRequest {
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub patient_id: Uuid,
    /// Book the slot this hold keeps (the same provider, type, start and patient).
    pub hold_id: Option<Uuid>,
}

/// Check `start` against the provider's calendar for this type: the slot,
/// and the calendar version it was checked against (the insert that follows
/// writes only if that version is still current under the calendar lock).
/// The day's caps as `room` says (see [`Room`]).
pub(crate) async fn check(
    conn: &mut sqlx::PgConnection,
    provider_id: Uuid,
    zone: &str,
    t: &TypeRow,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    room: Room,
) -> Result<(Slot, i64), Error> {
    let tz = time_zone(zone, provider_id);
    let (a, version) = availability::load_versioned(
        conn,
        provider_id,
        start - Duration::days(2),
        start + Duration::days(2),
    )
    .await?;
    let q = SlotQuery {
        tz,
        availability: &a,
        rules: t.rules(),
        busy: &[],
        from: start,
        to: start,
        now,
    };
    let slot = check_start(&q, start)?;
    if let Room::Ask(moving) = room {
        if !store::day_has_room(conn, provider_id, t.id, start, now, moving).await? {
            return Err(Unbookable::DailyCapReached.into());
        }
    }
    Ok((slot, version))
}

/// When [`check`] asks about the day's caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Room {
    /// Not now: the insert asks under the calendar lock, and a refused insert
    /// checks again with [`Room::Ask`] (no extra round trip on the way in).
    AtInsert,
    /// Now, this appointment aside (a reschedule, which holds the lock).
    Ask(Option<Uuid>),
}

/// Why an insert checked against an older calendar version is retried once:
/// the second check runs under the calendar lock the first insert took, so
/// no change can come between it and the insert.
pub(crate) const CALENDAR_CHANGED_UNDER_LOCK: &str = "calendar version changed under its lock";

pub(crate) fn event<E: Event<Payload = AppointmentEvent>>(
    row: &AppointmentRow,
    t: &TypeRow,
    tz: &str,
    status: Status,
    version: i32,
    by: Uuid,
) -> Result<Envelope, Error> {
    envelope::<E>(&event_data(row, t, tz, status, version, by))
}

fn envelope<E: Event<Payload = AppointmentEvent>>(
    data: &AppointmentEvent,
) -> Result<Envelope, Error> {
    Envelope::of::<E>(data).map_err(|e| Error::Internal(e.to_string()))
}

/// A booking's answer: the new appointment, or the stored answer of the
/// first request with the same `Idempotency-Key` (`replayed`, which the API
/// says in `Idempotent-Replayed: true`, so a client can tell a repeat).
pub struct Booked {
    pub status: StatusCode,
    pub body: serde_json::Value,
    pub replayed: bool,
}

impl Booked {
    fn replay(status: StatusCode, body: serde_json::Value) -> Self {
        Self {
            status,
            body,
            replayed: true,
        }
    }
}

/// The stored answer to a retried `Idempotency-Key`, looked up before
/// anything is checked, so a retry is answered as the first time even when the
/// rules would refuse the request now. A key stored for a different request
/// is refused; one claimed by a request still in flight is left to the
/// claim, which waits for it.
pub(crate) async fn replayed(
    conn: &mut sqlx::PgConnection,
    user: Uuid,
    key: &IdempotencyKey,
) -> Result<Option<(StatusCode, serde_json::Value)>, Error> {
    let Some(stored) = replays::lookup(conn, user, &key.key).await? else {
        return Ok(None);
    };
    if stored.request_hash != key.request_hash {
        return Err(Error::IdempotencyKeyReused);
    }
    Ok(match (stored.response_status, stored.response_body) {
        (Some(status), Some(body)) => Some((
            StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK),
            body,
        )),
        _ => None,
    })
}

/// A hold a booking converts, with the waitlist offer it was made for, if any.
struct Converting {
    hold: HoldRow,
    offer: Option<OfferRow>,
}

/// The hold `hold_id`, if it can become the booking `req` asks for at `now`.
async fn convertible(
    conn: &mut sqlx::PgConnection,
    actor: Actor,
    hold_id: Uuid,
    req: &BookingRequest,
    now: DateTime<Utc>,
) -> Result<Converting, Error> {
    let hold = holds_store::get(&mut *conn, hold_id)
        .await?
        .filter(|h| may_book_for(actor, h.patient_id))
        .ok_or(Error::HoldNotFound)?;
    match hold.status.as_str() {
        "held" => {}
        "released" | "expired" => return Err(Error::HoldExpired),
        _ => return Err(Error::HoldConverted),
    }
    let want = Conversion {
        patient_id: req.patient_id,
        provider_id: req.provider_id,
        appointment_type_id: req.appointment_type_id,
        start: req.start,
    };
    check_conversion(&hold.held(), &want, now)?;
    let offer = waitlist_store::open_offer_for_hold(&mut *conn, hold.id).await?;
    Ok(Converting { hold, offer })
}

/// Book: 201 with the appointment, or the stored response for a retried key.
///
/// A retried key is answered first, before any rule is checked. Reads and
/// validation happen before the transaction, on the one connection the whole
/// booking uses; the transaction is then the idempotency claim with its
/// response, the events, the calendar lock with the insert and its history,
/// and the commit. Everything the response and the events say is known before
/// the insert: the row is exactly what is inserted. With `hold_id` the hold
/// becomes the appointment (same id): the rules were checked when it was made.
pub async fn book(
    state: &AppState,
    actor: Actor,
    req: BookingRequest,
    key: Option<IdempotencyKey>,
) -> Result<Booked, Error> {
    let mut conn = state.db.acquire().await?;
    if let Some(k) = &key {
        if let Some((status, body)) = replayed(&mut conn, actor.user_id, k).await? {
            return Ok(Booked::replay(status, body));
        }
    }
    if !may_book_for(actor, req.patient_id) {
        return Err(Problem::forbidden().into());
    }
    let (t, time_zone) = type_to_book(
        &mut conn,
        req.provider_id,
        req.appointment_type_id,
        req.patient_id,
    )
    .await?;
    let now = state.clock.now();
    let (slot, checked_version, converting) = match req.hold_id {
        None => {
            let (slot, version) = check(
                &mut conn,
                req.provider_id,
                &time_zone,
                &t,
                req.start,
                now,
                Room::AtInsert,
            )
            .await?;
            (slot, version, None)
        }
        Some(hold_id) => {
            let c = convertible(&mut conn, actor, hold_id, &req, now).await?;
            let slot = Slot {
                start: c.hold.start,
                end: c.hold.end,
            };
            (slot, 0, Some(c))
        }
    };
    let id = converting.as_ref().map_or_else(Uuid::now_v7, |c| c.hold.id);
    let new = new_booking(id, req.patient_id, &t, &slot, actor.user_id, now);
    let row = new.booked_row();
    let body = json(&AppointmentDetail::of(&row, &t, state))?;
    let booked = event::<AppointmentBooked>(
        &row,
        &t,
        &time_zone,
        Status::Booked,
        row.version,
        actor.user_id,
    )?;
    let links = links::issued(state, &row)?;

    let mut tx = conn.begin().await?;
    if let Some(k) = &key {
        let status = StatusCode::CREATED.as_u16();
        match idempotency::claim_answered(
            &mut tx,
            actor.user_id,
            &k.key,
            &k.request_hash,
            status,
            &body,
        )
        .await?
        {
            idempotency::Claim::Fresh => {}
            idempotency::Claim::Replay { status, body } => {
                return Ok(Booked::replay(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED),
                    body,
                ));
            }
            idempotency::Claim::Mismatch => return Err(Error::IdempotencyKeyReused),
        }
    }
    outbox::enqueue_all(&mut tx, &[&booked, &links]).await?;
    let refilled = match &converting {
        None => {
            insert_checked(&mut tx, &new, &time_zone, &t, checked_version, now).await?;
            None
        }
        Some(c) => convert_in(&mut tx, c, actor.user_id, now).await?,
    };
    tx.commit().await?;
    state.relay.wake();
    if let Some(opened_at) = refilled {
        waitlist::record_refill(opened_at, now);
    }
    metrics::counter!("appointments_booked_total").increment(1);
    tracing::info!(appointment_id = %row.id, provider_id = %row.provider_id, "appointment booked");
    Ok(Booked {
        status: StatusCode::CREATED,
        body,
        replayed: false,
    })
}

/// The row a booking of `slot` of type `t` for `patient_id` inserts, by `by` at `now`.
pub(crate) fn new_booking(
    id: Uuid,
    patient_id: Uuid,
    t: &TypeRow,
    slot: &Slot,
    by: Uuid,
    now: DateTime<Utc>,
) -> store::NewAppointment {
    store::NewAppointment {
        id,
        patient_id,
        provider_id: t.provider_id,
        appointment_type_id: t.id,
        during: Busy {
            start: slot.start,
            end: slot.end,
        },
        blocked: blocked(&t.rules(), slot),
        created_by: by,
        at: now,
    }
}

/// Insert a booking checked against calendar `version`. When the hours
/// changed after the check, check again under the lock the insert now holds.
pub(crate) async fn insert_checked(
    tx: &mut sqlx::PgConnection,
    new: &store::NewAppointment,
    zone: &str,
    t: &TypeRow,
    version: i64,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if store::insert_booked(tx, new, version).await? {
        return Ok(());
    }
    let (_, version) = check(
        tx,
        new.provider_id,
        zone,
        t,
        new.during.start,
        now,
        Room::Ask(None),
    )
    .await?;
    if !store::insert_booked(tx, new, version).await? {
        return Err(Error::Internal(CALENDAR_CHANGED_UNDER_LOCK.to_owned()));
    }
    Ok(())
}

/// In the booking's transaction: the hold becomes the appointment, and a
/// waitlist offer's entry is fulfilled. When the slot had been freed, if
/// it was an offer (for the time-to-refill metric).
async fn convert_in(
    tx: &mut sqlx::PgConnection,
    c: &Converting,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    if !holds_store::convert(tx, &c.hold, now, by).await? {
        return Err(Error::HoldExpired);
    }
    let entry = c.offer.as_ref().map(|o| o.entry_id);
    let data = hold_data(&c.hold, entry, Some(c.hold.id), Some(by));
    outbox::enqueue(tx, &hold_envelope::<HoldConverted>(&data)?).await?;
    match &c.offer {
        Some(offer) => Ok(Some(waitlist::fulfil(tx, offer, c.hold.id, by, now).await?)),
        None => Ok(None),
    }
}

fn json(answer: &impl Serialize) -> Result<serde_json::Value, Error> {
    serde_json::to_value(answer).map_err(|e| Error::Internal(e.to_string()))
}

/// The appointment, if `actor` may see it (otherwise it does not exist for them).
pub async fn get(state: &AppState, actor: Actor, id: Uuid) -> Result<AppointmentDetail, Error> {
    let row = store::get(&state.db, id)
        .await?
        .ok_or(Error::AppointmentNotFound)?;
    if !may(actor, Operation::View, row.patient_id, row.provider_id) {
        return Err(Error::AppointmentNotFound);
    }
    let t = types::by_id(&state.db, row.appointment_type_id)
        .await?
        .ok_or(Error::TypeNotFound)?;
    Ok(AppointmentDetail::of(&row, &t, state))
}

/// Lock the appointment for a change `op` by `actor`.
async fn lock_for(
    tx: &mut sqlx::PgConnection,
    actor: Actor,
    id: Uuid,
    op: Operation,
) -> Result<AppointmentRow, Error> {
    let row = store::lock(tx, id)
        .await?
        .ok_or(Error::AppointmentNotFound)?;
    if !may(actor, Operation::View, row.patient_id, row.provider_id) {
        return Err(Error::AppointmentNotFound);
    }
    if !may(actor, op, row.patient_id, row.provider_id) {
        return Err(Problem::forbidden().into());
    }
    Ok(row)
}

/// The appointment's type and its provider's time zone, in one query; on the
/// transaction's own connection when called with one (waiting for a second
/// connection while holding one starves the pool under load).
async fn type_in_zone(
    db: impl sqlx::PgExecutor<'_>,
    row: &AppointmentRow,
) -> Result<(TypeRow, String), Error> {
    type_of(db, row.appointment_type_id, row.patient_id).await
}

/// The type a booking (hold, series) of `patient_id` with `provider_id` asks
/// for, with the provider's time zone: 404 problems for an unknown type (or
/// one of another provider), patient or provider.
pub(crate) async fn type_to_book(
    conn: &mut sqlx::PgConnection,
    provider_id: Uuid,
    type_id: Uuid,
    patient_id: Uuid,
) -> Result<(TypeRow, String), Error> {
    let found = types::in_zone(&mut *conn, type_id, patient_id)
        .await?
        .filter(|f| f.t.provider_id == provider_id)
        .ok_or(Error::TypeNotFound)?;
    if !found.patient_known {
        return Err(Error::PatientNotFound);
    }
    Ok((found.t, found.time_zone.ok_or(Error::ProviderNotFound)?))
}

/// Type `type_id` and its provider's time zone (see [`type_in_zone`]).
pub(crate) async fn type_of(
    db: impl sqlx::PgExecutor<'_>,
    type_id: Uuid,
    patient_id: Uuid,
) -> Result<(TypeRow, String), Error> {
    let found = types::in_zone(db, type_id, patient_id)
        .await?
        .ok_or(Error::TypeNotFound)?;
    Ok((found.t, found.time_zone.ok_or(Error::ProviderNotFound)?))
}

/// Cancel, applying the type's late-cancellation policy.
pub async fn cancel(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    reason: &str,
) -> Result<AppointmentDetail, Error> {
    cancel_by(state, actor, id, reason, None).await
}

/// [`cancel`], by a self-service `link` when one is given (it must be for
/// this version and unused; the use is recorded in the same transaction).
/// The freed time goes to the waitlist.
pub async fn cancel_by(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    reason: &str,
    link: Option<&Link>,
) -> Result<AppointmentDetail, Error> {
    let reason = reason.trim();
    if reason.chars().count() > 500 {
        return Err(Error::invalid("reason", "at most 500 characters"));
    }
    let mut tx = state.db.begin().await?;
    let row = lock_for(&mut tx, actor, id, Operation::Cancel).await?;
    let now = state.clock.now();
    if let Some(link) = link {
        links::spend(&mut tx, link, row.version, now).await?;
    }
    let status = next(row.status(), Action::Cancel)?;
    let (t, tz) = type_in_zone(&mut *tx, &row).await?;
    let policy = t.policy(state.max_fee);
    let outcome = cancellation::assess(row.start, now, &policy, actor.role);
    let change = store::Change {
        by: actor.user_id,
        cancel: Some((reason, outcome.late)),
    };
    let changed = store::transition(&mut tx, id, status, change).await?;
    let mut data = event_data(&row, &t, &tz, status, changed.version, actor.user_id);
    data.reason = (!reason.is_empty()).then(|| reason.to_owned());
    data.late = outcome.late;
    data.fee = outcome.fee;
    outbox::enqueue(&mut tx, &envelope::<AppointmentCancelled>(&data)?).await?;
    let freed = row.start > now;
    if freed {
        let slot = Slot {
            start: row.start,
            end: row.end,
        };
        let during = blocked(&t.rules(), &slot);
        waitlist_store::record_opening(&mut *tx, row.provider_id, during, Cause::Cancelled, now)
            .await?;
    }
    tx.commit().await?;
    state.relay.wake();
    if freed {
        state.backfill.notify_one();
    }
    tracing::info!(appointment_id = %id, late = outcome.late, "appointment cancelled");
    Ok(AppointmentDetail::of(&changed, &t, state))
}

/// In an availability change's transaction, under the calendar lock: cancel
/// an appointment the change strands. The clinic cancels, so it is never late
/// and owes no fee; the event is the ordinary `appointment.cancelled` (the
/// patient's cancellation email), and the freed time is recorded for the
/// waitlist's backfill. `false` when it was no longer booked (its patient
/// cancelled meanwhile).
pub(crate) async fn cancel_stranded(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    reason: &str,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let Some(row) = store::lock(tx, id).await? else {
        return Ok(false);
    };
    if row.status() != Status::Booked {
        return Ok(false);
    }
    let status = next(row.status(), Action::Cancel)?;
    let (t, tz) = type_in_zone(&mut *tx, &row).await?;
    let change = store::Change {
        by,
        cancel: Some((reason, false)),
    };
    let changed = store::transition(tx, id, status, change).await?;
    let mut data = event_data(&row, &t, &tz, status, changed.version, by);
    data.reason = Some(reason.to_owned());
    outbox::enqueue(tx, &envelope::<AppointmentCancelled>(&data)?).await?;
    let slot = Slot {
        start: row.start,
        end: row.end,
    };
    waitlist_store::record_opening(
        &mut *tx,
        row.provider_id,
        blocked(&t.rules(), &slot),
        Cause::Cancelled,
        now,
    )
    .await?;
    Ok(true)
}

fn event_data(
    row: &AppointmentRow,
    t: &TypeRow,
    tz: &str,
    status: Status,
    version: i32,
    by: Uuid,
) -> AppointmentEvent {
    AppointmentEvent {
        appointment_id: row.id,
        patient_id: row.patient_id,
        provider_id: row.provider_id,
        appointment_type_id: t.id,
        appointment_type_name: t.name.clone(),
        start: row.start,
        end: row.end,
        time_zone: tz.to_owned(),
        mode: t.mode(),
        price: t.price(),
        status,
        version,
        previous_start: None,
        previous_end: None,
        reason: None,
        late: false,
        fee: None,
        changed_by: by,
        reminder_offsets_minutes: t.reminder_offsets(),
    }
}

/// A move asked for: the new start, and staff's reason for waiving the late fee.
pub struct MoveRequest {
    pub start: DateTime<Utc>,
    pub waive_fee_reason: Option<String>,
}

/// The waiver's reason, trimmed, if `actor` may waive and it is 3–500 characters.
fn waiver(actor: Actor, reason: Option<&str>) -> Result<Option<String>, Error> {
    let Some(reason) = reason.map(str::trim) else {
        return Ok(None);
    };
    if !may_waive_fee(actor) {
        return Err(Problem::forbidden()
            .with_detail("Only staff can waive a fee.")
            .into());
    }
    if !(3..=500).contains(&reason.chars().count()) {
        return Err(Error::invalid("waive_fee_reason", "3 to 500 characters"));
    }
    Ok(Some(reason.to_owned()))
}

/// Move to `start`: same id, same race guarantees, history kept. Inside the
/// cancellation window the move counts as a late cancellation and owes the
/// fee (see [`cancellation::assess_reschedule`]), unless staff waive it; the
/// waiver's reason goes into the history. Answers 200 with [`Rescheduled`], or
/// the stored answer for a retried `Idempotency-Key`.
///
/// The key is claimed first, before anything is checked, so a retry gets the
/// first answer whatever has changed since; everything else happens on the
/// transaction's one connection. The old time goes to the waitlist and the
/// new version gets its links.
pub async fn reschedule(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    req: MoveRequest,
    key: Option<IdempotencyKey>,
) -> Result<(StatusCode, serde_json::Value), Error> {
    reschedule_by(state, actor, id, req, key, None).await
}

/// [`reschedule`], by a self-service `link` when one is given (see [`cancel_by`]).
pub async fn reschedule_by(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    req: MoveRequest,
    key: Option<IdempotencyKey>,
    link: Option<&Link>,
) -> Result<(StatusCode, serde_json::Value), Error> {
    let mut tx = state.db.begin().await?;
    if let Some(k) = &key {
        match idempotency::claim(&mut tx, actor.user_id, &k.key, &k.request_hash).await? {
            idempotency::Claim::Fresh => {}
            idempotency::Claim::Replay { status, body } => {
                return Ok((StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body));
            }
            idempotency::Claim::Mismatch => return Err(Error::IdempotencyKeyReused),
        }
    }
    let waiver = waiver(actor, req.waive_fee_reason.as_deref())?;
    let current = store::get(&mut *tx, id)
        .await?
        .ok_or(Error::AppointmentNotFound)?;
    if !may(
        actor,
        Operation::View,
        current.patient_id,
        current.provider_id,
    ) {
        return Err(Error::AppointmentNotFound);
    }
    let (t, tz) = type_in_zone(&mut *tx, &current).await?;
    let now = state.clock.now();
    // The lock first, then the check: hours changed meanwhile are seen.
    store::lock_provider_calendar(&mut tx, current.provider_id).await?;
    let (slot, _) = check(
        &mut tx,
        current.provider_id,
        &tz,
        &t,
        req.start,
        now,
        Room::Ask(Some(id)),
    )
    .await?;
    let row = lock_for(&mut tx, actor, id, Operation::Reschedule).await?;
    if let Some(link) = link {
        links::spend(&mut tx, link, row.version, now).await?;
    }
    next(row.status(), Action::Reschedule)?;
    let policy = t.policy(state.max_fee);
    let outcome =
        cancellation::assess_reschedule(row.start, now, &policy, actor.role, waiver.is_some());
    let during = Busy {
        start: slot.start,
        end: slot.end,
    };
    let version = store::move_to(&mut tx, id, during, blocked(&t.rules(), &slot), now).await?;
    let note = match (&waiver, outcome.late, &outcome.fee) {
        (_, false, _) => "rescheduled".to_owned(),
        (Some(reason), true, None) if policy.late_cancel_fee.is_some() => {
            format!("rescheduled inside the cancellation window; fee waived: {reason}")
        }
        _ => "rescheduled inside the cancellation window".to_owned(),
    };
    store::record_history(
        &mut tx,
        &row,
        version,
        Status::Booked,
        during,
        actor.user_id,
        Some(&note),
    )
    .await?;
    let moved = AppointmentRow {
        start: slot.start,
        end: slot.end,
        version,
        ..row.clone()
    };
    let mut data = event_data(&moved, &t, &tz, Status::Booked, version, actor.user_id);
    data.previous_start = Some(row.start);
    data.previous_end = Some(row.end);
    data.late = outcome.late;
    data.fee = outcome.fee.clone();
    outbox::enqueue(&mut tx, &envelope::<AppointmentRescheduled>(&data)?).await?;
    outbox::enqueue(&mut tx, &links::issued(state, &moved)?).await?;
    let freed = row.start > now;
    if freed {
        let old = Slot {
            start: row.start,
            end: row.end,
        };
        let during = blocked(&t.rules(), &old);
        waitlist_store::record_opening(&mut *tx, row.provider_id, during, Cause::Rescheduled, now)
            .await?;
    }
    let body = json(&Rescheduled {
        appointment: AppointmentDetail::of(&moved, &t, state),
        late: outcome.late,
        fee: outcome.fee,
    })?;
    if let Some(k) = &key {
        idempotency::save(
            &mut tx,
            actor.user_id,
            &k.key,
            StatusCode::OK.as_u16(),
            &body,
        )
        .await?;
    }
    tx.commit().await?;
    state.relay.wake();
    if freed {
        state.backfill.notify_one();
    }
    tracing::info!(
        appointment_id = %id,
        late = outcome.late,
        waived = waiver.is_some(),
        "appointment rescheduled"
    );
    Ok((StatusCode::OK, body))
}

/// Check in, complete or mark a no-show.
pub async fn record_visit(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    action: Action,
) -> Result<AppointmentDetail, Error> {
    let mut tx = state.db.begin().await?;
    let row = lock_for(&mut tx, actor, id, Operation::RecordVisit).await?;
    let status = next(row.status(), action)?;
    step_open(action, row.start, state.clock.now())?;
    let (t, tz) = type_in_zone(&mut *tx, &row).await?;
    let change = store::Change {
        by: actor.user_id,
        cancel: None,
    };
    let changed = store::transition(&mut tx, id, status, change).await?;
    let mut data = event_data(&row, &t, &tz, status, changed.version, actor.user_id);
    let event = match status {
        Status::CheckedIn => envelope::<AppointmentCheckedIn>(&data)?,
        Status::Completed => envelope::<AppointmentCompleted>(&data)?,
        _ => {
            // A no-show owes the type's no-show fee, when it has one (capped).
            data.fee = t.policy(state.max_fee).no_show_fee;
            envelope::<AppointmentNoShow>(&data)?
        }
    };
    outbox::enqueue(&mut tx, &event).await?;
    tx.commit().await?;
    state.relay.wake();
    tracing::info!(appointment_id = %id, status = status.as_str(), "appointment updated");
    Ok(AppointmentDetail::of(&changed, &t, state))
}

/// Who sees which appointments in lists.
pub fn scope(actor: Actor, filter: &mut store::ListFilter) {
    match actor.role {
        Role::Patient => filter.patient_id = Some(actor.user_id),
        Role::Provider => filter.provider_id = Some(actor.user_id),
        Role::Staff | Role::Admin => {}
    }
}

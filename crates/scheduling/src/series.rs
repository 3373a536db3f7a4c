//! Recurring series: staff or the provider book every occurrence of a weekly
//! (or every-n-weeks) visit in one request. Each occurrence is booked exactly
//! as a single booking would be (the same rules, the same exclusion
//! constraints, its own `appointment.booked` event, calendar file and links),
//! inside one transaction: with `all_or_nothing` any refusal rolls back all of
//! them; otherwise each refused occurrence keeps the problem a single booking
//! would have got. Cancelling "this and all following" cancels each booked
//! occurrence from one on, with the ordinary cancellation.

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use contracts::scheduling::AppointmentBooked;
use platform::{
    events::outbox,
    idempotency::{self, IdempotencyKey},
    problem::ProblemBody,
    Problem,
};
use serde::{Deserialize, Serialize};
use sqlx::{types::Json, Connection, PgConnection};
use uuid::Uuid;

use crate::{
    appointments::{
        self, check, event, insert_checked, new_booking, replayed, type_to_book, Appointment,
        CancellationPolicy, Room,
    },
    calendar::time_zone,
    domain::{
        access::{may, may_manage_calendar, Actor, Operation},
        lifecycle::Status,
        series::{plan, Recurrence},
    },
    error::Error,
    links,
    store::{
        appointments::{self as store, AppointmentRow},
        series::{self as series_store, OccurrenceRow, SeriesRow},
        types::TypeRow,
    },
    AppState,
};

/// What a series asks for.
pub struct SeriesRequest {
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub patient_id: Uuid,
    pub recurrence: Recurrence,
    pub all_or_nothing: bool,
}

/// One occurrence: its appointment, or why it could not be booked.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Occurrence {
    /// 0 for the first.
    pub position: u32,
    /// The day in the provider's time zone.
    pub date: NaiveDate,
    /// `null` when the wall-clock time does not exist that day (clocks
    /// jumped past it).
    pub start: Option<DateTime<Utc>>,
    /// The appointment as it is now (cancel one with its own endpoint).
    #[schema(required = true)]
    pub appointment: Option<Appointment>,
    /// The problem a single booking of this occurrence got.
    #[schema(required = true)]
    pub not_booked: Option<ProblemBody>,
}

/// A series and its occurrences.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Series {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    pub every_weeks: u32,
    /// The provider's zone: every occurrence keeps its wall-clock time there.
    pub time_zone: String,
    pub cancellation_policy: CancellationPolicy,
    pub occurrences: Vec<Occurrence>,
}

/// Book a series: 201 with it, or the stored answer to a retried
/// `Idempotency-Key` (looked up first, as for a booking). With
/// `all_or_nothing`, a refused occurrence refuses all:
/// [`Error::SeriesConflicts`] lists what each would have got (and the key is
/// not spent).
pub async fn create(
    state: &AppState,
    actor: Actor,
    req: SeriesRequest,
    key: Option<IdempotencyKey>,
) -> Result<(StatusCode, serde_json::Value), Error> {
    let mut conn = state.db.acquire().await?;
    if let Some(k) = &key {
        if let Some(answer) = replayed(&mut conn, actor.user_id, k).await? {
            return Ok(answer);
        }
    }
    if !may_manage_calendar(actor, req.provider_id) {
        return Err(Problem::forbidden().into());
    }
    let (t, zone) = type_to_book(
        &mut conn,
        req.provider_id,
        req.appointment_type_id,
        req.patient_id,
    )
    .await?;
    let planned = plan(&req.recurrence, time_zone(&zone, req.provider_id))
        .map_err(|e| Error::invalid(e.field(), e.to_string()))?;
    let now = state.clock.now();
    let series = SeriesRow {
        id: Uuid::now_v7(),
        provider_id: req.provider_id,
        patient_id: req.patient_id,
        appointment_type_id: t.id,
        every_weeks: req.recurrence.every_weeks as i32,
    };

    let mut tx = conn.begin().await?;
    if let Some(k) = &key {
        // A retry racing the first waits here on the key's row.
        match idempotency::claim(&mut tx, actor.user_id, &k.key, &k.request_hash).await? {
            idempotency::Claim::Fresh => {}
            idempotency::Claim::Replay { status, body } => {
                return Ok((
                    StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED),
                    body,
                ));
            }
            idempotency::Claim::Mismatch => return Err(Error::IdempotencyKeyReused),
        }
    }
    series_store::insert(&mut tx, &series, actor.user_id).await?;
    let mut rows = Vec::with_capacity(planned.len());
    let mut booked = Vec::new();
    for p in &planned {
        let outcome = match p.start {
            None => Err(no_such_local_time()),
            Some(start) => {
                let mut savepoint = tx.begin().await?;
                let outcome =
                    book_one(&mut savepoint, state, actor, &series, &t, &zone, start, now).await;
                match outcome {
                    Ok(row) => {
                        savepoint.commit().await?;
                        Ok(row)
                    }
                    Err(e) => {
                        savepoint.rollback().await?;
                        Err(refusal(e)?)
                    }
                }
            }
        };
        let (appointment_id, not_booked) = match outcome {
            Ok(row) => {
                let id = row.id;
                booked.push(row);
                (Some(id), None)
            }
            Err(problem) => (None, Some(Json(problem))),
        };
        rows.push(OccurrenceRow {
            position: p.index as i32,
            local_date: p.date,
            start: p.start,
            appointment_id,
            not_booked,
        });
    }
    let answer = view(&series, &t, &zone, state, &rows, &booked);
    if req.all_or_nothing && booked.len() < rows.len() {
        // Dropping the transaction rolls every occurrence back.
        return Err(Error::SeriesConflicts(answer.occurrences));
    }
    series_store::insert_occurrences(&mut tx, series.id, &rows).await?;
    let body = serde_json::to_value(&answer).map_err(|e| Error::Internal(e.to_string()))?;
    if let Some(k) = &key {
        idempotency::save(
            &mut tx,
            actor.user_id,
            &k.key,
            StatusCode::CREATED.as_u16(),
            &body,
        )
        .await?;
    }
    tx.commit().await?;
    state.relay.wake();
    metrics::counter!("appointments_booked_total").increment(booked.len() as u64);
    tracing::info!(series_id = %series.id, booked = booked.len(), planned = rows.len(), "series booked");
    Ok((StatusCode::CREATED, body))
}

/// The problem of a refusal a single booking would answer with a 4xx (the
/// occurrence is reported, the series goes on); `Err` for a failure of the
/// system (the whole request fails).
fn refusal(e: Error) -> Result<ProblemBody, Error> {
    let problem = Problem::from(e);
    if problem.status.is_client_error() {
        Ok(problem.body())
    } else {
        Err(Error::Problem(problem))
    }
}

fn no_such_local_time() -> ProblemBody {
    Problem::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "no-such-local-time",
        "No such local time",
    )
    .with_detail("The clocks skip this time on this day (daylight saving); book it separately.")
    .body()
}

/// One occurrence, on the series' transaction (inside a savepoint, so a
/// refusal by a constraint leaves the rest intact).
#[allow(clippy::too_many_arguments)]
async fn book_one(
    conn: &mut PgConnection,
    state: &AppState,
    actor: Actor,
    series: &SeriesRow,
    t: &TypeRow,
    zone: &str,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<AppointmentRow, Error> {
    let (slot, version) = check(
        conn,
        series.provider_id,
        zone,
        t,
        start,
        now,
        Room::AtInsert,
    )
    .await?;
    let new = new_booking(
        Uuid::now_v7(),
        series.patient_id,
        t,
        &slot,
        actor.user_id,
        now,
    );
    insert_checked(conn, &new, zone, t, version, now).await?;
    let row = new.booked_row();
    let booked =
        event::<AppointmentBooked>(&row, t, zone, Status::Booked, row.version, actor.user_id)?;
    outbox::enqueue(&mut *conn, &booked).await?;
    outbox::enqueue(&mut *conn, &links::issued(state, &row)?).await?;
    Ok(row)
}

/// The series as it is now, if `actor` may see it (its patient, its provider,
/// staff and admins).
pub async fn get(state: &AppState, actor: Actor, id: Uuid) -> Result<Series, Error> {
    let mut conn = state.db.acquire().await?;
    let series = visible(&mut conn, actor, id).await?;
    let (t, zone) =
        appointments::type_of(&mut *conn, series.appointment_type_id, series.patient_id).await?;
    let rows = series_store::occurrences(&mut *conn, id).await?;
    let mut current = Vec::new();
    for appointment_id in rows.iter().filter_map(|r| r.appointment_id) {
        if let Some(row) = store::get(&mut *conn, appointment_id).await? {
            current.push(row);
        }
    }
    Ok(view(&series, &t, &zone, state, &rows, &current))
}

/// Cancel occurrence `from` (default: the next one to come) and every booked
/// occurrence after it, each as `POST /appointments/{id}/cancel` would, with
/// its policy. Occurrences already cancelled or past are left as they are.
pub async fn cancel_following(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    from: Option<Uuid>,
    reason: &str,
) -> Result<Series, Error> {
    let rows = {
        let mut conn = state.db.acquire().await?;
        visible(&mut conn, actor, id).await?;
        series_store::occurrences(&mut *conn, id).await?
    };
    let threshold = match from {
        None => state.clock.now(),
        Some(from) => rows
            .iter()
            .find(|r| r.appointment_id == Some(from))
            .and_then(|r| r.start)
            .ok_or_else(|| Error::invalid("from", "not an appointment of this series"))?,
    };
    for r in &rows {
        let (Some(appointment_id), Some(start)) = (r.appointment_id, r.start) else {
            continue;
        };
        if start < threshold {
            continue;
        }
        match appointments::cancel(state, actor, appointment_id, reason).await {
            // Cancelled or visited meanwhile: nothing to cancel.
            Ok(_) | Err(Error::IllegalTransition(_)) => {}
            Err(e) => return Err(e),
        }
    }
    get(state, actor, id).await
}

async fn visible(conn: &mut PgConnection, actor: Actor, id: Uuid) -> Result<SeriesRow, Error> {
    series_store::get(&mut *conn, id)
        .await?
        .filter(|s| may(actor, Operation::View, s.patient_id, s.provider_id))
        .ok_or(Error::SeriesNotFound)
}

fn view(
    series: &SeriesRow,
    t: &TypeRow,
    zone: &str,
    state: &AppState,
    rows: &[OccurrenceRow],
    appointments: &[AppointmentRow],
) -> Series {
    Series {
        id: series.id,
        provider_id: series.provider_id,
        patient_id: series.patient_id,
        appointment_type_id: series.appointment_type_id,
        every_weeks: series.every_weeks.unsigned_abs(),
        time_zone: zone.to_owned(),
        cancellation_policy: CancellationPolicy::from(&t.policy(state.max_fee)),
        occurrences: rows
            .iter()
            .map(|r| Occurrence {
                position: r.position.unsigned_abs(),
                date: r.local_date,
                start: r.start,
                appointment: r
                    .appointment_id
                    .and_then(|id| appointments.iter().find(|a| a.id == id))
                    .map(Appointment::from),
                not_booked: r.not_booked.as_ref().map(|p| p.0.clone()),
            })
            .collect(),
    }
}

//! Appointments: the rows the exclusion constraints guard, and their history.

use chrono::{DateTime, Utc};
use sqlx::{postgres::types::PgRange, PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{lifecycle::Status, slots::Busy};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppointmentRow {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: String,
    pub version: i32,
    pub cancel_reason: Option<String>,
    pub late_cancellation: bool,
}

impl AppointmentRow {
    pub fn status(&self) -> Status {
        // The column's CHECK constraint admits only known states.
        Status::parse(&self.status).unwrap_or(Status::Cancelled)
    }
}

/// An [`AppointmentRow`]'s columns, from `appointments` or a CTE over it.
macro_rules! columns {
    () => {
        "id, patient_id, provider_id, appointment_type_id, lower(during) AS start, upper(during) AS \"end\", \
         status, version, cancel_reason, late_cancellation"
    };
}

/// Appointment rows only: holds live in the same table (see `store::holds`).
const SELECT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM appointments WHERE status NOT IN ('held', 'released', 'expired')"
);

/// Takes the advisory lock on provider `$1`'s calendar for the rest of the transaction.
pub(crate) const CALENDAR_LOCK: &str =
    "pg_advisory_xact_lock(hashtextextended('scheduling.provider:' || $1::text, 0))";

/// Takes the same lock as [`CALENDAR_LOCK`] and yields the calendar's version
/// as committed once the lock is granted (`scheduling_lock_calendar`, from the
/// migrations): a statement that inserts only when it equals the version its
/// checks read cannot land in hours a change took away meanwhile.
pub(crate) const VERSIONED_CALENDAR_LOCK: &str = "scheduling_lock_calendar($1)";

/// Take the provider's calendar lock for the rest of the transaction.
///
/// The exclusion constraint alone decides overlaps, but two transactions
/// inserting overlapping rows at once each insert their index entry before
/// checking the other's, and can deadlock (PostgreSQL aborts one after
/// `deadlock_timeout`, with every waiter queued behind it). Taking this lock
/// first makes bookings of one provider run one at a time: the loser of a race
/// sees the winner's committed row and gets a clean `slot-taken`.
pub async fn lock_provider_calendar(
    conn: &mut PgConnection,
    provider_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("SELECT {CALENDAR_LOCK}"))
        .bind(provider_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Why an appointment could not take its time.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the provider is already booked then")]
    ProviderOverlap,
    #[error("the patient already has an appointment then")]
    PatientOverlap,
    #[error("a concurrent booking clashed; retry")]
    Contended,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub(crate) fn map_write(e: sqlx::Error) -> WriteError {
    if let sqlx::Error::Database(db) = &e {
        match db.constraint() {
            Some("appointments_provider_overlap") => return WriteError::ProviderOverlap,
            Some("appointments_patient_overlap") => return WriteError::PatientOverlap,
            _ => {}
        }
        // One patient booked at two providers at the same instant can still
        // deadlock on the patient constraint: a transient clash, not a fault.
        if db.code().as_deref() == Some("40P01") {
            return WriteError::Contended;
        }
    }
    WriteError::Db(e)
}

/// Intervals the provider's active appointments and holds live at `now`
/// block within `[from, to)`: the same rows the exclusion constraint weighs.
pub async fn busy(
    db: impl sqlx::PgExecutor<'_>,
    provider_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Busy>, sqlx::Error> {
    let rows: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT lower(blocked), upper(blocked) FROM appointments
         WHERE provider_id = $1 AND status IN ('booked', 'checked_in', 'held')
           AND blocked && tstzrange($2, $3) AND claimed && tstzrange($4, NULL)",
    )
    .bind(provider_id)
    .bind(from)
    .bind(to)
    .bind(now)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(start, end)| Busy { start, end })
        .collect())
}

pub struct NewAppointment {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub during: Busy,
    pub blocked: Busy,
    pub created_by: Uuid,
    /// When it was booked: its claim on the time runs from here, open-ended.
    pub at: DateTime<Utc>,
}

impl NewAppointment {
    /// The row [`insert_booked`] writes, as [`get`] would read it back.
    pub fn booked_row(&self) -> AppointmentRow {
        AppointmentRow {
            id: self.id,
            patient_id: self.patient_id,
            provider_id: self.provider_id,
            appointment_type_id: self.appointment_type_id,
            start: self.during.start,
            end: self.during.end,
            status: Status::Booked.as_str().to_owned(),
            version: 1,
            cancel_reason: None,
            late_cancellation: false,
        }
    }
}

/// Book: take the provider's calendar lock ([`lock_provider_calendar`]), insert
/// the appointment and its first history row, all in one statement.
///
/// The lock is taken inside the statement, so it is held only while the
/// statement runs and the transaction commits, never while this process waits
/// for its next turn on a busy CPU between statements. Under load the round
/// trips that used to sit between the lock and the commit (claim, insert,
/// re-read, history, outbox, idempotency save) each waited for this process to
/// be scheduled again, and every other booking of the provider queued behind
/// them. The exclusion check runs after the lock is granted, so it sees the
/// previous holder's committed row and fails cleanly with `slot-taken`.
///
/// `false`, with nothing written, when the calendar's version is no longer
/// `checked_version` (the availability changed after the rules were checked):
/// the caller checks again, now under the lock, and retries.
pub async fn insert_booked(
    conn: &mut PgConnection,
    a: &NewAppointment,
    checked_version: i64,
) -> Result<bool, WriteError> {
    let inserted = sqlx::query(&format!(
        "WITH calendar AS (SELECT {VERSIONED_CALENDAR_LOCK} AS version),
         booked AS (
             INSERT INTO appointments (id, patient_id, provider_id, appointment_type_id, during, blocked, claimed, status, created_by)
             SELECT $2, $3, $1, $4, $5, $6, tstzrange($8, NULL), 'booked', $7 FROM calendar
             WHERE version = $9 AND scheduling_day_has_room($1, $4, lower($5), $8, NULL)
             RETURNING id, version, status, during, created_by)
         INSERT INTO appointment_history (appointment_id, version, status, during, changed_by)
         SELECT id, version, status, during, created_by FROM booked"
    ))
    .bind(a.provider_id)
    .bind(a.id)
    .bind(a.patient_id)
    .bind(a.appointment_type_id)
    .bind(PgRange::from(a.during.start..a.during.end))
    .bind(PgRange::from(a.blocked.start..a.blocked.end))
    .bind(a.created_by)
    .bind(a.at)
    .bind(checked_version)
    .execute(conn)
    .await
    .map_err(map_write)?
    .rows_affected();
    Ok(inserted == 1)
}

/// Whether the provider's day of `start` has room for one more appointment
/// of type `kind` under the daily caps, `moving` aside (see the SQL function
/// `scheduling_day_has_room`, which the inserts also ask under the lock).
pub async fn day_has_room(
    conn: &mut PgConnection,
    provider_id: Uuid,
    kind: Uuid,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    moving: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT scheduling_day_has_room($1, $2, $3, $4, $5)")
        .bind(provider_id)
        .bind(kind)
        .bind(start)
        .bind(now)
        .bind(moving)
        .fetch_one(conn)
        .await
}

/// Of `starts` (one per local day), those whose day is full for type `kind`.
pub async fn full_days(
    db: impl sqlx::PgExecutor<'_>,
    provider_id: Uuid,
    kind: Uuid,
    starts: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT s FROM unnest($3::timestamptz[]) AS s
         WHERE NOT scheduling_day_has_room($1, $2, s, $4, NULL)",
    )
    .bind(provider_id)
    .bind(kind)
    .bind(starts)
    .bind(now)
    .fetch_all(db)
    .await
}

/// On the pool, or on the connection a change already holds.
pub async fn get(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} AND id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The appointment, locked until the caller's transaction ends.
pub async fn lock(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} AND id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// What a status change records besides the status.
pub struct Change<'a> {
    /// Who made it (the history row's `changed_by`).
    pub by: Uuid,
    /// A cancellation's reason and whether it came late.
    pub cancel: Option<(&'a str, bool)>,
}

/// Set the status, bump the version and write the history row, in one
/// statement; returns the row as it now is.
pub async fn transition(
    conn: &mut PgConnection,
    id: Uuid,
    status: Status,
    change: Change<'_>,
) -> Result<AppointmentRow, sqlx::Error> {
    let (reason, cancelled_by, late) = match change.cancel {
        Some((reason, late)) => (Some(reason), Some(change.by), late),
        None => (None, None, false),
    };
    sqlx::query_as(concat!(
        "WITH changed AS (
           UPDATE appointments SET status = $2, version = version + 1, updated_at = now(),
             cancel_reason = COALESCE($3, cancel_reason), cancelled_by = COALESCE($4, cancelled_by),
             late_cancellation = late_cancellation OR $5
           WHERE id = $1 RETURNING *),
         logged AS (
           INSERT INTO appointment_history (appointment_id, version, status, during, changed_by, note)
           SELECT id, version, status, during, $6, $3 FROM changed)
         SELECT ",
        columns!(),
        " FROM changed"
    ))
    .bind(id)
    .bind(status.as_str())
    .bind(reason)
    .bind(cancelled_by)
    .bind(late)
    .bind(change.by)
    .fetch_one(conn)
    .await
}

/// Move an appointment in time at `now`; the exclusion constraints still
/// decide. Its claim on the new time starts now (a hold that lapsed before
/// does not stand in its way).
pub async fn move_to(
    conn: &mut PgConnection,
    id: Uuid,
    during: Busy,
    blocked: Busy,
    now: DateTime<Utc>,
) -> Result<i32, WriteError> {
    sqlx::query_scalar(
        "UPDATE appointments SET during = $2, blocked = $3, claimed = tstzrange($4, NULL),
                version = version + 1, updated_at = now()
         WHERE id = $1 RETURNING version",
    )
    .bind(id)
    .bind(PgRange::from(during.start..during.end))
    .bind(PgRange::from(blocked.start..blocked.end))
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(map_write)
}

pub async fn record_history(
    conn: &mut PgConnection,
    row: &AppointmentRow,
    version: i32,
    status: Status,
    during: Busy,
    by: Uuid,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO appointment_history (appointment_id, version, status, during, changed_by, note)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(row.id)
    .bind(version)
    .bind(status.as_str())
    .bind(PgRange::from(during.start..during.end))
    .bind(by)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// Which appointments a list shows; `None` fields do not filter.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub patient_id: Option<Uuid>,
    pub provider_id: Option<Uuid>,
    pub status: Option<Status>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Keyset: rows after this (start, id).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// Only the filters given reach the SQL, so each combination is its own
/// prepared statement with a plan that fits it. The `($1 IS NULL OR
/// patient_id = $1)` form it replaces let PostgreSQL settle on a generic plan
/// that scanned the whole table for every patient's list (seen under load).
pub async fn list(pool: &PgPool, f: &ListFilter) -> Result<Vec<AppointmentRow>, sqlx::Error> {
    let mut q = sqlx::QueryBuilder::new(SELECT);
    if let Some(patient) = f.patient_id {
        q.push(" AND patient_id = ").push_bind(patient);
    }
    if let Some(provider) = f.provider_id {
        q.push(" AND provider_id = ").push_bind(provider);
    }
    if let Some(status) = f.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(from) = f.from {
        q.push(" AND lower(during) >= ").push_bind(from);
    }
    if let Some(to) = f.to {
        q.push(" AND lower(during) < ").push_bind(to);
    }
    if let Some((start, id)) = f.after {
        q.push(" AND (lower(during), id) > (")
            .push_bind(start)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY lower(during), id LIMIT ")
        .push_bind(f.limit);
    q.build_query_as().fetch_all(pool).await
}

/// Active appointments that overlap `[from, to)` for a provider (tests, benchmarks).
pub async fn count_overlapping_active(
    pool: &PgPool,
    provider_id: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM appointments a JOIN appointments b
           ON a.provider_id = b.provider_id AND a.id < b.id AND a.blocked && b.blocked
         WHERE a.provider_id = $1 AND a.status IN ('booked','checked_in') AND b.status IN ('booked','checked_in')",
    )
    .bind(provider_id)
    .fetch_one(pool)
    .await
}

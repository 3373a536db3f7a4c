//! Holds: rows of `appointments` with status `held`, under the same exclusion
//! constraints as bookings (see `domain::holds`). A converted hold becomes the
//! booked appointment in place, so its id is the appointment's.

use chrono::{DateTime, Utc};
use sqlx::{postgres::types::PgRange, PgConnection, PgPool};
use uuid::Uuid;

use super::appointments::{map_write, WriteError, CALENDAR_LOCK, VERSIONED_CALENDAR_LOCK};
use crate::domain::{holds::HeldSlot, slots::Busy};

/// A hold, whatever became of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HoldRow {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub blocked_start: DateTime<Utc>,
    pub blocked_end: DateTime<Utc>,
    /// `held`, `released`, `expired`, or an appointment's status once converted.
    pub status: String,
    pub expires_at: DateTime<Utc>,
}

impl HoldRow {
    pub fn held(&self) -> HeldSlot {
        HeldSlot {
            patient_id: self.patient_id,
            provider_id: self.provider_id,
            appointment_type_id: self.appointment_type_id,
            start: self.start,
            expires_at: self.expires_at,
        }
    }

    /// The provider's time the hold kept (buffers included).
    pub fn blocked(&self) -> Busy {
        Busy {
            start: self.blocked_start,
            end: self.blocked_end,
        }
    }

    pub fn is_held(&self) -> bool {
        self.status == "held"
    }
}

macro_rules! hold_columns {
    () => {
        "id, patient_id, provider_id, appointment_type_id, lower(during) AS start, upper(during) AS \"end\", \
         lower(blocked) AS blocked_start, upper(blocked) AS blocked_end, status, hold_expires_at AS expires_at"
    };
}

const SELECT: &str = concat!(
    "SELECT ",
    hold_columns!(),
    " FROM appointments WHERE hold_expires_at IS NOT NULL"
);

pub struct NewHold {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub during: Busy,
    pub blocked: Busy,
    pub created_by: Uuid,
    /// When it was made: its claim on the slot starts here…
    pub at: DateTime<Utc>,
    /// …and ends here.
    pub expires_at: DateTime<Utc>,
}

impl NewHold {
    pub fn row(&self) -> HoldRow {
        HoldRow {
            id: self.id,
            patient_id: self.patient_id,
            provider_id: self.provider_id,
            appointment_type_id: self.appointment_type_id,
            start: self.during.start,
            end: self.during.end,
            blocked_start: self.blocked.start,
            blocked_end: self.blocked.end,
            status: "held".to_owned(),
            expires_at: self.expires_at,
        }
    }
}

/// Hold the slot: the provider's calendar lock, then the row, in one statement
/// (as `appointments::insert_booked`); the exclusion constraints decide.
/// `false`, with nothing written, when the calendar's version is no longer
/// `checked_version`: the caller checks again under the lock.
pub async fn insert(
    conn: &mut PgConnection,
    h: &NewHold,
    checked_version: i64,
) -> Result<bool, WriteError> {
    let inserted = sqlx::query(&format!(
        "WITH calendar AS (SELECT {VERSIONED_CALENDAR_LOCK} AS version)
         INSERT INTO appointments (id, patient_id, provider_id, appointment_type_id, during, blocked,
                                   claimed, hold_expires_at, status, created_by)
         SELECT $2, $3, $1, $4, $5, $6, tstzrange($7, $8), $8, 'held', $9 FROM calendar
         WHERE version = $10 AND scheduling_day_has_room($1, $4, lower($5), $7, NULL)"
    ))
    .bind(h.provider_id)
    .bind(h.id)
    .bind(h.patient_id)
    .bind(h.appointment_type_id)
    .bind(PgRange::from(h.during.start..h.during.end))
    .bind(PgRange::from(h.blocked.start..h.blocked.end))
    .bind(h.at)
    .bind(h.expires_at)
    .bind(h.created_by)
    .bind(checked_version)
    .execute(conn)
    .await
    .map_err(map_write)?
    .rows_affected();
    Ok(inserted == 1)
}

/// The hold `id`, whatever its state (converted ones included).
pub async fn get(db: impl sqlx::PgExecutor<'_>, id: Uuid) -> Result<Option<HoldRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} AND id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The hold, locked until the caller's transaction ends.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<HoldRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} AND id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Turn a live hold into the booked appointment, with its first history row:
/// its claim becomes open-ended. `false` when it was no longer live at `now`
/// (expired, released, or converted already).
pub async fn convert(
    conn: &mut PgConnection,
    hold: &HoldRow,
    now: DateTime<Utc>,
    by: Uuid,
) -> Result<bool, WriteError> {
    let converted = sqlx::query(&format!(
        "WITH calendar AS (SELECT {CALENDAR_LOCK}),
         booked AS (
             UPDATE appointments SET status = 'booked', claimed = tstzrange(lower(claimed), NULL),
                    created_by = $3, updated_at = now()
             FROM calendar
             WHERE id = $2 AND status = 'held' AND upper(claimed) > $4
             RETURNING id, version, status, during, created_by)
         INSERT INTO appointment_history (appointment_id, version, status, during, changed_by)
         SELECT id, version, status, during, created_by FROM booked"
    ))
    .bind(hold.provider_id)
    .bind(hold.id)
    .bind(by)
    .bind(now)
    .execute(conn)
    .await
    .map_err(map_write)?
    .rows_affected();
    Ok(converted == 1)
}

/// Give up a hold: its slot is free at once. `false` if it was not held.
pub async fn release(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE appointments SET status = 'released', updated_at = now()
         WHERE id = $1 AND status = 'held'",
    )
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// The provider's holds still live at `now`, locked until the caller's
/// transaction ends (a change of the hours releases those it strands).
pub async fn live_for_provider(
    conn: &mut PgConnection,
    provider_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<HoldRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} AND provider_id = $1 AND status = 'held' AND upper(claimed) > $2 FOR UPDATE"
    ))
    .bind(provider_id)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// The patient's holds still live at `now`.
pub async fn live_for_patient(
    db: impl sqlx::PgExecutor<'_>,
    patient_id: Uuid,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM appointments
         WHERE patient_id = $1 AND status = 'held' AND upper(claimed) > $2",
    )
    .bind(patient_id)
    .bind(now)
    .fetch_one(db)
    .await
}

/// Whether any hold lapsed by `now` is still marked held: one statement
/// outside a transaction, so an idle round costs one round trip, not three.
pub async fn any_lapsed(pool: &PgPool, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM appointments WHERE status = 'held' AND upper(claimed) <= $1)",
    )
    .bind(now)
    .fetch_one(pool)
    .await
}

/// Mark up to `limit` holds that lapsed by `now` as expired (rows another
/// replica is handling are skipped) and return them. Their slots were free
/// already: this only records it, so it can be announced.
pub async fn expire_lapsed(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<HoldRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE appointments SET status = 'expired', updated_at = now()
         WHERE id IN (SELECT id FROM appointments
                      WHERE status = 'held' AND upper(claimed) <= $1
                      ORDER BY upper(claimed) LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING ",
        hold_columns!()
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

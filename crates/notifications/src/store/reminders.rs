//! Reminders still to send, and the claim that turns due ones into deliveries.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::reminders::Planned;

/// Replace the appointment's pending reminders by `planned` for `version`:
/// a booking creates them, a reschedule moves them.
pub async fn replace(
    conn: &mut PgConnection,
    appointment_id: Uuid,
    version: i32,
    planned: &[Planned],
) -> Result<(), sqlx::Error> {
    let minutes: Vec<i32> = planned
        .iter()
        .map(|p| i32::try_from(p.minutes_before).unwrap_or(i32::MAX))
        .collect();
    let due: Vec<DateTime<Utc>> = planned.iter().map(|p| p.due_at).collect();
    let status: Vec<&str> = planned
        .iter()
        .map(|p| if p.pending { "pending" } else { "skipped" })
        .collect();
    // One round trip: the pending reminders at offsets no longer planned are
    // cancelled (a row is changed at most once per statement, so the planned
    // offsets are left to the upsert).
    sqlx::query(
        "WITH cancelled AS (
             UPDATE reminders SET status = 'cancelled', updated_at = now()
             WHERE appointment_id = $1 AND status = 'pending' AND offset_minutes <> ALL($2))
         INSERT INTO reminders (appointment_id, offset_minutes, version, due_at, status)
         SELECT $1, p.minutes, $3, p.due_at, p.status
         FROM unnest($2::int4[], $4::timestamptz[], $5::text[]) AS p(minutes, due_at, status)
         ON CONFLICT (appointment_id, offset_minutes) DO UPDATE SET
           version = EXCLUDED.version, due_at = EXCLUDED.due_at, status = EXCLUDED.status,
           updated_at = now()",
    )
    .bind(appointment_id)
    .bind(&minutes)
    .bind(version)
    .bind(&due)
    .bind(&status)
    .execute(conn)
    .await?;
    Ok(())
}

/// Cancel every reminder not sent yet (the appointment was cancelled or moved).
pub async fn cancel_pending(
    conn: &mut PgConnection,
    appointment_id: Uuid,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE reminders SET status = 'cancelled', updated_at = now()
         WHERE appointment_id = $1 AND status = 'pending'",
    )
    .bind(appointment_id)
    .execute(conn)
    .await?
    .rows_affected())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueReminder {
    pub appointment_id: Uuid,
    pub offset_minutes: i32,
    pub version: i32,
}

/// Lock up to `limit` reminders due at `now` for the caller's transaction;
/// rows another replica holds are skipped, not waited for.
pub async fn claim_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DueReminder>, sqlx::Error> {
    sqlx::query_as(
        "SELECT appointment_id, offset_minutes, version FROM reminders
         WHERE status = 'pending' AND due_at <= $1
         ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Record what became of a claimed reminder (`enqueued`, `skipped`).
pub async fn settle(
    conn: &mut PgConnection,
    r: &DueReminder,
    status: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE reminders SET status = $3, updated_at = now()
         WHERE appointment_id = $1 AND offset_minutes = $2",
    )
    .bind(r.appointment_id)
    .bind(r.offset_minutes)
    .bind(status)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a reminder with a shorter offset is also due: the nearer one is the
/// one worth sending (after an outage, not both at once).
pub async fn superseded(
    conn: &mut PgConnection,
    r: &DueReminder,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM reminders
           WHERE appointment_id = $1 AND offset_minutes < $2 AND status = 'pending' AND due_at <= $3)",
    )
    .bind(r.appointment_id)
    .bind(r.offset_minutes)
    .bind(now)
    .fetch_one(conn)
    .await
}

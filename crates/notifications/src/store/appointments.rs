//! The newest known version of each appointment.

use chrono::{DateTime, Utc};
use sqlx::{types::Json, PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::appointment::{Appointment, AppointmentStatus};

/// Store `a` unless a version as new or newer is already stored; true when stored.
pub async fn apply(conn: &mut PgConnection, a: &Appointment) -> Result<bool, sqlx::Error> {
    let stored: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO appointments (id, patient_id, provider_id, version, status, starts_at, snapshot)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET
           patient_id = EXCLUDED.patient_id, provider_id = EXCLUDED.provider_id,
           version = EXCLUDED.version, status = EXCLUDED.status, starts_at = EXCLUDED.starts_at,
           snapshot = EXCLUDED.snapshot, updated_at = now()
         WHERE appointments.version < EXCLUDED.version
         RETURNING id",
    )
    .bind(a.appointment_id)
    .bind(a.patient_id)
    .bind(a.provider_id)
    .bind(a.version)
    .bind(a.status.as_str())
    .bind(a.start)
    .bind(Json(a))
    .fetch_optional(conn)
    .await?;
    Ok(stored.is_some())
}

/// The stored appointment, if its snapshot is readable.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Appointment>, sqlx::Error> {
    let row: Option<Json<Appointment>> =
        sqlx::query_scalar("SELECT snapshot FROM appointments WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|Json(a)| a))
}

/// `provider_id`'s appointments in one of `statuses` starting in `[from, to)`,
/// earliest first (unreadable snapshots are skipped).
pub async fn for_provider(
    pool: &PgPool,
    provider_id: Uuid,
    statuses: &[AppointmentStatus],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Appointment>, sqlx::Error> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let rows: Vec<Json<serde_json::Value>> = sqlx::query_scalar(
        "SELECT snapshot FROM appointments
         WHERE provider_id = $1 AND status = ANY($2) AND starts_at >= $3 AND starts_at < $4
         ORDER BY starts_at, id",
    )
    .bind(provider_id)
    .bind(&statuses)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|Json(v)| serde_json::from_value(v).ok())
        .collect())
}

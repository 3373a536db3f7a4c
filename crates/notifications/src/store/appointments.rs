//! The newest known version of each appointment.

use sqlx::{types::Json, PgConnection};
use uuid::Uuid;

use crate::domain::appointment::Appointment;

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

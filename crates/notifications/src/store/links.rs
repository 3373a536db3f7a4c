//! The self-service links of each appointment's newest version, kept until
//! the appointment starts or a newer version is known (then deleted: the
//! tokens are gone, not hidden).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{kinds::Kind, links::StoredLinks};

/// The newest version known of the appointment: its own (from its events)
/// or its links', whichever is newer.
pub async fn newest_version(
    conn: &mut PgConnection,
    appointment_id: Uuid,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT max(v) FROM (
           SELECT version AS v FROM appointments WHERE id = $1
           UNION ALL SELECT version FROM appointment_links WHERE appointment_id = $1) known",
    )
    .bind(appointment_id)
    .fetch_one(conn)
    .await
}

/// Keep `links` unless links of a version as new or newer are stored (they
/// replace an older version's); true when stored.
pub async fn store(
    conn: &mut PgConnection,
    links: &StoredLinks,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let stored: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO appointment_links (appointment_id, patient_id, version, cancel_token,
                                        reschedule_token, expires_at, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (appointment_id) DO UPDATE SET
           patient_id = EXCLUDED.patient_id, version = EXCLUDED.version,
           cancel_token = EXCLUDED.cancel_token, reschedule_token = EXCLUDED.reschedule_token,
           expires_at = EXCLUDED.expires_at, received_at = EXCLUDED.received_at
         WHERE appointment_links.version < EXCLUDED.version
         RETURNING appointment_id",
    )
    .bind(links.appointment_id)
    .bind(links.patient_id)
    .bind(links.version)
    .bind(&links.cancel_token)
    .bind(&links.reschedule_token)
    .bind(links.expires_at)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(stored.is_some())
}

/// The stored links of exactly this version.
pub async fn get(
    pool: &PgPool,
    appointment_id: Uuid,
    version: i32,
) -> Result<Option<StoredLinks>, sqlx::Error> {
    sqlx::query_as(
        "SELECT appointment_id, patient_id, version, cancel_token, reschedule_token, expires_at
         FROM appointment_links WHERE appointment_id = $1 AND version = $2",
    )
    .bind(appointment_id)
    .bind(version)
    .fetch_optional(pool)
    .await
}

/// Forget the links of versions older than `version` (a newer one is known)
/// and say whether links of exactly this version are stored, in one round
/// trip. The delete cannot touch this version's row, so the check sees what
/// the statement leaves.
pub async fn keep_only(
    conn: &mut PgConnection,
    appointment_id: Uuid,
    version: i32,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "WITH older AS (DELETE FROM appointment_links WHERE appointment_id = $1 AND version < $2)
         SELECT EXISTS (SELECT 1 FROM appointment_links WHERE appointment_id = $1 AND version = $2)",
    )
    .bind(appointment_id)
    .bind(version)
    .fetch_one(conn)
    .await
}

/// Forget every link whose appointment has started at `now`.
pub async fn forget_expired(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM appointment_links WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// Make the patient's confirmation of this version, still waiting for its
/// links and never attempted, due at `now`: the links arrived. The number of
/// deliveries woken.
pub async fn wake_confirmation(
    conn: &mut PgConnection,
    appointment_id: Uuid,
    version: i32,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE deliveries SET next_attempt_at = $3, updated_at = now()
         WHERE appointment_id = $1 AND version = $2 AND kind = ANY($4)
           AND recipient_role = 'patient' AND status = 'pending' AND attempts = 0
           AND next_attempt_at > $3",
    )
    .bind(appointment_id)
    .bind(version)
    .bind(now)
    .bind(vec![Kind::Booked.key(), Kind::Rescheduled.key()])
    .execute(conn)
    .await?
    .rows_affected())
}

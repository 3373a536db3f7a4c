//! Patients, care relationships (from events) and break-glass grants.

use chrono::{DateTime, Utc};
use contracts::scheduling::Appointment;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    crypto::Sealed,
    domain::access::{BreakGlass, CareRelationship},
};

pub async fn ensure_patient(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO patients (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn patient_exists(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM patients WHERE id = $1)")
        .bind(id)
        .fetch_one(pool)
        .await
}

/// Apply an appointment's state; an event older than the stored one is ignored.
pub async fn apply_appointment(
    conn: &mut PgConnection,
    a: &Appointment,
    closed_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO care_relationships
             (appointment_id, provider_id, patient_id, status, starts_at, ends_at, closed_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (appointment_id) DO UPDATE SET
             provider_id = EXCLUDED.provider_id, patient_id = EXCLUDED.patient_id,
             status = EXCLUDED.status, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
             closed_at = EXCLUDED.closed_at, version = EXCLUDED.version, updated_at = now()
         WHERE care_relationships.version < EXCLUDED.version",
    )
    .bind(a.appointment_id)
    .bind(a.provider_id)
    .bind(a.patient_id)
    .bind(a.status.as_str())
    .bind(a.start)
    .bind(a.end)
    .bind(closed_at)
    .bind(a.version)
    .execute(conn)
    .await?;
    Ok(())
}

/// Is `appointment_id` one of this patient's appointments?
pub async fn appointment_of_patient(
    pool: &PgPool,
    appointment_id: Uuid,
    patient_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM care_relationships WHERE appointment_id = $1 AND patient_id = $2)",
    )
    .bind(appointment_id)
    .bind(patient_id)
    .fetch_one(pool)
    .await
}

/// (care until, grant id, granted at, expires at)
type AccessFactsRow = (
    Option<DateTime<Utc>>,
    Option<Uuid>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// What the access decision needs about a provider and a patient, in one round
/// trip: their care relationship (if any appointment) and the provider's latest
/// break-glass grant for the patient (if any).
pub async fn access_facts(
    pool: &PgPool,
    provider_id: Uuid,
    patient_id: Uuid,
) -> Result<(Option<CareRelationship>, Option<BreakGlass>), sqlx::Error> {
    let row: AccessFactsRow = sqlx::query_as(
        "SELECT
             (SELECT max(CASE WHEN status IN ('booked', 'checked_in') THEN ends_at ELSE closed_at END)
                FROM care_relationships WHERE provider_id = $1 AND patient_id = $2),
             g.id, g.granted_at, g.expires_at
         FROM (SELECT 1) AS one
         LEFT JOIN LATERAL (
             SELECT id, granted_at, expires_at FROM break_glass
             WHERE provider_id = $1 AND patient_id = $2
             ORDER BY expires_at DESC LIMIT 1
         ) AS g ON true",
    )
    .bind(provider_id)
    .bind(patient_id)
    .fetch_one(pool)
    .await?;
    let relationship = row.0.map(|care_until| CareRelationship {
        provider_id,
        patient_id,
        care_until,
    });
    let grant = match (row.1, row.2, row.3) {
        (Some(id), Some(granted_at), Some(expires_at)) => Some(BreakGlass {
            id,
            provider_id,
            patient_id,
            granted_at,
            expires_at,
        }),
        _ => None,
    };
    Ok((relationship, grant))
}

/// Store a data key (wrapped) for a sealed object.
pub async fn insert_data_key(conn: &mut PgConnection, sealed: &Sealed) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO data_keys (id, key_id, nonce, wrapped) VALUES ($1, $2, $3, $4)")
        .bind(sealed.data_key_id)
        .bind(&sealed.key.key_id)
        .bind(&sealed.key.nonce)
        .bind(&sealed.key.wrapped)
        .execute(conn)
        .await?;
    Ok(())
}

/// Record a grant with its encrypted reason.
pub async fn insert_break_glass(
    conn: &mut PgConnection,
    grant: &BreakGlass,
    reason: &Sealed,
) -> Result<(), sqlx::Error> {
    insert_data_key(conn, reason).await?;
    sqlx::query(
        "INSERT INTO break_glass (id, provider_id, patient_id, granted_at, expires_at, data_key_id, nonce, ciphertext)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(grant.id)
    .bind(grant.provider_id)
    .bind(grant.patient_id)
    .bind(grant.granted_at)
    .bind(grant.expires_at)
    .bind(reason.data_key_id)
    .bind(&reason.nonce)
    .bind(&reason.ciphertext)
    .execute(conn)
    .await?;
    Ok(())
}

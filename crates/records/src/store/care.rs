//! Patients, care relationships (one row per appointment, from events), and
//! what the access decision reads about a provider and a patient.

use chrono::{DateTime, Utc};
use contracts::scheduling::{Appointment, AppointmentStatus};
use platform::care::{Visit, VisitState};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{crypto::Sealed, domain::access::BreakGlass};

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

/// A provider's appointments with a patient, as `platform::care` reads them:
/// start, state, and when a closed one was completed, cancelled or marked
/// no-show (the event's `occurred_at`; the consumer always sets it, the row's
/// last update stands in should one lack it).
pub async fn visits(
    pool: &PgPool,
    provider_id: Uuid,
    patient_id: Uuid,
) -> Result<Vec<Visit>, sqlx::Error> {
    let rows: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT status, starts_at, coalesce(closed_at, updated_at) FROM care_relationships
         WHERE provider_id = $1 AND patient_id = $2",
    )
    .bind(provider_id)
    .bind(patient_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(status, start, closed)| {
            let at = closed.unwrap_or(start);
            let state = match AppointmentStatus::parse(&status)? {
                AppointmentStatus::Booked => VisitState::Booked,
                AppointmentStatus::CheckedIn => VisitState::CheckedIn,
                AppointmentStatus::Completed => VisitState::Completed { at },
                AppointmentStatus::Cancelled => VisitState::Cancelled { at },
                AppointmentStatus::NoShow => VisitState::NoShow { at },
            };
            Some(Visit { start, state })
        })
        .collect())
}

/// The provider's latest break-glass grant for the patient, if any.
pub async fn latest_break_glass(
    pool: &PgPool,
    provider_id: Uuid,
    patient_id: Uuid,
) -> Result<Option<BreakGlass>, sqlx::Error> {
    let row: Option<(Uuid, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, granted_at, expires_at FROM break_glass
         WHERE provider_id = $1 AND patient_id = $2
         ORDER BY expires_at DESC LIMIT 1",
    )
    .bind(provider_id)
    .bind(patient_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, granted_at, expires_at)| BreakGlass {
        id,
        provider_id,
        patient_id,
        granted_at,
        expires_at,
    }))
}

/// What the access decision needs about a provider and a patient: their
/// appointments and the provider's latest break-glass grant for the patient.
pub async fn access_facts(
    pool: &PgPool,
    provider_id: Uuid,
    patient_id: Uuid,
) -> Result<(Vec<Visit>, Option<BreakGlass>), sqlx::Error> {
    let visits = visits(pool, provider_id, patient_id).await?;
    let grant = latest_break_glass(pool, provider_id, patient_id).await?;
    Ok((visits, grant))
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

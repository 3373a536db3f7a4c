//! Care visits: each appointment of a provider with a patient, as its latest
//! event left it.

use chrono::{DateTime, Utc};
use contracts::scheduling::{Appointment, AppointmentStatus};
use platform::care::Visit;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::care;

/// Apply appointment `a` as one of its events reports it; `closed_at` is when
/// it stopped being active (`domain::care::closed_at`). An event older than
/// the stored one (a lower version, or the same one again) changes nothing,
/// and one that only repeats a closed status keeps the moment it first closed.
pub async fn apply_appointment(
    conn: &mut PgConnection,
    a: &Appointment,
    closed_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO care_visits
             (appointment_id, provider_id, patient_id, status, starts_at, closed_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (appointment_id) DO UPDATE SET
             provider_id = EXCLUDED.provider_id, patient_id = EXCLUDED.patient_id,
             status = EXCLUDED.status, starts_at = EXCLUDED.starts_at,
             closed_at = CASE WHEN care_visits.status = EXCLUDED.status
                              THEN COALESCE(care_visits.closed_at, EXCLUDED.closed_at)
                              ELSE EXCLUDED.closed_at END,
             version = EXCLUDED.version, updated_at = now()
         WHERE care_visits.version < EXCLUDED.version",
    )
    .bind(a.appointment_id)
    .bind(a.provider_id)
    .bind(a.patient_id)
    .bind(a.status.as_str())
    .bind(a.start)
    .bind(closed_at)
    .bind(a.version)
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored care visit: patient, status, start, when it closed.
type PatientVisit = (Uuid, String, DateTime<Utc>, Option<DateTime<Utc>>);

/// Every appointment of `provider_id` with each of `patients`, as visits by patient.
pub async fn care_visits_of(
    pool: &PgPool,
    provider_id: Uuid,
    patients: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<Visit>>, sqlx::Error> {
    let rows: Vec<PatientVisit> = sqlx::query_as(
        "SELECT patient_id, status, starts_at, closed_at FROM care_visits
         WHERE provider_id = $1 AND patient_id = ANY($2)",
    )
    .bind(provider_id)
    .bind(patients)
    .fetch_all(pool)
    .await?;
    let mut visits: std::collections::HashMap<Uuid, Vec<Visit>> = Default::default();
    for (patient_id, status, start, closed_at) in rows {
        visits
            .entry(patient_id)
            .or_default()
            .push(visit(&status, start, closed_at)?);
    }
    Ok(visits)
}

fn visit(
    status: &str,
    start: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
) -> Result<Visit, sqlx::Error> {
    let status = AppointmentStatus::parse(status).ok_or_else(|| {
        sqlx::Error::Decode(format!("unknown appointment status {status:?}").into())
    })?;
    Ok(care::visit(status, start, closed_at))
}

/// Every appointment of `provider_id` with `patient_id`, as visits.
pub async fn care_visits(
    pool: &PgPool,
    provider_id: Uuid,
    patient_id: Uuid,
) -> Result<Vec<Visit>, sqlx::Error> {
    let rows: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT status, starts_at, closed_at FROM care_visits
         WHERE provider_id = $1 AND patient_id = $2",
    )
    .bind(provider_id)
    .bind(patient_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(status, start, closed_at)| visit(&status, start, closed_at))
        .collect()
}

//! Care relationships: which provider has had an appointment with which patient.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::access::CareRelationship;

/// Record that `provider_id` and `patient_id` have an appointment together
/// (the first one seen is kept; later ones change nothing).
pub async fn add_care_relationship(
    conn: &mut PgConnection,
    care: &CareRelationship,
    appointment_id: Uuid,
    seen_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO care_relationships (provider_id, patient_id, first_appointment_id, since)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (provider_id, patient_id) DO NOTHING",
    )
    .bind(care.provider_id)
    .bind(care.patient_id)
    .bind(appointment_id)
    .bind(seen_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The care relationship between this provider and patient, if they have one.
pub async fn care_relationship(
    pool: &PgPool,
    provider_id: Uuid,
    patient_id: Uuid,
) -> Result<Option<CareRelationship>, sqlx::Error> {
    let found: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT provider_id, patient_id FROM care_relationships
         WHERE provider_id = $1 AND patient_id = $2",
    )
    .bind(provider_id)
    .bind(patient_id)
    .fetch_optional(pool)
    .await?;
    Ok(found.map(|(provider_id, patient_id)| CareRelationship {
        provider_id,
        patient_id,
    }))
}

//! Patients' insurance details: append-only versions, the newest is current.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::insurance::Insurance;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InsuranceRow {
    pub patient_id: Uuid,
    pub version: i32,
    pub payer: String,
    pub member_id: String,
    pub group_number: Option<String>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

impl InsuranceRow {
    pub fn insurance(&self) -> Insurance {
        Insurance {
            payer: self.payer.clone(),
            member_id: self.member_id.clone(),
            group_number: self.group_number.clone(),
        }
    }
}

pub async fn current<'e>(
    ex: impl PgExecutor<'e>,
    patient_id: Uuid,
) -> Result<Option<InsuranceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT patient_id, version, payer, member_id, group_number, recorded_by, recorded_at
         FROM patient_insurance WHERE patient_id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(patient_id)
    .fetch_optional(ex)
    .await
}

/// Record `insurance` as the patient's current details (a new version).
pub async fn record(
    pool: &PgPool,
    patient_id: Uuid,
    insurance: &Insurance,
    by: Uuid,
) -> Result<InsuranceRow, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Concurrent updates of one patient queue here instead of racing for a version.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(patient_id)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query_as(
        "INSERT INTO patient_insurance (patient_id, version, payer, member_id, group_number, recorded_by)
         SELECT $1, COALESCE(max(version), 0) + 1, $2, $3, $4, $5
         FROM patient_insurance WHERE patient_id = $1
         RETURNING patient_id, version, payer, member_id, group_number, recorded_by, recorded_at",
    )
    .bind(patient_id)
    .bind(&insurance.payer)
    .bind(&insurance.member_id)
    .bind(&insurance.group_number)
    .bind(by)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}

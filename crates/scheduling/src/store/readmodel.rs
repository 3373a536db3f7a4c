//! Providers and patients as scheduling knows them, fed by events.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderRow {
    pub id: Uuid,
    pub name: String,
    pub time_zone: String,
    /// What waitlist entries by specialty are matched against.
    pub specialty: String,
    /// At most this many appointments a day (`None`: no cap).
    pub daily_cap: Option<i32>,
}

/// On the pool, or on a transaction's connection (see `types::by_id`).
pub async fn provider(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<ProviderRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, time_zone, specialty, daily_cap FROM providers WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Set (or with `None` lift) the provider's daily cap.
pub async fn set_daily_cap(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
    cap: Option<i32>,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query("UPDATE providers SET daily_cap = $2 WHERE id = $1")
        .bind(id)
        .bind(cap)
        .execute(db)
        .await?
        .rows_affected();
    Ok(updated == 1)
}

/// Apply a provider's state as of `at`; an older state than the stored one is ignored.
pub async fn upsert_provider(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    time_zone: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO providers (id, name, time_zone, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET name = $2, time_zone = $3, updated_at = $4
         WHERE providers.updated_at <= $4",
    )
    .bind(id)
    .bind(name)
    .bind(time_zone)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Apply a provider's profile (with its specialty) as of `at`; an older one
/// than the stored one is ignored.
pub async fn upsert_provider_profile(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    time_zone: &str,
    specialty: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO providers (id, name, time_zone, specialty, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET name = $2, time_zone = $3, specialty = $4, updated_at = $5
         WHERE providers.updated_at <= $5",
    )
    .bind(id)
    .bind(name)
    .bind(time_zone)
    .bind(specialty)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A provider known only by id so far (its profile event has not arrived yet).
pub async fn ensure_provider(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO providers (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .bind(id)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

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

//! Providers' calendar feeds: the hash of each feed's token and what it shows.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// A feed as stored (never its token).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Feed {
    pub provider_id: Uuid,
    pub patient_initials: bool,
    pub created_at: DateTime<Utc>,
}

/// Create `provider_id`'s feed, or replace it: the new token's hash takes the
/// old one's place in the same statement, so the old URL stops working at once.
pub async fn replace(
    pool: &PgPool,
    provider_id: Uuid,
    token_hash: &[u8],
    patient_initials: bool,
    at: DateTime<Utc>,
) -> Result<Feed, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO calendar_feeds (provider_id, token_hash, patient_initials, created_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (provider_id) DO UPDATE SET
           token_hash = EXCLUDED.token_hash, patient_initials = EXCLUDED.patient_initials,
           created_at = EXCLUDED.created_at
         RETURNING provider_id, patient_initials, created_at",
    )
    .bind(provider_id)
    .bind(token_hash)
    .bind(patient_initials)
    .bind(at)
    .fetch_one(pool)
    .await
}

/// `provider_id`'s feed, if they have one.
pub async fn get(pool: &PgPool, provider_id: Uuid) -> Result<Option<Feed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider_id, patient_initials, created_at FROM calendar_feeds
         WHERE provider_id = $1",
    )
    .bind(provider_id)
    .fetch_optional(pool)
    .await
}

/// The feed whose token hashes to `token_hash`, if it still exists.
pub async fn by_token(pool: &PgPool, token_hash: &[u8]) -> Result<Option<Feed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider_id, patient_initials, created_at FROM calendar_feeds
         WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
}

/// End `provider_id`'s feed; false when there was none.
pub async fn delete(pool: &PgPool, provider_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM calendar_feeds WHERE provider_id = $1")
        .bind(provider_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

//! Break-glass grants and their reviews: both only ever inserted, each with
//! its text (reason, note) sealed under a data key of its own.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    crypto::Sealed,
    domain::access::{BreakGlass, ReviewOutcome},
    keys::WrappedKey,
};

use super::care::insert_data_key;

/// Serialize a provider's grants: held until the caller's transaction ends, so
/// counting their recent grants and inserting the next cannot interleave.
pub async fn lock_provider(conn: &mut PgConnection, provider_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('records.break_glass:' || $1::text, 0))",
    )
    .bind(provider_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// When the provider's grants since `since` were given.
pub async fn granted_since(
    conn: &mut PgConnection,
    provider_id: Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT granted_at FROM break_glass WHERE provider_id = $1 AND granted_at > $2",
    )
    .bind(provider_id)
    .bind(since)
    .fetch_all(conn)
    .await
}

/// Record a grant with its encrypted reason.
pub async fn insert(
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

/// A review to insert.
pub struct NewReview {
    pub grant_id: Uuid,
    pub outcome: ReviewOutcome,
    pub reviewed_by: Uuid,
    pub reviewed_at: DateTime<Utc>,
    pub note: Sealed,
}

/// Why a review was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ReviewInsertError {
    /// The grant already has its review.
    #[error("already reviewed")]
    AlreadyReviewed,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Record the one review of a grant.
pub async fn insert_review(
    conn: &mut PgConnection,
    r: &NewReview,
) -> Result<(), ReviewInsertError> {
    insert_data_key(conn, &r.note).await?;
    let result = sqlx::query(
        "INSERT INTO break_glass_reviews (grant_id, outcome, reviewed_by, reviewed_at, data_key_id, nonce, ciphertext)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(r.grant_id)
    .bind(r.outcome.as_str())
    .bind(r.reviewed_by)
    .bind(r.reviewed_at)
    .bind(r.note.data_key_id)
    .bind(&r.note.nonce)
    .bind(&r.note.ciphertext)
    .execute(conn)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e))
            if e.code().as_deref() == Some("23505")
                && e.constraint() == Some("break_glass_reviews_pkey") =>
        {
            Err(ReviewInsertError::AlreadyReviewed)
        }
        Err(e) => Err(e.into()),
    }
}

/// One grant as stored, with its review if it has one; texts still sealed.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GrantRow {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub patient_id: Uuid,
    pub granted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub data_key_id: Uuid,
    pub key_id: String,
    pub key_nonce: Vec<u8>,
    pub wrapped_key: Vec<u8>,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub review_outcome: Option<String>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub review_data_key_id: Option<Uuid>,
    pub review_key_id: Option<String>,
    pub review_key_nonce: Option<Vec<u8>>,
    pub review_wrapped_key: Option<Vec<u8>>,
    pub review_nonce: Option<Vec<u8>>,
    pub review_ciphertext: Option<Vec<u8>>,
}

impl GrantRow {
    pub fn grant(&self) -> BreakGlass {
        BreakGlass {
            id: self.id,
            provider_id: self.provider_id,
            patient_id: self.patient_id,
            granted_at: self.granted_at,
            expires_at: self.expires_at,
        }
    }

    /// The sealed reason.
    pub fn reason(&self) -> Sealed {
        Sealed {
            data_key_id: self.data_key_id,
            key: WrappedKey {
                key_id: self.key_id.clone(),
                nonce: self.key_nonce.clone(),
                wrapped: self.wrapped_key.clone(),
            },
            nonce: self.nonce.clone(),
            ciphertext: self.ciphertext.clone(),
        }
    }

    /// The review, if there is one: outcome (as stored), reviewer, time and sealed note.
    pub fn review(&self) -> Option<(String, Uuid, DateTime<Utc>, Sealed)> {
        Some((
            self.review_outcome.clone()?,
            self.reviewed_by?,
            self.reviewed_at?,
            Sealed {
                data_key_id: self.review_data_key_id?,
                key: WrappedKey {
                    key_id: self.review_key_id.clone()?,
                    nonce: self.review_key_nonce.clone()?,
                    wrapped: self.review_wrapped_key.clone()?,
                },
                nonce: self.review_nonce.clone()?,
                ciphertext: self.review_ciphertext.clone()?,
            },
        ))
    }
}

const GRANT_QUERY: &str = "SELECT g.id, g.provider_id, g.patient_id, g.granted_at, g.expires_at,
        g.data_key_id, k.key_id, k.nonce AS key_nonce, k.wrapped AS wrapped_key, g.nonce, g.ciphertext,
        r.outcome AS review_outcome, r.reviewed_by, r.reviewed_at,
        r.data_key_id AS review_data_key_id, rk.key_id AS review_key_id, rk.nonce AS review_key_nonce,
        rk.wrapped AS review_wrapped_key, r.nonce AS review_nonce, r.ciphertext AS review_ciphertext
    FROM break_glass g
    JOIN data_keys k ON k.id = g.data_key_id
    LEFT JOIN break_glass_reviews r ON r.grant_id = g.id
    LEFT JOIN data_keys rk ON rk.id = r.data_key_id";

/// One grant, with its review.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<GrantRow>, sqlx::Error> {
    sqlx::query_as(&format!("{GRANT_QUERY} WHERE g.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Which grants the review queue lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewFilter {
    Unreviewed,
    Reviewed,
    All,
}

/// Grants newest first, before `before` (a grant id: ids grow with time), at most `limit`.
pub async fn list(
    pool: &PgPool,
    filter: ReviewFilter,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<GrantRow>, sqlx::Error> {
    let reviewed = match filter {
        ReviewFilter::Unreviewed => Some(false),
        ReviewFilter::Reviewed => Some(true),
        ReviewFilter::All => None,
    };
    sqlx::query_as(&format!(
        "{GRANT_QUERY}
         WHERE ($1::boolean IS NULL OR (r.grant_id IS NOT NULL) = $1)
           AND ($2::uuid IS NULL OR g.id < $2)
         ORDER BY g.id DESC LIMIT $3"
    ))
    .bind(reviewed)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

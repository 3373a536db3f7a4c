//! Single-use tokens identity emails or hands out for a second step: email
//! verification, password reset, the MFA step of a login. Only hashes are kept.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// What a token is for (the `purpose` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    PasswordReset,
    Mfa,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::PasswordReset => "password_reset",
            Purpose::Mfa => "mfa",
        }
    }
}

pub async fn insert_token(
    conn: &mut PgConnection,
    hash: &[u8],
    user_id: Uuid,
    purpose: Purpose,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(created_at)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The user of an unused, unexpired token, without using it.
pub async fn token_user<'e>(
    db: impl PgExecutor<'e>,
    hash: &[u8],
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM account_tokens
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(db)
    .await
}

/// Use a token: its user if it was unused and unexpired (atomically: of two
/// requests with one token, one wins).
pub async fn consume_token<'e>(
    db: impl PgExecutor<'e>,
    hash: &[u8],
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE account_tokens SET used_at = $3
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
         RETURNING user_id",
    )
    .bind(hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(db)
    .await
}

/// Expire every outstanding token of `purpose` for the user (a reset used,
/// a password changed).
pub async fn expire_tokens(
    conn: &mut PgConnection,
    user_id: Uuid,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE account_tokens SET used_at = $3
         WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// When the user's tokens of `purpose` made since `since` were made.
pub async fn tokens_made_since<'e>(
    db: impl PgExecutor<'e>,
    user_id: Uuid,
    purpose: Purpose,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT created_at FROM account_tokens
         WHERE user_id = $1 AND purpose = $2 AND created_at > $3",
    )
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(since)
    .fetch_all(db)
    .await
}

//! Failed logins counted per email key, and the lockouts they cause.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// When the email is locked out until, if it is.
pub async fn locked_until(
    pool: &PgPool,
    email_key: &[u8],
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT locked_until FROM login_throttle WHERE email_key = $1")
        .bind(email_key)
        .fetch_optional(pool)
        .await
        .map(Option::flatten)
}

/// Count a failed login and return the consecutive failures so far; failures
/// older than an hour are forgotten.
pub async fn record_failure(pool: &PgPool, email_key: &[u8]) -> Result<u32, sqlx::Error> {
    let failures: i32 = sqlx::query_scalar(
        "INSERT INTO login_throttle (email_key, failures) VALUES ($1, 1)
         ON CONFLICT (email_key) DO UPDATE SET
           failures = CASE WHEN login_throttle.updated_at < now() - interval '1 hour'
                           THEN 1 ELSE login_throttle.failures + 1 END,
           updated_at = now()
         RETURNING failures",
    )
    .bind(email_key)
    .fetch_one(pool)
    .await?;
    Ok(failures.max(0) as u32)
}

pub async fn lock(
    pool: &PgPool,
    email_key: &[u8],
    until: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE login_throttle SET locked_until = $2 WHERE email_key = $1")
        .bind(email_key)
        .bind(until)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn clear_failures(pool: &PgPool, email_key: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE email_key = $1")
        .bind(email_key)
        .execute(pool)
        .await?;
    Ok(())
}

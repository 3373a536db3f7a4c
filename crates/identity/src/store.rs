//! Identity's SQL: users, refresh tokens and the login throttle.

use chrono::{DateTime, Utc};
use platform::auth::Role;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::Email;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl UserRow {
    pub fn role(&self) -> Role {
        // The column's CHECK constraint admits only the four roles.
        self.role.parse().unwrap_or(Role::Patient)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    #[error("email already registered")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a Email,
    pub name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
}

pub async fn insert_user(
    conn: &mut PgConnection,
    user: &NewUser<'_>,
) -> Result<(), InsertUserError> {
    let result = sqlx::query(
        "INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user.id)
    .bind(user.email.as_str())
    .bind(user.name)
    .bind(user.role.as_str())
    .bind(user.password_hash)
    .execute(conn)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("users_email_key") => {
            Err(InsertUserError::EmailTaken)
        }
        Err(e) => Err(e.into()),
    }
}

const USER_COLUMNS: &str = "id, email, name, role, password_hash, disabled_at";

pub async fn user_by_email(pool: &PgPool, email: &Email) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email.as_str())
    .fetch_optional(pool)
    .await
}

pub async fn user_by_id(conn: &mut PgConnection, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

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

#[derive(Debug, sqlx::FromRow)]
pub struct RefreshRow {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn insert_refresh(
    conn: &mut PgConnection,
    family_id: Uuid,
    user_id: Uuid,
    hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(family_id)
    .bind(user_id)
    .bind(hash)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The token with this hash, locked for the caller's transaction so two
/// concurrent refreshes with the same token cannot both succeed.
pub async fn refresh_for_update(
    conn: &mut PgConnection,
    hash: &[u8],
) -> Result<Option<RefreshRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, family_id, user_id, expires_at, used_at, revoked_at
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(hash)
    .fetch_optional(conn)
    .await
}

pub async fn mark_used(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn revoke_family(conn: &mut PgConnection, family_id: Uuid) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

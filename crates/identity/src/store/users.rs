//! Accounts: credentials, verification, the second factor, disabling.

use chrono::{DateTime, Utc};
use platform::auth::Role;
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::{admin::UserSearch, Email};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub totp_secret: Option<String>,
    pub totp_pending_secret: Option<String>,
    pub totp_enabled_at: Option<DateTime<Utc>>,
    pub totp_last_step: Option<i64>,
}

impl UserRow {
    pub fn role(&self) -> Role {
        // The column's CHECK constraint admits only the four roles.
        self.role.parse().unwrap_or(Role::Patient)
    }

    pub fn verified(&self) -> bool {
        self.email_verified_at.is_some()
    }

    pub fn disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    pub fn mfa_enabled(&self) -> bool {
        self.totp_secret.is_some()
    }

    /// The last TOTP step accepted, if any.
    pub fn last_step(&self) -> Option<u64> {
        self.totp_last_step.and_then(|s| u64::try_from(s).ok())
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
    pub created_at: DateTime<Utc>,
    /// Set when the address needs no confirming (an admin vouches, the demo seed).
    pub verified_at: Option<DateTime<Utc>>,
}

pub async fn insert_user(
    conn: &mut PgConnection,
    user: &NewUser<'_>,
) -> Result<(), InsertUserError> {
    let result = sqlx::query(
        "INSERT INTO users (id, email, name, role, password_hash, created_at, email_verified_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user.id)
    .bind(user.email.as_str())
    .bind(user.name)
    .bind(user.role.as_str())
    .bind(user.password_hash)
    .bind(user.created_at)
    .bind(user.verified_at)
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

const USER_COLUMNS: &str = "id, email, name, role, password_hash, created_at, disabled_at, \
     email_verified_at, totp_secret, totp_pending_secret, totp_enabled_at, totp_last_step";

pub async fn user_by_email<'e>(
    db: impl PgExecutor<'e>,
    email: &Email,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email.as_str())
    .fetch_optional(db)
    .await
}

pub async fn user_by_id<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The account, locked for the caller's transaction.
pub async fn user_for_update(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// When the account was disabled (`None` if enabled or unknown).
pub async fn disabled_at<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT disabled_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
}

/// Mark the address verified (no change if it already was).
pub async fn mark_verified<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET email_verified_at = $2 WHERE id = $1 AND email_verified_at IS NULL",
    )
    .bind(id)
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_password_hash(
    conn: &mut PgConnection,
    id: Uuid,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Disable (`Some(at)`) or enable (`None`) the account.
pub async fn set_disabled(
    conn: &mut PgConnection,
    id: Uuid,
    at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Keep `secret` until its first code confirms it (replacing any earlier one).
pub async fn set_pending_totp<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
    secret: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET totp_pending_secret = $2 WHERE id = $1")
        .bind(id)
        .bind(secret)
        .execute(db)
        .await?;
    Ok(())
}

/// The pending secret becomes the account's; `step` is the code that confirmed it.
pub async fn enable_totp(
    conn: &mut PgConnection,
    id: Uuid,
    step: u64,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL,
                totp_enabled_at = $3, totp_last_step = $2
         WHERE id = $1 AND totp_pending_secret IS NOT NULL",
    )
    .bind(id)
    .bind(i64::try_from(step).unwrap_or(i64::MAX))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Set the account's secret directly (the demo seed's fixed secret).
pub async fn set_totp_secret<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
    secret: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE users SET totp_secret = $2, totp_pending_secret = NULL, totp_enabled_at = $3
         WHERE id = $1 AND totp_secret IS NULL",
    )
    .bind(id)
    .bind(secret)
    .bind(at)
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Use the TOTP code of `step`: true if it is newer than every code used
/// before (atomically: of two requests with one code, one wins).
pub async fn claim_totp_step<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
    step: u64,
) -> Result<bool, sqlx::Error> {
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    sqlx::query(
        "UPDATE users SET totp_last_step = $2
         WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
    )
    .bind(id)
    .bind(step)
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

pub async fn disable_totp(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL,
                totp_enabled_at = NULL, totp_last_step = NULL
         WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// One page of the account list in `(email, id)` order, plus one row more
/// when a next page exists.
pub async fn search_users<'e>(
    db: impl PgExecutor<'e>,
    search: &UserSearch,
) -> Result<Vec<UserRow>, sqlx::Error> {
    let mut qb: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {USER_COLUMNS} FROM users WHERE true"));
    for pattern in &search.patterns {
        qb.push(" AND lower(name || ' ' || email) LIKE lower(")
            .push_bind(pattern)
            .push(")");
    }
    if let Some(after) = &search.after {
        qb.push(" AND (email, id) > (")
            .push_bind(&after.email)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    qb.push(" ORDER BY email, id LIMIT ")
        .push_bind(i64::from(search.limit) + 1);
    qb.build_query_as().fetch_all(db).await
}

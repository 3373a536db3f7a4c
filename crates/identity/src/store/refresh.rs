//! Sessions (one per login) and their refresh tokens (stored as hashes),
//! rotated within the session's family.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub struct RefreshRow {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A login's session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub client_network: Option<String>,
}

pub struct NewSession<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<&'a str>,
    pub client_network: Option<&'a str>,
}

pub async fn insert_session(
    conn: &mut PgConnection,
    s: &NewSession<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, client_network)
         VALUES ($1, $2, $3, $3, $4, $5, $6)",
    )
    .bind(s.id)
    .bind(s.user_id)
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(s.user_agent)
    .bind(s.client_network)
    .execute(conn)
    .await?;
    Ok(())
}

const SESSION_COLUMNS: &str =
    "id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, client_network";

pub async fn session_for_update(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn touch_session(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The user's sessions still usable at `now` (not revoked, not past their
/// end, with a refresh token that still works), newest first.
pub async fn active_sessions<'e>(
    db: impl PgExecutor<'e>,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
           AND EXISTS (SELECT 1 FROM refresh_tokens r
                       WHERE r.family_id = s.id AND r.used_at IS NULL
                         AND r.revoked_at IS NULL AND r.expires_at > $2)
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(db)
    .await
}

pub async fn insert_refresh(
    conn: &mut PgConnection,
    family_id: Uuid,
    user_id: Uuid,
    hash: &[u8],
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(family_id)
    .bind(user_id)
    .bind(hash)
    .bind(issued_at)
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

pub async fn mark_used(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revoke a session and every refresh token of its family; the tokens revoked.
/// (Tokens first, then the session: the order a refresh locks them in.)
pub async fn revoke_family(
    conn: &mut PgConnection,
    family_id: Uuid,
    at: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let tokens = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(family_id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(tokens)
}

/// Revoke every session of the user except `keep`; how many sessions ended.
pub async fn revoke_user_sessions(
    conn: &mut PgConnection,
    user_id: Uuid,
    keep: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR family_id <> $2)",
    )
    .bind(user_id)
    .bind(keep)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE sessions SET revoked_at = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
    )
    .bind(user_id)
    .bind(keep)
    .bind(at)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

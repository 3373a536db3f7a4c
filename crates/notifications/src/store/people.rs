//! Patients, providers and admins as other services describe them: whom to
//! write to.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::kinds::Recipient;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Person {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
}

/// Apply what an event says about a person as of `at`. `email: None` leaves
/// the stored address alone; each field keeps the newest value seen.
pub async fn upsert(
    conn: &mut PgConnection,
    id: Uuid,
    role: Recipient,
    name: &str,
    email: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO people (id, role, name, name_at, email, email_at)
         VALUES ($1, $2, $3, $5, $4, CASE WHEN $4::text IS NULL THEN '-infinity'::timestamptz ELSE $5 END)
         ON CONFLICT (id) DO UPDATE SET
           role = EXCLUDED.role,
           name = CASE WHEN people.name_at <= EXCLUDED.name_at THEN EXCLUDED.name ELSE people.name END,
           name_at = GREATEST(people.name_at, EXCLUDED.name_at),
           email = CASE WHEN EXCLUDED.email IS NOT NULL AND people.email_at <= EXCLUDED.email_at
                        THEN EXCLUDED.email ELSE people.email END,
           email_at = CASE WHEN EXCLUDED.email IS NOT NULL
                           THEN GREATEST(people.email_at, EXCLUDED.email_at) ELSE people.email_at END",
    )
    .bind(id)
    .bind(role.as_str())
    .bind(name)
    .bind(email)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The people with these ids that are known.
pub async fn get_many(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Person>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, email FROM people WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// Every admin with an address, oldest id first: who reviews break-glass
/// access when no privacy contact is configured.
pub async fn admins(conn: &mut PgConnection) -> Result<Vec<Person>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, email FROM people
         WHERE role = $1 AND email IS NOT NULL ORDER BY id",
    )
    .bind(Recipient::Admin.as_str())
    .fetch_all(conn)
    .await
}

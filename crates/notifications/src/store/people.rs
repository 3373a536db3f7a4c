//! Patients, providers and admins as other services describe them: whom to
//! write to.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::kinds::Recipient;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Person {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    /// Their own IANA zone, when an event named a valid one.
    pub time_zone: Option<String>,
}

impl Person {
    /// Their own zone, when known (a stored name this build does not know
    /// counts as unknown).
    pub fn zone(&self) -> Option<Tz> {
        self.time_zone.as_deref().and_then(|z| z.parse().ok())
    }
}

/// Apply what an event says about a person as of `at`. `email: None` and
/// `time_zone: None` leave the stored address and zone alone (an event without
/// a zone does not know it: it says nothing about it, so it never erases one a
/// newer or older event gave); each field keeps the newest value seen.
pub async fn upsert(
    conn: &mut PgConnection,
    id: Uuid,
    role: Recipient,
    name: &str,
    email: Option<&str>,
    time_zone: Option<Tz>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO people (id, role, name, name_at, email, email_at, time_zone, time_zone_at)
         VALUES ($1, $2, $3, $5, $4, CASE WHEN $4::text IS NULL THEN '-infinity'::timestamptz ELSE $5 END,
                 $6, CASE WHEN $6::text IS NULL THEN '-infinity'::timestamptz ELSE $5 END)
         ON CONFLICT (id) DO UPDATE SET
           role = EXCLUDED.role,
           name = CASE WHEN people.name_at <= EXCLUDED.name_at THEN EXCLUDED.name ELSE people.name END,
           name_at = GREATEST(people.name_at, EXCLUDED.name_at),
           email = CASE WHEN EXCLUDED.email IS NOT NULL AND people.email_at <= EXCLUDED.email_at
                        THEN EXCLUDED.email ELSE people.email END,
           email_at = CASE WHEN EXCLUDED.email IS NOT NULL
                           THEN GREATEST(people.email_at, EXCLUDED.email_at) ELSE people.email_at END,
           time_zone = CASE WHEN EXCLUDED.time_zone IS NOT NULL AND people.time_zone_at <= EXCLUDED.time_zone_at
                            THEN EXCLUDED.time_zone ELSE people.time_zone END,
           time_zone_at = CASE WHEN EXCLUDED.time_zone IS NOT NULL
                               THEN GREATEST(people.time_zone_at, EXCLUDED.time_zone_at) ELSE people.time_zone_at END",
    )
    .bind(id)
    .bind(role.as_str())
    .bind(name)
    .bind(email)
    .bind(at)
    .bind(time_zone.map(|z| z.name()))
    .execute(conn)
    .await?;
    Ok(())
}

/// The people with these ids that are known.
pub async fn get_many(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Person>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, email, time_zone FROM people WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// Every admin with an address, oldest id first: who reviews break-glass
/// access when no privacy contact is configured.
pub async fn admins(conn: &mut PgConnection) -> Result<Vec<Person>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, email, time_zone FROM people
         WHERE role = $1 AND email IS NOT NULL ORDER BY id",
    )
    .bind(Recipient::Admin.as_str())
    .fetch_all(conn)
    .await
}

/// A person's own zone, when known: what a patient's subject line is shown in.
pub async fn zone(conn: &mut PgConnection, id: Uuid) -> Result<Option<Tz>, sqlx::Error> {
    let stored: Option<Option<String>> =
        sqlx::query_scalar("SELECT time_zone FROM people WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(stored.flatten().and_then(|z| z.parse().ok()))
}

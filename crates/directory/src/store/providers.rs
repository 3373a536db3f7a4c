//! Provider profiles: read, search, create, edit, seed.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::{provider::ProviderProfile, search::Search};

use super::{explain, push_page, push_patterns};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderRow {
    pub id: Uuid,
    pub name: String,
    pub specialty: String,
    pub bio: String,
    pub languages: Vec<String>,
    pub location: String,
    pub time_zone: String,
    pub accepting_new_patients: bool,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

const PROVIDER_COLUMNS: &str = "id, name, specialty, bio, languages, location, time_zone, \
     accepting_new_patients, version, updated_at";

/// The text `q` searches; exactly the expression of the `providers_search` index.
const SEARCH_TEXT: &str = "lower(name || ' ' || specialty || ' ' || bio)";

pub async fn provider(pool: &PgPool, id: Uuid) -> Result<Option<ProviderRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {PROVIDER_COLUMNS} FROM providers WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// One page of the listing in `(name, id)` order, plus one row more when a
/// next page exists.
pub async fn search_providers(
    pool: &PgPool,
    search: &Search,
) -> Result<Vec<ProviderRow>, sqlx::Error> {
    search_sql("", search)
        .build_query_as()
        .fetch_all(pool)
        .await
}

/// The plan PostgreSQL picks for `search` (operators and tests check that the
/// indexes are used).
pub async fn explain_search(pool: &PgPool, search: &Search) -> Result<String, sqlx::Error> {
    explain(pool, search_sql("EXPLAIN ", search)).await
}

/// Only the filters asked for are in the SQL, so each shape of search gets a
/// plan fit for it (one `$1 IS NULL OR …` query would share a generic plan).
fn search_sql<'a>(prefix: &str, search: &'a Search) -> QueryBuilder<'a, Postgres> {
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "{prefix}SELECT {PROVIDER_COLUMNS} FROM providers WHERE true"
    ));
    if let Some(specialty) = &search.specialty {
        qb.push(" AND lower(specialty) = lower(")
            .push_bind(specialty)
            .push(")");
    }
    push_patterns(&mut qb, SEARCH_TEXT, &search.patterns);
    push_page(&mut qb, search.after.as_ref(), search.limit);
    qb
}

/// A new provider's profile; `None` if one exists already.
pub async fn insert_provider(
    conn: &mut PgConnection,
    id: Uuid,
    p: &ProviderProfile,
) -> Result<Option<ProviderRow>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO providers (id, name, specialty, bio, languages, location, time_zone, accepting_new_patients)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO NOTHING
         RETURNING {PROVIDER_COLUMNS}"
    );
    with_provider(&sql, id, p).fetch_optional(conn).await
}

/// `sql` with $1 = the provider id and $2..$8 = the profile's columns in table order.
fn with_provider<'q>(
    sql: &'q str,
    id: Uuid,
    p: &'q ProviderProfile,
) -> sqlx::query::QueryAs<'q, Postgres, ProviderRow, sqlx::postgres::PgArguments> {
    sqlx::query_as(sql)
        .bind(id)
        .bind(&p.name)
        .bind(&p.specialty)
        .bind(&p.bio)
        .bind(&p.languages)
        .bind(&p.location)
        .bind(p.time_zone.name())
        .bind(p.accepting_new_patients)
}

/// Replace a provider's profile; `None` if there is no such provider.
pub async fn update_provider(
    conn: &mut PgConnection,
    id: Uuid,
    p: &ProviderProfile,
) -> Result<Option<ProviderRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE providers SET name = $2, specialty = $3, bio = $4, languages = $5, location = $6,
                time_zone = $7, accepting_new_patients = $8, version = version + 1, updated_at = now()
         WHERE id = $1
         RETURNING {PROVIDER_COLUMNS}"
    );
    with_provider(&sql, id, p).fetch_optional(conn).await
}

/// The demo clinic's provider: inserted, or — if the profile was only ever
/// created from `user.registered` and never edited (version 1) — given the
/// demo details. `None` when nothing changed (the seed is idempotent).
pub async fn seed_provider(
    conn: &mut PgConnection,
    id: Uuid,
    p: &ProviderProfile,
) -> Result<Option<ProviderRow>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO providers (id, name, specialty, bio, languages, location, time_zone, accepting_new_patients)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET specialty = EXCLUDED.specialty, bio = EXCLUDED.bio,
                languages = EXCLUDED.languages, location = EXCLUDED.location,
                time_zone = EXCLUDED.time_zone, version = providers.version + 1, updated_at = now()
         WHERE providers.version = 1
           AND (providers.specialty, providers.bio, providers.languages, providers.location, providers.time_zone)
               IS DISTINCT FROM
               (EXCLUDED.specialty, EXCLUDED.bio, EXCLUDED.languages, EXCLUDED.location, EXCLUDED.time_zone)
         RETURNING {PROVIDER_COLUMNS}"
    );
    with_provider(&sql, id, p).fetch_optional(conn).await
}

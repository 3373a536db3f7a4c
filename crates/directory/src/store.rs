//! The directory's SQL: provider and patient profiles, and care relationships.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{types::Json, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::{
    access::CareRelationship,
    patient::{Address, Insurance, PatientDetails},
    provider::ProviderProfile,
    search::{PatientSearch, Search},
    Cursor,
};

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

/// The lines of an `EXPLAIN` query, joined.
async fn explain(pool: &PgPool, mut qb: QueryBuilder<'_, Postgres>) -> Result<String, sqlx::Error> {
    let lines: Vec<String> = qb.build_query_scalar().fetch_all(pool).await?;
    Ok(lines.join("\n"))
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

/// Every pattern must match `text` (an indexed expression), case-insensitively.
fn push_patterns<'a>(qb: &mut QueryBuilder<'a, Postgres>, text: &str, patterns: &'a [String]) {
    for pattern in patterns {
        qb.push(format!(" AND {text} LIKE lower("))
            .push_bind(pattern)
            .push(")");
    }
}

/// The page in `(name, id)` order after `after`, plus one row more when a next
/// page exists.
fn push_page<'a>(qb: &mut QueryBuilder<'a, Postgres>, after: Option<&'a Cursor>, limit: u32) {
    if let Some(after) = after {
        qb.push(" AND (name, id) > (")
            .push_bind(&after.name)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    qb.push(" ORDER BY name, id LIMIT ")
        .push_bind(i64::from(limit) + 1);
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

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PatientRow {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub date_of_birth: Option<NaiveDate>,
    pub phone: Option<String>,
    pub address: Option<Json<Address>>,
    pub insurance: Option<Json<Insurance>>,
    pub preferred_provider_id: Option<Uuid>,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

const PATIENT_COLUMNS: &str = "id, name, email, date_of_birth, phone, address, insurance, \
     preferred_provider_id, version, updated_at";

/// The foreign key naming `patients.preferred_provider_id`'s reference.
const PREFERRED_PROVIDER_FKEY: &str = "patients_preferred_provider_id_fkey";

#[derive(Debug, thiserror::Error)]
pub enum PatientWriteError {
    /// The preferred provider does not exist.
    #[error("no such provider")]
    UnknownProvider,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn unknown_provider(e: sqlx::Error) -> PatientWriteError {
    match e {
        sqlx::Error::Database(d) if d.constraint() == Some(PREFERRED_PROVIDER_FKEY) => {
            PatientWriteError::UnknownProvider
        }
        other => other.into(),
    }
}

pub async fn patient(pool: &PgPool, id: Uuid) -> Result<Option<PatientRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {PATIENT_COLUMNS} FROM patients WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The text the patient search matches; exactly the expression of the
/// `patients_search` index.
const PATIENT_SEARCH_TEXT: &str = "lower(name || ' ' || email)";

/// One page of the patient search in `(name, id)` order, plus one row more
/// when a next page exists.
pub async fn search_patients(
    pool: &PgPool,
    search: &PatientSearch,
) -> Result<Vec<PatientRow>, sqlx::Error> {
    patient_search_sql("", search)
        .build_query_as()
        .fetch_all(pool)
        .await
}

/// The plan PostgreSQL picks for a patient search (tests check the index is used).
pub async fn explain_patient_search(
    pool: &PgPool,
    search: &PatientSearch,
) -> Result<String, sqlx::Error> {
    explain(pool, patient_search_sql("EXPLAIN ", search)).await
}

fn patient_search_sql<'a>(prefix: &str, search: &'a PatientSearch) -> QueryBuilder<'a, Postgres> {
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "{prefix}SELECT {PATIENT_COLUMNS} FROM patients WHERE true"
    ));
    push_patterns(&mut qb, PATIENT_SEARCH_TEXT, &search.patterns);
    push_page(&mut qb, search.after.as_ref(), search.limit);
    qb
}

/// A new patient's profile; `None` if one exists already.
pub async fn insert_patient(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    email: &str,
) -> Result<Option<PatientRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO patients (id, name, email) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO NOTHING
         RETURNING {PATIENT_COLUMNS}"
    ))
    .bind(id)
    .bind(name)
    .bind(email)
    .fetch_optional(conn)
    .await
}

/// Replace a patient's editable details; `None` if there is no such patient.
pub async fn update_patient(
    conn: &mut PgConnection,
    id: Uuid,
    d: &PatientDetails,
) -> Result<Option<PatientRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE patients SET name = $2, date_of_birth = $3, phone = $4, address = $5, insurance = $6,
                version = version + 1, updated_at = now()
         WHERE id = $1
         RETURNING {PATIENT_COLUMNS}"
    ))
    .bind(id)
    .bind(&d.name)
    .bind(d.date_of_birth)
    .bind(&d.phone)
    .bind(d.address.as_ref().map(Json))
    .bind(d.insurance.as_ref().map(Json))
    .fetch_optional(conn)
    .await
}

/// Set (or clear) the preferred provider; `None` if there is no such patient.
pub async fn set_preferred_provider(
    conn: &mut PgConnection,
    id: Uuid,
    provider_id: Option<Uuid>,
) -> Result<Option<PatientRow>, PatientWriteError> {
    sqlx::query_as(&format!(
        "UPDATE patients SET preferred_provider_id = $2, version = version + 1, updated_at = now()
         WHERE id = $1
         RETURNING {PATIENT_COLUMNS}"
    ))
    .bind(id)
    .bind(provider_id)
    .fetch_optional(conn)
    .await
    .map_err(unknown_provider)
}

/// The demo clinic's patient, like [`seed_provider`]: inserted, or filled in
/// while never edited.
pub async fn seed_patient(
    conn: &mut PgConnection,
    id: Uuid,
    email: &str,
    d: &PatientDetails,
    preferred_provider_id: Option<Uuid>,
) -> Result<Option<PatientRow>, PatientWriteError> {
    sqlx::query_as(&format!(
        "INSERT INTO patients (id, name, email, date_of_birth, phone, address, insurance, preferred_provider_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET date_of_birth = EXCLUDED.date_of_birth, phone = EXCLUDED.phone,
                address = EXCLUDED.address, insurance = EXCLUDED.insurance,
                preferred_provider_id = EXCLUDED.preferred_provider_id,
                version = patients.version + 1, updated_at = now()
         WHERE patients.version = 1
           AND (patients.date_of_birth, patients.phone, patients.address, patients.insurance, patients.preferred_provider_id)
               IS DISTINCT FROM
               (EXCLUDED.date_of_birth, EXCLUDED.phone, EXCLUDED.address, EXCLUDED.insurance, EXCLUDED.preferred_provider_id)
         RETURNING {PATIENT_COLUMNS}"
    ))
    .bind(id)
    .bind(&d.name)
    .bind(email)
    .bind(d.date_of_birth)
    .bind(&d.phone)
    .bind(d.address.as_ref().map(Json))
    .bind(d.insurance.as_ref().map(Json))
    .bind(preferred_provider_id)
    .fetch_optional(conn)
    .await
    .map_err(unknown_provider)
}

/// Record that `provider_id` and `patient_id` have an appointment together
/// (the first one seen is kept; later ones change nothing).
pub async fn add_care_relationship(
    conn: &mut PgConnection,
    care: &CareRelationship,
    appointment_id: Uuid,
    seen_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO care_relationships (provider_id, patient_id, first_appointment_id, since)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (provider_id, patient_id) DO NOTHING",
    )
    .bind(care.provider_id)
    .bind(care.patient_id)
    .bind(appointment_id)
    .bind(seen_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The care relationship between this provider and patient, if they have one.
pub async fn care_relationship(
    pool: &PgPool,
    provider_id: Uuid,
    patient_id: Uuid,
) -> Result<Option<CareRelationship>, sqlx::Error> {
    let found: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT provider_id, patient_id FROM care_relationships
         WHERE provider_id = $1 AND patient_id = $2",
    )
    .bind(provider_id)
    .bind(patient_id)
    .fetch_optional(pool)
    .await?;
    Ok(found.map(|(provider_id, patient_id)| CareRelationship {
        provider_id,
        patient_id,
    }))
}

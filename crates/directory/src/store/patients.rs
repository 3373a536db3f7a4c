//! Patient profiles: read, search, create, edit, the preferred provider, seed.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{types::Json, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::{
    patient::{Address, Insurance, PatientDetails, TimeZoneChange},
    search::PatientSearch,
    TimeZone,
};

use super::{explain, push_page, push_patterns};

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
    /// An IANA name checked when it was written; NULL while unknown.
    pub time_zone: Option<String>,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

const PATIENT_COLUMNS: &str = "id, name, email, date_of_birth, phone, address, insurance, \
     preferred_provider_id, time_zone, version, updated_at";

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
/// `in_care_of`: only patients with an appointment with that provider (the
/// caller then checks each one's care window).
pub async fn search_patients(
    pool: &PgPool,
    search: &PatientSearch,
    in_care_of: Option<Uuid>,
) -> Result<Vec<PatientRow>, sqlx::Error> {
    patient_search_sql("", search, in_care_of)
        .build_query_as()
        .fetch_all(pool)
        .await
}

/// The plan PostgreSQL picks for a patient search (tests check the index is used).
pub async fn explain_patient_search(
    pool: &PgPool,
    search: &PatientSearch,
) -> Result<String, sqlx::Error> {
    explain(pool, patient_search_sql("EXPLAIN ", search, None)).await
}

fn patient_search_sql<'a>(
    prefix: &str,
    search: &'a PatientSearch,
    in_care_of: Option<Uuid>,
) -> QueryBuilder<'a, Postgres> {
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "{prefix}SELECT {PATIENT_COLUMNS} FROM patients WHERE true"
    ));
    if let Some(provider_id) = in_care_of {
        qb.push(" AND id IN (SELECT patient_id FROM care_visits WHERE provider_id = ")
            .push_bind(provider_id)
            .push(")");
    }
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
    time_zone: Option<TimeZone>,
) -> Result<Option<PatientRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO patients (id, name, email, time_zone) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO NOTHING
         RETURNING {PATIENT_COLUMNS}"
    ))
    .bind(id)
    .bind(name)
    .bind(email)
    .bind(time_zone.map(|tz| tz.name()))
    .fetch_optional(conn)
    .await
}

/// Replace a patient's editable details (the time zone as its change says);
/// `None` if there is no such patient.
pub async fn update_patient(
    conn: &mut PgConnection,
    id: Uuid,
    d: &PatientDetails,
) -> Result<Option<PatientRow>, sqlx::Error> {
    let (keep_zone, zone) = match d.time_zone {
        TimeZoneChange::Keep => (true, None),
        TimeZoneChange::Clear => (false, None),
        TimeZoneChange::Set(tz) => (false, Some(tz.name())),
    };
    sqlx::query_as(&format!(
        "UPDATE patients SET name = $2, date_of_birth = $3, phone = $4, address = $5, insurance = $6,
                time_zone = CASE WHEN $7 THEN time_zone ELSE $8 END,
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
    .bind(keep_zone)
    .bind(zone)
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

/// The demo clinic's patient, like [`super::seed_provider`]: inserted, or filled in
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

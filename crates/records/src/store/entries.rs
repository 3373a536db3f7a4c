//! Entry versions and their data keys. Versions are only ever inserted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    crypto::Sealed,
    domain::entries::{Kind, Status},
    keys::WrappedKey,
};

/// One stored version, still encrypted: what the database and the cache hold.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, Serialize, Deserialize)]
pub struct VersionRow {
    pub entry_id: Uuid,
    pub version: i32,
    pub patient_id: Uuid,
    pub kind: String,
    pub status: String,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub data_key_id: Uuid,
    pub key_id: String,
    #[serde(with = "b64")]
    pub key_nonce: Vec<u8>,
    #[serde(with = "b64")]
    pub wrapped_key: Vec<u8>,
    #[serde(with = "b64")]
    pub nonce: Vec<u8>,
    #[serde(with = "b64")]
    pub ciphertext: Vec<u8>,
}

impl VersionRow {
    pub fn sealed(&self) -> Sealed {
        Sealed {
            data_key_id: self.data_key_id,
            key: WrappedKey {
                key_id: self.key_id.clone(),
                nonce: self.key_nonce.clone(),
                wrapped: self.wrapped_key.clone(),
            },
            nonce: self.nonce.clone(),
            ciphertext: self.ciphertext.clone(),
        }
    }
}

/// Bytes as base64 in the cache's JSON.
mod b64 {
    use base64::{engine::general_purpose::STANDARD, Engine};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

const COLUMNS: &str =
    "v.entry_id, v.version, v.patient_id, v.kind, v.status, v.author_id, v.created_at,
    v.data_key_id, k.key_id, k.nonce AS key_nonce, k.wrapped AS wrapped_key, v.nonce, v.ciphertext";

/// A version to insert.
pub struct NewVersion {
    pub entry_id: Uuid,
    pub version: i32,
    pub patient_id: Uuid,
    pub kind: Kind,
    pub status: Status,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub sealed: Sealed,
}

/// Why a version was not written.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// Another version with this number was written first.
    #[error("version taken")]
    VersionTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub async fn insert(conn: &mut PgConnection, v: &NewVersion) -> Result<(), InsertError> {
    super::care::insert_data_key(conn, &v.sealed).await?;
    let result = sqlx::query(
        "INSERT INTO record_versions
             (entry_id, version, patient_id, kind, status, author_id, created_at, data_key_id, nonce, ciphertext)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(v.entry_id)
    .bind(v.version)
    .bind(v.patient_id)
    .bind(v.kind.as_str())
    .bind(v.status.as_str())
    .bind(v.author_id)
    .bind(v.created_at)
    .bind(v.sealed.data_key_id)
    .bind(&v.sealed.nonce)
    .bind(&v.sealed.ciphertext)
    .execute(conn)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e))
            if e.code().as_deref() == Some("23505")
                && e.constraint() == Some("record_versions_pkey") =>
        {
            Err(InsertError::VersionTaken)
        }
        Err(e) => Err(e.into()),
    }
}

/// The latest version of an entry of this patient and kind.
pub async fn latest(
    pool: &PgPool,
    patient_id: Uuid,
    kind: Kind,
    entry_id: Uuid,
) -> Result<Option<VersionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM record_versions v JOIN data_keys k ON k.id = v.data_key_id
         WHERE v.entry_id = $1 AND v.patient_id = $2 AND v.kind = $3
         ORDER BY v.version DESC LIMIT 1"
    ))
    .bind(entry_id)
    .bind(patient_id)
    .bind(kind.as_str())
    .fetch_optional(pool)
    .await
}

/// The latest version number of an entry, inside a write's transaction.
pub async fn latest_version(
    conn: &mut PgConnection,
    patient_id: Uuid,
    kind: Kind,
    entry_id: Uuid,
) -> Result<Option<(i32, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, status FROM record_versions
         WHERE entry_id = $1 AND patient_id = $2 AND kind = $3
         ORDER BY version DESC LIMIT 1",
    )
    .bind(entry_id)
    .bind(patient_id)
    .bind(kind.as_str())
    .fetch_optional(conn)
    .await
}

/// Every version of an entry, oldest first.
pub async fn history(
    pool: &PgPool,
    patient_id: Uuid,
    kind: Kind,
    entry_id: Uuid,
) -> Result<Vec<VersionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM record_versions v JOIN data_keys k ON k.id = v.data_key_id
         WHERE v.entry_id = $1 AND v.patient_id = $2 AND v.kind = $3
         ORDER BY v.version"
    ))
    .bind(entry_id)
    .bind(patient_id)
    .bind(kind.as_str())
    .fetch_all(pool)
    .await
}

/// What a list asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub patient_id: Uuid,
    pub kind: Kind,
    pub include_entered_in_error: bool,
    /// Entries older (smaller UUIDv7) than this one.
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// The latest version of each entry, newest entry first.
pub async fn list_latest(pool: &PgPool, q: &ListQuery) -> Result<Vec<VersionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT * FROM (
             SELECT DISTINCT ON (v.entry_id) {COLUMNS}
             FROM record_versions v JOIN data_keys k ON k.id = v.data_key_id
             WHERE v.patient_id = $1 AND v.kind = $2 AND ($3::uuid IS NULL OR v.entry_id < $3)
             ORDER BY v.entry_id DESC, v.version DESC
         ) AS latest
         WHERE $4 OR status = 'active'
         ORDER BY entry_id DESC LIMIT $5"
    ))
    .bind(q.patient_id)
    .bind(q.kind.as_str())
    .bind(q.before)
    .bind(q.include_entered_in_error)
    .bind(q.limit)
    .fetch_all(pool)
    .await
}

/// Is `entry_id` an encounter in this patient's record?
pub async fn encounter_exists(
    pool: &PgPool,
    patient_id: Uuid,
    entry_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM record_versions
                        WHERE entry_id = $1 AND patient_id = $2 AND kind = 'encounter')",
    )
    .bind(entry_id)
    .bind(patient_id)
    .fetch_one(pool)
    .await
}

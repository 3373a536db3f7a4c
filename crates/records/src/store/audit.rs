//! The audit log's rows and its head.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::chain::AuditFields;

#[derive(Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Uuid,
    pub role: String,
    pub patient_id: Uuid,
    pub action: String,
    pub kind: Option<String>,
    pub entry_ids: Vec<Uuid>,
    pub outcome: String,
    pub reason: Option<String>,
    pub flags: Vec<String>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl AuditRow {
    pub fn fields(&self) -> AuditFields {
        AuditFields {
            seq: self.seq,
            at: self.at,
            actor_id: self.actor_id,
            role: self.role.clone(),
            patient_id: self.patient_id,
            action: self.action.clone(),
            kind: self.kind.clone(),
            entry_ids: self.entry_ids.clone(),
            outcome: self.outcome.clone(),
            reason: self.reason.clone(),
            flags: self.flags.clone(),
            prev_hash: self.prev_hash.clone(),
        }
    }
}

const COLUMNS: &str =
    "seq, at, actor_id, role, patient_id, action, kind, entry_ids, outcome, reason, flags, prev_hash, hash";

/// Lock the chain head until the caller's transaction ends; returns (seq, hash).
pub async fn lock_head(conn: &mut PgConnection) -> Result<(i64, Vec<u8>), sqlx::Error> {
    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE singleton FOR UPDATE")
        .fetch_one(conn)
        .await
}

/// The head as of the caller's snapshot.
pub async fn head(conn: &mut PgConnection) -> Result<(i64, Vec<u8>), sqlx::Error> {
    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE singleton")
        .fetch_one(conn)
        .await
}

/// Insert the entry and move the head to it, in one statement (one round trip
/// while the head is locked).
pub async fn insert(
    conn: &mut PgConnection,
    f: &AuditFields,
    hash: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH entry AS (
             INSERT INTO audit_log (seq, at, actor_id, role, patient_id, action, kind, entry_ids, outcome, reason, flags, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             RETURNING seq, hash
         )
         UPDATE audit_head SET seq = entry.seq, hash = entry.hash FROM entry WHERE singleton",
    )
    .bind(f.seq)
    .bind(f.at)
    .bind(f.actor_id)
    .bind(&f.role)
    .bind(f.patient_id)
    .bind(&f.action)
    .bind(&f.kind)
    .bind(&f.entry_ids)
    .bind(&f.outcome)
    .bind(&f.reason)
    .bind(&f.flags)
    .bind(&f.prev_hash)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// Entries after `after`, in order, at most `limit`.
pub async fn page(
    conn: &mut PgConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// An access-log line: the entry, and for a break-glass grant when it expires.
#[derive(Debug, sqlx::FromRow)]
pub struct LogRow {
    #[sqlx(flatten)]
    pub entry: AuditRow,
    pub grant_expires_at: Option<DateTime<Utc>>,
}

/// A patient's entries, newest first, before `before` (a seq).
pub async fn for_patient(
    pool: &PgPool,
    patient_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<LogRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.seq, a.at, a.actor_id, a.role, a.patient_id, a.action, a.kind, a.entry_ids,
                a.outcome, a.reason, a.flags, a.prev_hash, a.hash, g.expires_at AS grant_expires_at
         FROM audit_log a
         LEFT JOIN break_glass g
             ON a.action = 'break_glass' AND a.outcome = 'allowed' AND g.id = a.entry_ids[1]
         WHERE a.patient_id = $1 AND ($2::bigint IS NULL OR a.seq < $2)
         ORDER BY a.seq DESC LIMIT $3",
    )
    .bind(patient_id)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

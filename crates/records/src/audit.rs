//! The audit log: every read, write, denied attempt and break-glass, appended
//! to a hash chain. Appends lock the chain head, so entries get consecutive
//! sequence numbers and the chain never forks; [`verify`] walks the chain and
//! finds an edited, removed or reordered entry. Entries hold ids and codes,
//! never clinical text.

use chrono::{DateTime, Utc};
use contracts::records::RecordAccessed;
use platform::events::{outbox, Envelope};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    crypto::now_micros,
    domain::{
        access::{Actor, DenyReason},
        chain::{self, AuditFields, ChainCheck},
        entries::Kind,
    },
    store::audit as store,
};

pub use crate::domain::chain::AuditBreak;

/// What was attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    Read,
    Create,
    Amend,
    EnterInError,
    BreakGlass,
    ReadAccessLog,
    /// An admin read break-glass reasons in the review queue.
    ReadBreakGlassReason,
    /// An admin reviewed a break-glass grant (the entry id is the grant's).
    BreakGlassReview,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Read => "read",
            AuditAction::Create => "create",
            AuditAction::Amend => "amend",
            AuditAction::EnterInError => "enter_in_error",
            AuditAction::BreakGlass => "break_glass",
            AuditAction::ReadAccessLog => "read_access_log",
            AuditAction::ReadBreakGlassReason => "read_break_glass_reason",
            AuditAction::BreakGlassReview => "break_glass_review",
        }
    }
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied(DenyReason),
    /// Allowed, but no such patient or entry (nothing was disclosed).
    NotFound,
    /// Allowed, but stored content failed its integrity check (nothing was disclosed).
    IntegrityError,
}

impl Outcome {
    fn parts(self) -> (&'static str, Option<&'static str>) {
        match self {
            Outcome::Allowed => ("allowed", None),
            Outcome::Denied(reason) => ("denied", Some(reason.as_str())),
            Outcome::NotFound => ("not_found", None),
            Outcome::IntegrityError => ("integrity_error", None),
        }
    }
}

/// One audit entry to append.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub actor: Actor,
    pub patient_id: Uuid,
    pub action: AuditAction,
    pub kind: Option<Kind>,
    pub entry_ids: Vec<Uuid>,
    pub outcome: Outcome,
    /// Access that only a break-glass grant allowed.
    pub break_glass: bool,
}

pub const FLAG_BREAK_GLASS: &str = "break_glass";

/// Append inside the caller's transaction (with the change it records, if any).
/// Break-glass access is also published as `record.accessed` through the
/// outbox, in the same transaction. Call it last: it holds the chain head
/// until the transaction ends.
pub async fn append(conn: &mut PgConnection, e: &AuditEvent) -> Result<AuditFields, sqlx::Error> {
    let (head_seq, head_hash) = store::lock_head(conn).await?;
    let (outcome, reason) = e.outcome.parts();
    let fields = AuditFields {
        seq: head_seq + 1,
        at: now_micros(),
        actor_id: e.actor.user_id,
        role: e.actor.role.as_str().to_owned(),
        patient_id: e.patient_id,
        action: e.action.as_str().to_owned(),
        kind: e.kind.map(|k| k.as_str().to_owned()),
        entry_ids: e.entry_ids.clone(),
        outcome: outcome.to_owned(),
        reason: reason.map(str::to_owned),
        flags: if e.break_glass {
            vec![FLAG_BREAK_GLASS.to_owned()]
        } else {
            Vec::new()
        },
        prev_hash: head_hash,
    };
    let hash = chain::hash(&fields);
    if e.break_glass && e.outcome == Outcome::Allowed {
        let data = RecordAccessed {
            audit_seq: fields.seq,
            at: fields.at,
            actor_id: fields.actor_id,
            role: fields.role.clone(),
            patient_id: fields.patient_id,
            action: fields.action.clone(),
            kind: fields.kind.clone(),
            entry_ids: fields.entry_ids.clone(),
            break_glass: true,
        };
        let event =
            Envelope::of::<RecordAccessed>(&data).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        outbox::enqueue(conn, &event).await?;
    }
    store::insert(conn, &fields, &hash).await?;
    metrics::counter!("records_audit_entries_total", "action" => e.action.as_str(), "outcome" => outcome)
        .increment(1);
    Ok(fields)
}

/// Append in a transaction of its own.
pub async fn record(pool: &PgPool, e: &AuditEvent) -> Result<AuditFields, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let fields = append(&mut tx, e).await?;
    tx.commit().await?;
    Ok(fields)
}

/// Why verification did not complete.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Broken(#[from] AuditBreak),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

const VERIFY_BATCH: i64 = 1000;

/// Walk the whole chain in one consistent snapshot: consecutive sequence
/// numbers from 1, each `prev_hash` equal to the previous hash, each hash equal
/// to the hash of the entry's content, and the last entry equal to the recorded
/// head. Returns how many entries verified, or the first break.
///
/// This proves the log was not altered by anyone who could not also rewrite
/// every later hash and the head; anchoring the head hash outside the database
/// (it is logged here) closes that gap.
pub async fn verify(pool: &PgPool) -> Result<usize, VerifyError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let (head_seq, head_hash) = store::head(&mut tx).await?;
    let mut check = ChainCheck::default();
    let mut after = 0;
    loop {
        let rows = store::page(&mut tx, after, VERIFY_BATCH).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in &rows {
            check.next(&row.fields(), &row.hash)?;
        }
    }
    tx.commit().await?;
    let n = check.finish(head_seq, &head_hash)?;
    tracing::info!(entries = n, head_seq, head_hash = %hex(&head_hash), "audit chain verified");
    Ok(n)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One line of a patient's access log.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AccessLogEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Uuid,
    pub role: String,
    /// `read`, `create`, `amend`, `enter_in_error`, `break_glass` (a grant, or a
    /// refused request for one), `read_access_log`, `read_break_glass_reason`
    /// (an admin read the grant's reason to review it), `break_glass_review`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub entry_ids: Vec<Uuid>,
    /// `allowed`, `denied`, `not_found` or `integrity_error`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Access that only a break-glass grant allowed (the grant itself included).
    pub break_glass: bool,
    /// For a break-glass grant: when its (read-only) access ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A patient's entries, newest first.
pub async fn for_patient(
    pool: &PgPool,
    patient_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AccessLogEntry>, sqlx::Error> {
    let rows = store::for_patient(pool, patient_id, before, limit).await?;
    Ok(rows
        .into_iter()
        .map(
            |store::LogRow {
                 entry: r,
                 grant_expires_at,
             }| AccessLogEntry {
                break_glass: r.flags.iter().any(|f| f == FLAG_BREAK_GLASS),
                expires_at: grant_expires_at,
                seq: r.seq,
                at: r.at,
                actor_id: r.actor_id,
                role: r.role,
                action: r.action,
                kind: r.kind,
                entry_ids: r.entry_ids,
                outcome: r.outcome,
                reason: r.reason,
            },
        )
        .collect())
}

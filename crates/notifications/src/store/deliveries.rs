//! The delivery log: one row per email, claimed by the worker with a lease.

use chrono::{DateTime, Utc};
use sqlx::{types::Json, PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::kinds::{self, About, Recipient};

pub struct NewDelivery<'a> {
    /// The kind and the payload the email is rendered from.
    pub about: &'a About,
    pub recipient_id: Uuid,
    pub recipient: Recipient,
    /// Where to send, for a recipient who is an address rather than a person
    /// (the configured privacy contact); people's addresses are looked up at
    /// sending time.
    pub address: Option<&'a str>,
    pub subject: &'a str,
    pub now: DateTime<Utc>,
    /// When it is first attempted: `now`, or later for a patient's
    /// confirmation waiting for its self-service links
    /// ([`crate::domain::links::due_at`]).
    pub due_at: DateTime<Utc>,
}

/// The Message-ID of a delivery: derived from its unique key, so every attempt
/// (and a duplicate after a crash) carries the same one.
pub fn message_id(subject_id: Uuid, kind: &str, version: i32, recipient_id: Uuid) -> String {
    format!("<{subject_id}.{kind}.v{version}.{recipient_id}@carebook.dev>")
}

/// Record the email to send; nothing happens when it already exists (same
/// appointment or grant, kind, version and recipient). True when created.
pub async fn insert(conn: &mut PgConnection, d: &NewDelivery<'_>) -> Result<bool, sqlx::Error> {
    Ok(insert_all(conn, std::slice::from_ref(d)).await? == 1)
}

/// Record several emails in one statement (an event's recipients), each as
/// [`insert`] would. How many were created.
pub async fn insert_all(
    conn: &mut PgConnection,
    all: &[NewDelivery<'_>],
) -> Result<u64, sqlx::Error> {
    let n = all.len();
    let (mut ids, mut subjects_of, mut kinds, mut versions) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut recipient_ids, mut roles, mut addresses, mut subjects) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut snapshots, mut message_ids, mut created_at, mut due_at) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for d in all {
        let (subject_id, kind, version) = (d.about.subject_id(), d.about.key(), d.about.version());
        ids.push(Uuid::now_v7());
        message_ids.push(message_id(subject_id, &kind, version, d.recipient_id));
        subjects_of.push(subject_id);
        kinds.push(kind);
        versions.push(version);
        recipient_ids.push(d.recipient_id);
        roles.push(d.recipient.as_str());
        addresses.push(d.address);
        subjects.push(d.subject);
        snapshots.push(Json(d.about.payload()));
        created_at.push(d.now);
        due_at.push(d.due_at);
    }
    Ok(sqlx::query(
        "INSERT INTO deliveries (id, appointment_id, kind, version, recipient_id, recipient_role,
                                 recipient_address, status, subject, snapshot, message_id,
                                 next_attempt_at, created_at)
         SELECT id, appointment_id, kind, version, recipient_id, recipient_role,
                recipient_address, 'pending', subject, snapshot, message_id,
                next_attempt_at, created_at
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int4[], $5::uuid[], $6::text[],
                     $7::text[], $8::text[], $9::jsonb[], $10::text[], $11::timestamptz[],
                     $12::timestamptz[])
              AS t(id, appointment_id, kind, version, recipient_id, recipient_role,
                   recipient_address, subject, snapshot, message_id, next_attempt_at, created_at)
         ON CONFLICT ON CONSTRAINT deliveries_once DO NOTHING",
    )
    .bind(ids)
    .bind(subjects_of)
    .bind(kinds)
    .bind(versions)
    .bind(recipient_ids)
    .bind(roles)
    .bind(addresses)
    .bind(subjects)
    .bind(snapshots)
    .bind(message_ids)
    .bind(due_at)
    .bind(created_at)
    .execute(conn)
    .await?
    .rows_affected())
}

/// The offer emailed for the hold `hold_id`, if its email went out (its
/// token is gone by then: the snapshot comes back with an empty one).
pub async fn sent_offer_for_hold(
    conn: &mut PgConnection,
    hold_id: Uuid,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT snapshot || jsonb_build_object('token', '') FROM deliveries
         WHERE kind = $1 AND status = 'sent' AND snapshot->>'hold_id' = $2::text
         LIMIT 1",
    )
    .bind(kinds::WAITLIST_OFFER)
    .bind(hold_id)
    .fetch_optional(conn)
    .await
}

/// A delivery the worker holds a lease on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    /// The appointment's or the grant's id.
    pub subject_id: Uuid,
    pub kind: String,
    pub version: i32,
    pub recipient_id: Uuid,
    pub recipient_role: String,
    /// Set when the recipient is an address, not a person.
    pub recipient_address: Option<String>,
    pub subject: String,
    /// The payload for `kind`, read with [`About::read`].
    pub snapshot: Json<serde_json::Value>,
    pub message_id: String,
    /// This attempt's number (1 for the first).
    pub attempts: i32,
}

/// Lease up to `limit` deliveries due at `now` until `lease_until`: `sending`
/// ones whose holder's lease ran out (it crashed, perhaps after sending) first,
/// then pending ones whose retry time came, oldest first. One statement,
/// committed at once, so the lease holds while the SMTP transaction runs
/// outside any database transaction. Each kind is read in its partial index's
/// order and stops after `limit` rows, so a claim costs the same however long
/// the queue behind it is (one query for both sorted the whole backlog, which
/// under load made every round slower than the last).
pub async fn claim(
    pool: &PgPool,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "WITH expired AS (
             SELECT id FROM deliveries WHERE status = 'sending' AND lease_until <= $1
             ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED),
         pending AS (
             SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1
             ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED),
         due AS (
             SELECT id FROM (SELECT id, 0 AS k FROM expired UNION ALL SELECT id, 1 FROM pending) c
             ORDER BY k LIMIT $3)
         UPDATE deliveries d SET status = 'sending', lease_until = $2, attempts = d.attempts + 1, updated_at = now()
         FROM due
         WHERE d.id = due.id
         RETURNING d.id, d.appointment_id AS subject_id, d.kind, d.version, d.recipient_id,
                   d.recipient_role, d.recipient_address, d.subject, d.snapshot, d.message_id, d.attempts",
    )
    .bind(now)
    .bind(lease_until)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    Sent,
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    Failed {
        error: String,
    },
    /// No longer worth sending: an appointment email superseded by a newer
    /// version, a reminder of a cancelled or begun appointment, an expired link.
    Cancelled {
        reason: String,
    },
}

/// Record the outcome of attempt `attempt` (started at `started`) and the
/// delivery's new state. A retry or failure only applies while this attempt
/// still holds the row; `sent` always does (the email went out).
///
/// A final state (sent, failed, cancelled) also forgets the payload's token
/// (verification, reset and waitlist-claim links, [`kinds::WITH_TOKEN`]): a
/// link already sent, or never to be, has no business in the log. A retry
/// keeps it for the next attempt.
pub async fn settle(
    pool: &PgPool,
    id: Uuid,
    attempt: i32,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
    outcome: &Settle,
) -> Result<(), sqlx::Error> {
    let (label, status, error, retry_at) = match outcome {
        Settle::Sent => ("sent", "sent", None, None),
        Settle::Retry { at, error } => ("retry", "pending", Some(error), Some(*at)),
        Settle::Failed { error } => ("failed", "failed", Some(error), None),
        Settle::Cancelled { reason } => ("cancelled", "cancelled", Some(reason), None),
    };
    // One statement (the update in a CTE, which runs whatever the insert
    // reads): atomic without a transaction's BEGIN and COMMIT round trips,
    // which cost the database more than the statements themselves.
    sqlx::query(
        "WITH settled AS (
             UPDATE deliveries SET status = $5, lease_until = NULL, last_error = $6,
               updated_at = now(),
               sent_at = CASE WHEN $5 = 'sent' THEN $4 ELSE sent_at END,
               next_attempt_at = CASE WHEN $5 = 'pending' THEN $7 ELSE next_attempt_at END,
               snapshot = CASE WHEN $5 <> 'pending' AND kind = ANY($8)
                               THEN snapshot - 'token' ELSE snapshot END
             WHERE id = $1
               AND CASE WHEN $5 = 'sent' THEN status <> 'sent'
                        ELSE status = 'sending' AND attempts = $2 END)
         INSERT INTO delivery_attempts (delivery_id, attempt, started_at, finished_at, outcome, error)
         VALUES ($1, $2, $3, $4, $9, $6) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(attempt)
    .bind(started)
    .bind(now)
    .bind(status)
    .bind(error)
    .bind(retry_at)
    .bind(kinds::WITH_TOKEN)
    .bind(label)
    .execute(pool)
    .await?;
    Ok(())
}

/// A delivery as its recipient sees it in the list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub appointment_id: Uuid,
    pub kind: String,
    pub version: i32,
    pub status: String,
    pub subject: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A recipient's deliveries, newest first, after the keyset `before` (an id).
pub async fn list_for(
    pool: &PgPool,
    recipient_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, appointment_id, kind, version, status, subject, attempts, created_at, sent_at
         FROM deliveries
         WHERE recipient_id = $1 AND ($2::uuid IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(recipient_id)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Numbers for the gauges: deliveries waiting, failed for good, and how long
/// the oldest unsent one has waited (the delivery queue's lag).
pub async fn stats(pool: &PgPool, now: DateTime<Utc>) -> Result<(i64, i64, f64), sqlx::Error> {
    let (pending, failed, lag): (i64, i64, Option<f64>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')),
                (SELECT count(*) FROM deliveries WHERE status = 'failed'),
                (SELECT EXTRACT(EPOCH FROM $1 - min(created_at))::float8 FROM deliveries
                  WHERE status IN ('pending', 'sending'))",
    )
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok((pending, failed, lag.unwrap_or(0.0).max(0.0)))
}

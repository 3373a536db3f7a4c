//! Access beyond the clinical entries themselves: what a provider's access
//! rests on (care windows from `platform::care`, break-glass), break-glass
//! grants (read-only, time-limited, rate-limited, published and reviewed), the
//! admin review queue, and the patient-facing access log.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use contracts::records::BreakGlassGranted;
use platform::{
    auth::Role,
    care::{CareAccess, CarePolicy},
    events::{outbox, Envelope},
};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    audit::{self, AccessLogEntry, AuditAction, AuditEvent, Outcome},
    crypto::{self, break_glass_aad, break_glass_review_aad, now_micros, CryptoError},
    domain::access::{
        break_glass_duration, check_break_glass_limit, check_break_glass_reason, check_review_note,
        explain, may_break_glass, may_read_access_log, may_review_break_glass, retry_after_seconds,
        Actor, Basis, BreakGlass, DenyReason, ReviewOutcome, BREAK_GLASS_LIMIT_WINDOW_HOURS,
    },
    error::Error,
    keys::KeyProvider,
    store::{
        break_glass::{self as grants, GrantRow, NewReview, ReviewFilter, ReviewInsertError},
        care,
    },
    AppState,
};

/// The settings access is decided with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessPolicy {
    /// When appointments open and close care windows.
    pub care: CarePolicy,
    /// How long a break-glass grant lasts when the provider does not say.
    pub break_glass: Duration,
    /// Break-glass grants per provider per rolling 24 hours.
    pub break_glass_daily_limit: u32,
}

/// What a provider's access to a patient rests on at `now`: the care window of
/// their appointments, and their latest break-glass grant.
pub(crate) async fn care_and_grant(
    state: &AppState,
    provider_id: Uuid,
    patient_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(CareAccess, Option<BreakGlass>), Error> {
    let (visits, grant) = care::access_facts(&state.db, provider_id, patient_id).await?;
    let access = platform::care::access(&visits, &state.policy.care, now);
    Ok((access, grant))
}

/// A granted break-glass: the provider may read (never write) this patient's
/// record until `expires_at`, every access flagged in the audit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BreakGlassGrant {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub granted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Always true: writing needs a care relationship.
    pub read_only: bool,
}

fn event(
    actor: Actor,
    patient_id: Uuid,
    action: AuditAction,
    entry_ids: Vec<Uuid>,
    outcome: Outcome,
    break_glass: bool,
) -> AuditEvent {
    AuditEvent {
        actor,
        patient_id,
        action,
        kind: None,
        entry_ids,
        outcome,
        break_glass,
    }
}

/// Sealing failed: the key provider is down, or a bug.
fn sealing(e: CryptoError) -> Error {
    match e {
        CryptoError::Unavailable(_) => Error::KeysUnavailable,
        other => Error::Internal(other.to_string()),
    }
}

/// Grant read-only emergency access with a stated reason (stored encrypted),
/// for `minutes` (or the configured default), at most the daily limit of grants
/// per provider. The grant, its audit entry and `record.break_glass_granted`
/// commit together.
pub async fn break_glass(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    reason: &str,
    minutes: Option<i64>,
) -> Result<BreakGlassGrant, Error> {
    let attempt = |entry_ids, outcome, flagged| {
        event(
            actor,
            patient_id,
            AuditAction::BreakGlass,
            entry_ids,
            outcome,
            flagged,
        )
    };
    if let Err(why) = may_break_glass(actor, patient_id) {
        audit::record(&state.db, &attempt(vec![], Outcome::Denied(why), false)).await?;
        return Err(Error::Forbidden);
    }
    let reason = check_break_glass_reason(reason).map_err(|m| ("reason", m));
    let duration =
        break_glass_duration(minutes, state.policy.break_glass).map_err(|m| ("minutes", m));
    let (reason, duration) = match (reason, duration) {
        (Ok(r), Ok(d)) => (r, d),
        (r, d) => {
            let fields = [r.err(), d.err()]
                .into_iter()
                .flatten()
                .map(|(f, m)| (f.to_owned(), m))
                .collect();
            return Err(Error::Invalid(fields));
        }
    };
    if !care::patient_exists(&state.db, patient_id).await? {
        audit::record(&state.db, &attempt(vec![], Outcome::NotFound, false)).await?;
        return Err(Error::PatientNotFound);
    }
    let granted_at = now_micros();
    let grant = BreakGlass {
        id: Uuid::now_v7(),
        provider_id: actor.user_id,
        patient_id,
        granted_at,
        expires_at: granted_at + duration,
    };
    let aad = break_glass_aad(
        grant.id,
        grant.provider_id,
        patient_id,
        granted_at,
        grant.expires_at,
    );
    let sealed = crypto::seal(state.keys.as_ref(), reason.as_bytes(), &aad)
        .await
        .map_err(sealing)?;
    let mut tx = state.db.begin().await?;
    // Count and insert under the provider's lock: concurrent requests cannot
    // both see room for one more.
    grants::lock_provider(&mut tx, actor.user_id).await?;
    let window = Duration::hours(BREAK_GLASS_LIMIT_WINDOW_HOURS);
    let recent = grants::granted_since(&mut tx, actor.user_id, granted_at - window).await?;
    if let Err(wait) =
        check_break_glass_limit(&recent, state.policy.break_glass_daily_limit, granted_at)
    {
        audit::append(
            &mut tx,
            &attempt(vec![], Outcome::Denied(DenyReason::BreakGlassLimit), false),
        )
        .await?;
        tx.commit().await?;
        metrics::counter!("records_break_glass_refused_total", "reason" => "limit").increment(1);
        tracing::warn!(provider_id = %actor.user_id, %patient_id, grants_in_window = recent.len(), "break-glass refused: daily limit reached");
        return Err(Error::BreakGlassLimit {
            retry_after: retry_after_seconds(wait),
        });
    }
    grants::insert(&mut tx, &grant, &sealed).await?;
    audit::append(&mut tx, &attempt(vec![grant.id], Outcome::Allowed, true)).await?;
    let granted = Envelope::of::<BreakGlassGranted>(&BreakGlassGranted {
        grant_id: grant.id,
        patient_id,
        provider_id: grant.provider_id,
        reason,
        granted_at,
        expires_at: grant.expires_at,
    })
    .map_err(|e| Error::Internal(e.to_string()))?;
    outbox::enqueue(&mut tx, &granted).await?;
    tx.commit().await?;
    state.relay.wake();
    metrics::counter!("records_break_glass_granted_total").increment(1);
    tracing::warn!(grant_id = %grant.id, provider_id = %actor.user_id, %patient_id, expires_at = %grant.expires_at, "break-glass access granted");
    Ok(BreakGlassGrant {
        id: grant.id,
        patient_id,
        provider_id: grant.provider_id,
        granted_at,
        expires_at: grant.expires_at,
        read_only: true,
    })
}

/// When and why a provider's access to a patient's record ends.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccessExplanation {
    /// `care` (read and write), `break_glass` (read-only) or `none`.
    pub basis: Basis,
    /// When access ends; null while an appointment is active, and without access.
    pub until: Option<DateTime<Utc>>,
    /// In words, e.g. "until 2026-09-01 10:00 UTC (follow-up of the visit of
    /// 2026-06-03)" or "break-glass until 2026-06-01 12:30 UTC, read-only".
    pub explanation: String,
}

/// The calling provider's access to a patient, explained. Not a record read
/// (nothing clinical is disclosed), so not audited; an unknown patient gets
/// the same answer as one without appointments.
pub async fn explain_access(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
) -> Result<AccessExplanation, Error> {
    if actor.role != Role::Provider {
        return Err(Error::Forbidden);
    }
    let now = Utc::now();
    let (care, grant) = if actor.user_id == patient_id {
        (CareAccess::None, None)
    } else {
        care_and_grant(state, actor.user_id, patient_id, now).await?
    };
    let answer = explain(actor, patient_id, care, grant, now).ok_or(Error::Forbidden)?;
    Ok(AccessExplanation {
        basis: answer.basis,
        until: answer.until,
        explanation: answer.explanation,
    })
}

/// A grant's review.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BreakGlassReview {
    pub outcome: ReviewOutcome,
    pub note: String,
    pub reviewed_by: Uuid,
    pub reviewed_at: DateTime<Utc>,
}

/// A break-glass grant as its reviewer sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BreakGlassItem {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub granted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// What the provider stated (decrypted for the reviewer; the read is audited).
    pub reason: String,
    /// Null until reviewed.
    pub review: Option<BreakGlassReview>,
}

/// A page of the review queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BreakGlassQueue {
    pub items: Vec<BreakGlassItem>,
    pub next_cursor: Option<String>,
}

/// Why a stored grant could not be opened.
enum OpenError {
    Integrity(String),
    Unavailable,
}

impl From<CryptoError> for OpenError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Unavailable(_) => OpenError::Unavailable,
            other => OpenError::Integrity(other.to_string()),
        }
    }
}

fn text(bytes: Vec<u8>) -> Result<String, OpenError> {
    String::from_utf8(bytes).map_err(|_| OpenError::Integrity("not UTF-8".to_owned()))
}

/// Decrypt a grant's reason and its review's note.
async fn open(keys: &dyn KeyProvider, row: &GrantRow) -> Result<BreakGlassItem, OpenError> {
    let aad = break_glass_aad(
        row.id,
        row.provider_id,
        row.patient_id,
        row.granted_at,
        row.expires_at,
    );
    let reason = text(crypto::open(keys, &row.reason(), &aad).await?)?;
    let review = match row.review() {
        None => None,
        Some((outcome, reviewed_by, reviewed_at, sealed)) => {
            let parsed = ReviewOutcome::parse(&outcome)
                .ok_or_else(|| OpenError::Integrity("unknown review outcome".to_owned()))?;
            let aad = break_glass_review_aad(row.id, reviewed_by, &outcome, reviewed_at);
            let note = text(crypto::open(keys, &sealed, &aad).await?)?;
            Some(BreakGlassReview {
                outcome: parsed,
                note,
                reviewed_by,
                reviewed_at,
            })
        }
    };
    Ok(BreakGlassItem {
        id: row.id,
        patient_id: row.patient_id,
        provider_id: row.provider_id,
        granted_at: row.granted_at,
        expires_at: row.expires_at,
        reason,
        review,
    })
}

/// Open a grant for `actor` (an admin); a failure is reported and audited,
/// never shown.
async fn open_for(state: &AppState, actor: Actor, row: &GrantRow) -> Result<BreakGlassItem, Error> {
    match open(state.keys.as_ref(), row).await {
        Ok(item) => Ok(item),
        Err(OpenError::Unavailable) => Err(Error::KeysUnavailable),
        Err(OpenError::Integrity(why)) => {
            tracing::error!(grant_id = %row.id, patient_id = %row.patient_id, data_key_id = %row.data_key_id, key_id = %row.key_id, reason = %why, "stored break-glass grant failed its integrity check");
            metrics::counter!("records_integrity_errors_total").increment(1);
            audit::record(
                &state.db,
                &event(
                    actor,
                    row.patient_id,
                    AuditAction::ReadBreakGlassReason,
                    vec![row.id],
                    Outcome::IntegrityError,
                    false,
                ),
            )
            .await?;
            Err(Error::Integrity)
        }
    }
}

/// The review queue (admins): grants newest first, with their reasons. Each
/// patient whose grants are shown gets one audit entry naming them.
pub async fn review_queue(
    state: &AppState,
    actor: Actor,
    filter: ReviewFilter,
    before: Option<Uuid>,
    limit: i64,
) -> Result<BreakGlassQueue, Error> {
    if let Err(why) = may_review_break_glass(actor) {
        tracing::info!(actor_id = %actor.user_id, role = actor.role.as_str(), reason = why.as_str(), "break-glass review queue refused");
        return Err(Error::Forbidden);
    }
    let mut rows = grants::list(&state.db, filter, before, limit + 1).await?;
    let next_cursor = platform::page::next_page(&mut rows, limit as usize, |r| r.id.to_string());
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(open_for(state, actor, row).await?);
    }
    let mut shown: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for item in &items {
        shown.entry(item.patient_id).or_default().push(item.id);
    }
    if !shown.is_empty() {
        let mut tx = state.db.begin().await?;
        for (patient_id, ids) in shown {
            audit::append(
                &mut tx,
                &event(
                    actor,
                    patient_id,
                    AuditAction::ReadBreakGlassReason,
                    ids,
                    Outcome::Allowed,
                    false,
                ),
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(BreakGlassQueue { items, next_cursor })
}

/// Review a grant once (admins): the verdict and a note (sealed like the
/// reason), with an audit entry naming the grant, in one transaction.
pub async fn review(
    state: &AppState,
    actor: Actor,
    grant_id: Uuid,
    outcome: &str,
    note: &str,
) -> Result<BreakGlassItem, Error> {
    if let Err(why) = may_review_break_glass(actor) {
        // Audited against the grant's patient when there is one; the answer is the same.
        if let Some(row) = grants::get(&state.db, grant_id).await? {
            audit::record(
                &state.db,
                &event(
                    actor,
                    row.patient_id,
                    AuditAction::BreakGlassReview,
                    vec![grant_id],
                    Outcome::Denied(why),
                    false,
                ),
            )
            .await?;
        }
        return Err(Error::Forbidden);
    }
    let outcome = ReviewOutcome::parse(outcome)
        .ok_or_else(|| ("outcome", "justified or unjustified".to_owned()));
    let note = check_review_note(note).map_err(|m| ("note", m));
    let (outcome, note) = match (outcome, note) {
        (Ok(o), Ok(n)) => (o, n),
        (o, n) => {
            let fields = [o.err(), n.err()]
                .into_iter()
                .flatten()
                .map(|(f, m)| (f.to_owned(), m))
                .collect();
            return Err(Error::Invalid(fields));
        }
    };
    let row = grants::get(&state.db, grant_id)
        .await?
        .ok_or(Error::GrantNotFound)?;
    if row.review_outcome.is_some() {
        return Err(Error::AlreadyReviewed);
    }
    let item = open_for(state, actor, &row).await?;
    let reviewed_at = now_micros();
    let aad = break_glass_review_aad(grant_id, actor.user_id, outcome.as_str(), reviewed_at);
    let sealed = crypto::seal(state.keys.as_ref(), note.as_bytes(), &aad)
        .await
        .map_err(sealing)?;
    let mut tx = state.db.begin().await?;
    let new = NewReview {
        grant_id,
        outcome,
        reviewed_by: actor.user_id,
        reviewed_at,
        note: sealed,
    };
    grants::insert_review(&mut tx, &new)
        .await
        .map_err(|e| match e {
            ReviewInsertError::AlreadyReviewed => Error::AlreadyReviewed,
            ReviewInsertError::Db(e) => e.into(),
        })?;
    audit::append(
        &mut tx,
        &event(
            actor,
            row.patient_id,
            AuditAction::BreakGlassReview,
            vec![grant_id],
            Outcome::Allowed,
            false,
        ),
    )
    .await?;
    tx.commit().await?;
    metrics::counter!("records_break_glass_reviews_total", "outcome" => outcome.as_str())
        .increment(1);
    tracing::info!(%grant_id, reviewer_id = %actor.user_id, outcome = outcome.as_str(), "break-glass grant reviewed");
    Ok(BreakGlassItem {
        review: Some(BreakGlassReview {
            outcome,
            note,
            reviewed_by: actor.user_id,
            reviewed_at,
        }),
        ..item
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccessLog {
    pub items: Vec<AccessLogEntry>,
    pub next_cursor: Option<String>,
}

/// Who accessed a patient's record, newest first (the patient, admins).
pub async fn access_log(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<AccessLog, Error> {
    let attempt = |outcome| {
        event(
            actor,
            patient_id,
            AuditAction::ReadAccessLog,
            vec![],
            outcome,
            false,
        )
    };
    if let Err(why) = may_read_access_log(actor, patient_id) {
        audit::record(&state.db, &attempt(Outcome::Denied(why))).await?;
        return Err(Error::Forbidden);
    }
    // A patient's own id always names a patient; an admin may ask about any id.
    if actor.role != Role::Patient && !care::patient_exists(&state.db, patient_id).await? {
        audit::record(&state.db, &attempt(Outcome::NotFound)).await?;
        return Err(Error::PatientNotFound);
    }
    let mut items = audit::for_patient(&state.db, patient_id, before, limit + 1).await?;
    let next_cursor = platform::page::next_page(&mut items, limit as usize, |e| e.seq.to_string());
    audit::record(&state.db, &attempt(Outcome::Allowed)).await?;
    Ok(AccessLog { items, next_cursor })
}

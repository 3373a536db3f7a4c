//! Opening stored versions (through the ciphertext cache) and reading them:
//! one entry, its history, a kind's list.

use std::future::Future;

use uuid::Uuid;

use crate::{
    audit::{self, AuditAction, Outcome},
    crypto::{self, CryptoError, VersionBinding},
    domain::{
        access::{Action, Actor, Decision},
        entries::{EntryData, Kind, Status},
    },
    error::Error,
    keys::KeyProvider,
    store::entries::{self as store, ListQuery, VersionRow},
    AppState,
};

use super::views::{EntryList, EntryView};
use super::{authorize, Attempt, Payload};

/// Why a stored version could not be opened.
pub(super) enum OpenError {
    /// Tampered, wrongly keyed or unreadable: never shown, always reported.
    Integrity {
        entry_id: Uuid,
        version: i32,
        why: String,
    },
    Unavailable(String),
}

/// Decrypt one stored version.
pub(super) async fn open(keys: &dyn KeyProvider, row: &VersionRow) -> Result<EntryView, OpenError> {
    let integrity = |why: String| OpenError::Integrity {
        entry_id: row.entry_id,
        version: row.version,
        why,
    };
    let kind = Kind::parse(&row.kind).ok_or_else(|| integrity("unknown kind".into()))?;
    let status = Status::parse(&row.status).ok_or_else(|| integrity("unknown status".into()))?;
    let binding = VersionBinding {
        patient_id: row.patient_id,
        entry_id: row.entry_id,
        version: row.version,
        kind: &row.kind,
        status: &row.status,
        author_id: row.author_id,
        created_at: row.created_at,
    };
    let plain = crypto::open(keys, &row.sealed(), &binding.aad())
        .await
        .map_err(|e| match e {
            CryptoError::Unavailable(why) => OpenError::Unavailable(why),
            other => integrity(other.to_string()),
        })?;
    // Decrypted and authenticated: a parse failure means a bug, not an attack,
    // but is still no reason to show anything. serde's message may quote the
    // content, so only its category is kept.
    let payload: Payload = serde_json::from_slice(&plain)
        .map_err(|e| integrity(format!("payload undecodable ({:?})", e.classify())))?;
    let data = EntryData::from_stored(kind, payload.data)
        .map_err(|e| integrity(format!("content undecodable ({:?})", e.classify())))?;
    Ok(EntryView {
        id: row.entry_id,
        kind,
        version: row.version,
        status,
        author_id: row.author_id,
        created_at: row.created_at,
        status_reason: payload.status_reason,
        data,
    })
}

async fn open_all(
    keys: &dyn KeyProvider,
    rows: &[VersionRow],
) -> Result<Vec<EntryView>, OpenError> {
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        views.push(open(keys, row).await?);
    }
    Ok(views)
}

/// Read rows through the cache and decrypt them. A cached copy that does not
/// open (e.g. wrapped under a master key since retired) is ignored and the
/// database asked; what the database holds must open, or it is an integrity error.
async fn read<F, Fut>(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    attempt: &Attempt,
    cache_id: (&str, String),
    load: F,
) -> Result<Vec<EntryView>, Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Vec<VersionRow>, sqlx::Error>>,
{
    let keys = state.keys.as_ref();
    let slot = state.cache.slot(patient_id, cache_id.0, &cache_id.1).await;
    if let Some(slot) = &slot {
        if let Some(rows) = state.cache.get::<Vec<VersionRow>>(slot).await {
            if rows.iter().all(|r| r.patient_id == patient_id) {
                match open_all(keys, &rows).await {
                    Ok(views) => return Ok(views),
                    Err(_) => {
                        metrics::counter!("records_cache_unopenable_total").increment(1);
                    }
                }
            }
        }
    }
    let rows = load().await?;
    match open_all(keys, &rows).await {
        Ok(views) => {
            if let Some(slot) = &slot {
                state.cache.put(slot, &rows).await;
            }
            Ok(views)
        }
        Err(OpenError::Unavailable(why)) => {
            tracing::warn!(%patient_id, error = %why, "record keys unavailable");
            Err(Error::KeysUnavailable)
        }
        Err(OpenError::Integrity {
            entry_id,
            version,
            why,
        }) => {
            let row = rows
                .iter()
                .find(|r| r.entry_id == entry_id && r.version == version);
            tracing::error!(
                %patient_id, %entry_id, version,
                data_key_id = ?row.map(|r| r.data_key_id),
                key_id = ?row.map(|r| r.key_id.as_str()),
                reason = %why,
                "stored record failed its integrity check"
            );
            metrics::counter!("records_integrity_errors_total").increment(1);
            let failed = Attempt {
                action: attempt.action,
                kind: attempt.kind,
                entry_ids: vec![entry_id],
            };
            audit::record(
                &state.db,
                &failed.event(actor, patient_id, Outcome::IntegrityError, false),
            )
            .await?;
            Err(Error::Integrity)
        }
    }
}

/// Audit a disclosed read (and publish it when break-glass allowed it).
async fn audit_read(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    attempt: Attempt,
    decision: Decision,
) -> Result<(), Error> {
    let break_glass = decision == Decision::AllowBreakGlass;
    audit::record(
        &state.db,
        &attempt.event(actor, patient_id, Outcome::Allowed, break_glass),
    )
    .await?;
    if break_glass {
        state.relay.wake();
    }
    Ok(())
}

/// An allowed read of an entry that does not exist: audited, nothing disclosed.
async fn not_found<T>(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    attempt: &Attempt,
) -> Result<T, Error> {
    audit::record(
        &state.db,
        &attempt.event(actor, patient_id, Outcome::NotFound, false),
    )
    .await?;
    Err(Error::EntryNotFound)
}

/// List parameters, checked.
pub struct ListParams {
    pub limit: i64,
    pub cursor: Option<Uuid>,
    pub include_entered_in_error: bool,
}

/// The latest version of each of a patient's entries of one kind, newest first.
pub async fn list(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    kind: Kind,
    p: ListParams,
) -> Result<EntryList, Error> {
    let attempt = Attempt::new(AuditAction::Read, kind, None);
    let decision = authorize(state, actor, patient_id, Action::Read, &attempt).await?;
    let q = ListQuery {
        patient_id,
        kind,
        include_entered_in_error: p.include_entered_in_error,
        before: p.cursor,
        limit: p.limit + 1,
    };
    let cache_id = format!(
        "{}:{}:{}:{}",
        kind.as_str(),
        q.include_entered_in_error,
        q.limit,
        q.before.map(|c| c.to_string()).unwrap_or_default()
    );
    let mut items = read(
        state,
        actor,
        patient_id,
        &attempt,
        ("list", cache_id),
        || store::list_latest(&state.db, &q),
    )
    .await?;
    let next_cursor = platform::page::next_page(&mut items, p.limit as usize, |v| v.id.to_string());
    let read = Attempt {
        entry_ids: items.iter().map(|v| v.id).collect(),
        ..attempt
    };
    audit_read(state, actor, patient_id, read, decision).await?;
    Ok(EntryList { items, next_cursor })
}

/// The latest version of one entry.
pub async fn get(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    kind: Kind,
    entry_id: Uuid,
) -> Result<EntryView, Error> {
    let attempt = Attempt::new(AuditAction::Read, kind, Some(entry_id));
    let decision = authorize(state, actor, patient_id, Action::Read, &attempt).await?;
    let cache_id = format!("{}:{entry_id}", kind.as_str());
    let found = read(
        state,
        actor,
        patient_id,
        &attempt,
        ("entry", cache_id),
        || async {
            Ok(store::latest(&state.db, patient_id, kind, entry_id)
                .await?
                .into_iter()
                .collect())
        },
    )
    .await?;
    let Some(view) = found.into_iter().next() else {
        return not_found(state, actor, patient_id, &attempt).await;
    };
    audit_read(state, actor, patient_id, attempt, decision).await?;
    Ok(view)
}

/// Every version of one entry, oldest first.
pub async fn history(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    kind: Kind,
    entry_id: Uuid,
) -> Result<EntryList, Error> {
    let attempt = Attempt::new(AuditAction::Read, kind, Some(entry_id));
    let decision = authorize(state, actor, patient_id, Action::Read, &attempt).await?;
    let cache_id = format!("{}:{entry_id}", kind.as_str());
    let items = read(
        state,
        actor,
        patient_id,
        &attempt,
        ("history", cache_id),
        || store::history(&state.db, patient_id, kind, entry_id),
    )
    .await?;
    if items.is_empty() {
        return not_found(state, actor, patient_id, &attempt).await;
    }
    audit_read(state, actor, patient_id, attempt, decision).await?;
    Ok(EntryList {
        items,
        next_cursor: None,
    })
}

//! Sealing and appending versions: a new entry, an amendment, entered in error.

use chrono::Utc;
use uuid::Uuid;

use crate::{
    audit::{self, AuditAction, Outcome},
    crypto::{self, now_micros, CryptoError, VersionBinding},
    domain::{
        access::{Action, Actor, Decision},
        entries::{EntryData, Kind, Note, Status},
    },
    error::Error,
    store::{
        care,
        entries::{self as store, InsertError, NewVersion},
    },
    AppState,
};

use super::read::{open, OpenError};
use super::views::EntryView;
use super::{authorize, Attempt, Payload};

/// Links to other records must point into this patient's record.
async fn check_links(state: &AppState, patient_id: Uuid, data: &EntryData) -> Result<(), Error> {
    match data {
        EntryData::Encounter(e)
            if !care::appointment_of_patient(&state.db, e.appointment_id, patient_id).await? =>
        {
            Err(Error::invalid(
                "appointment_id",
                "not an appointment of this patient",
            ))
        }
        EntryData::Note(Note {
            encounter_id: Some(encounter_id),
            ..
        }) if !store::encounter_exists(&state.db, patient_id, *encounter_id).await? => Err(
            Error::invalid("encounter_id", "not an encounter in this patient's record"),
        ),
        _ => Ok(()),
    }
}

/// One version to write.
struct Write<'a> {
    actor: Actor,
    decision: Decision,
    patient_id: Uuid,
    kind: Kind,
    entry_id: Uuid,
    status: Status,
    data: &'a EntryData,
    status_reason: Option<String>,
    action: AuditAction,
}

/// Encrypt and insert a version after `previous` (none for a new entry), with
/// its audit entry, in one transaction; then invalidate the patient's cache.
async fn write(
    state: &AppState,
    w: Write<'_>,
    previous: impl FnOnce(Option<(i32, String)>) -> Result<(), Error>,
) -> Result<EntryView, Error> {
    let mut tx = state.db.begin().await?;
    let latest = store::latest_version(&mut tx, w.patient_id, w.kind, w.entry_id).await?;
    let version = latest.as_ref().map_or(1, |(v, _)| v + 1);
    previous(latest)?;
    let created_at = now_micros();
    let payload = Payload {
        data: serde_json::to_value(w.data).map_err(|e| Error::Internal(e.to_string()))?,
        status_reason: w.status_reason.clone(),
    };
    let plaintext = serde_json::to_vec(&payload).map_err(|e| Error::Internal(e.to_string()))?;
    let binding = VersionBinding {
        patient_id: w.patient_id,
        entry_id: w.entry_id,
        version,
        kind: w.kind.as_str(),
        status: w.status.as_str(),
        author_id: w.actor.user_id,
        created_at,
    };
    let sealed = crypto::seal(state.keys.as_ref(), &plaintext, &binding.aad())
        .await
        .map_err(|e| match e {
            CryptoError::Unavailable(_) => Error::KeysUnavailable,
            other => Error::Internal(other.to_string()),
        })?;
    let new = NewVersion {
        entry_id: w.entry_id,
        version,
        patient_id: w.patient_id,
        kind: w.kind,
        status: w.status,
        author_id: w.actor.user_id,
        created_at,
        sealed,
    };
    store::insert(&mut tx, &new).await.map_err(|e| match e {
        InsertError::VersionTaken => Error::VersionConflict,
        InsertError::Db(e) => e.into(),
    })?;
    let break_glass = w.decision == Decision::AllowBreakGlass;
    let attempt = Attempt::new(w.action, w.kind, Some(w.entry_id));
    audit::append(
        &mut tx,
        &attempt.event(w.actor, w.patient_id, Outcome::Allowed, break_glass),
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate(w.patient_id).await;
    if break_glass {
        state.relay.wake();
    }
    metrics::counter!("records_versions_written_total", "kind" => w.kind.as_str()).increment(1);
    Ok(EntryView {
        id: w.entry_id,
        kind: w.kind,
        version,
        status: w.status,
        author_id: w.actor.user_id,
        created_at,
        status_reason: w.status_reason,
        data: w.data.clone(),
    })
}

/// A new entry (version 1).
pub async fn create(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    kind: Kind,
    body: serde_json::Value,
) -> Result<EntryView, Error> {
    let attempt = Attempt::new(AuditAction::Create, kind, None);
    let decision = authorize(state, actor, patient_id, Action::Write, &attempt).await?;
    let data = EntryData::parse(kind, body, Utc::now())?;
    check_links(state, patient_id, &data).await?;
    let w = Write {
        actor,
        decision,
        patient_id,
        kind,
        entry_id: Uuid::now_v7(),
        status: Status::Active,
        data: &data,
        status_reason: None,
        action: AuditAction::Create,
    };
    write(state, w, |_| Ok(())).await
}

/// A new version of an existing entry; `if_match`, when given, must be the latest version.
pub async fn amend(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    kind: Kind,
    entry_id: Uuid,
    body: serde_json::Value,
    if_match: Option<i32>,
) -> Result<EntryView, Error> {
    let attempt = Attempt::new(AuditAction::Amend, kind, Some(entry_id));
    let decision = authorize(state, actor, patient_id, Action::Write, &attempt).await?;
    let data = EntryData::parse(kind, body, Utc::now())?;
    check_links(state, patient_id, &data).await?;
    let w = Write {
        actor,
        decision,
        patient_id,
        kind,
        entry_id,
        status: Status::Active,
        data: &data,
        status_reason: None,
        action: AuditAction::Amend,
    };
    write(state, w, |latest| match latest {
        None => Err(Error::EntryNotFound),
        Some((_, status)) if status == Status::EnteredInError.as_str() => {
            Err(Error::EnteredInError)
        }
        Some((v, _)) if if_match.is_some_and(|m| m != v) => Err(Error::PreconditionFailed),
        Some(_) => Ok(()),
    })
    .await
}

/// Mark an entry entered in error: a new version with the same content, flagged.
pub async fn enter_in_error(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    kind: Kind,
    entry_id: Uuid,
    reason: String,
) -> Result<EntryView, Error> {
    let attempt = Attempt::new(AuditAction::EnterInError, kind, Some(entry_id));
    let decision = authorize(state, actor, patient_id, Action::Write, &attempt).await?;
    let reason = reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(Error::invalid("reason", "1 to 1000 characters"));
    }
    let row = store::latest(&state.db, patient_id, kind, entry_id)
        .await?
        .ok_or(Error::EntryNotFound)?;
    let current = match open(state.keys.as_ref(), &row).await {
        Ok(v) => v,
        Err(OpenError::Unavailable(_)) => return Err(Error::KeysUnavailable),
        Err(OpenError::Integrity { why, .. }) => {
            tracing::error!(%patient_id, %entry_id, version = row.version, data_key_id = %row.data_key_id, key_id = %row.key_id, reason = %why, "stored record failed its integrity check");
            metrics::counter!("records_integrity_errors_total").increment(1);
            audit::record(
                &state.db,
                &attempt.event(actor, patient_id, Outcome::IntegrityError, false),
            )
            .await?;
            return Err(Error::Integrity);
        }
    };
    let seen = row.version;
    let w = Write {
        actor,
        decision,
        patient_id,
        kind,
        entry_id,
        status: Status::EnteredInError,
        data: &current.data,
        status_reason: Some(reason),
        action: AuditAction::EnterInError,
    };
    write(state, w, |latest| match latest {
        None => Err(Error::EntryNotFound),
        Some((_, status)) if status == Status::EnteredInError.as_str() => {
            Err(Error::EnteredInError)
        }
        Some((v, _)) if v != seen => Err(Error::VersionConflict),
        Some(_) => Ok(()),
    })
    .await
}

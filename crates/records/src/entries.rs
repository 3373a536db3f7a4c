//! Reading and writing clinical entries: decide access with the pure domain,
//! audit every attempt, encrypt before anything touches storage, and serve
//! reads through the ciphertext cache.

use std::future::Future;

use chrono::{DateTime, Utc};
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    audit::{self, AuditAction, AuditEvent, Outcome},
    crypto::{self, now_micros, CryptoError, VersionBinding},
    domain::{
        access::{decide, Action, Actor, Decision},
        entries::{EntryData, Kind, Note, Status},
    },
    error::Error,
    keys::KeyProvider,
    store::{
        care,
        entries::{self as store, InsertError, ListQuery, NewVersion, VersionRow},
    },
    AppState,
};

/// One version of an entry as clients see it: the kind's fields plus who wrote
/// this version and when.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EntryView {
    pub id: Uuid,
    pub kind: Kind,
    pub version: i32,
    pub status: Status,
    /// Who wrote this version.
    pub author_id: Uuid,
    /// When this version was written.
    pub created_at: DateTime<Utc>,
    /// Why the entry was marked entered in error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    #[serde(flatten)]
    #[schema(schema_with = flattened_entry_data)]
    pub data: EntryData,
}

/// The kind's fields as they appear flattened into [`EntryView`]: one branch per
/// kind, told apart by `kind`, each without the request schemas'
/// `additionalProperties: false` (the view adds `id`, `version` and the rest).
fn flattened_entry_data() -> utoipa::openapi::schema::Schema {
    use utoipa::{
        openapi::{
            schema::{ObjectBuilder, OneOfBuilder, Schema, Type},
            RefOr,
        },
        PartialSchema,
    };

    use crate::domain::entries::{Allergy, Diagnosis, Encounter, Medication, Vitals};
    let branches: [(Kind, RefOr<Schema>); 6] = [
        (Kind::Encounter, Encounter::schema()),
        (Kind::Note, Note::schema()),
        (Kind::Diagnosis, Diagnosis::schema()),
        (Kind::Allergy, Allergy::schema()),
        (Kind::Medication, Medication::schema()),
        (Kind::Vitals, Vitals::schema()),
    ];
    let mut one_of = OneOfBuilder::new();
    for (kind, schema) in branches {
        let RefOr::T(Schema::Object(mut object)) = schema else {
            continue;
        };
        object.additional_properties = None;
        object.properties.insert(
            "kind".to_owned(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([kind.as_str()]))
                .into(),
        );
        object.required.push("kind".to_owned());
        one_of = one_of.item(Schema::Object(object));
    }
    Schema::OneOf(one_of.build())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryList {
    pub items: Vec<EntryView>,
    pub next_cursor: Option<String>,
}

/// What is encrypted for one version.
#[derive(Serialize, Deserialize)]
struct Payload {
    data: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_reason: Option<String>,
}

/// What an attempt was, for the audit log.
struct Attempt {
    action: AuditAction,
    kind: Option<Kind>,
    entry_ids: Vec<Uuid>,
}

impl Attempt {
    fn new(action: AuditAction, kind: Kind, entry_id: Option<Uuid>) -> Self {
        Self {
            action,
            kind: Some(kind),
            entry_ids: entry_id.into_iter().collect(),
        }
    }

    fn event(
        &self,
        actor: Actor,
        patient_id: Uuid,
        outcome: Outcome,
        break_glass: bool,
    ) -> AuditEvent {
        AuditEvent {
            actor,
            patient_id,
            action: self.action,
            kind: self.kind,
            entry_ids: self.entry_ids.clone(),
            outcome,
            break_glass,
        }
    }
}

/// Decide, and audit a refusal. Unknown patients are refused exactly like
/// known ones: no relationship or grant can exist for them.
async fn authorize(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    action: Action,
    attempt: &Attempt,
) -> Result<Decision, Error> {
    let (relationship, grant) = if actor.role == Role::Provider && actor.user_id != patient_id {
        care::access_facts(&state.db, actor.user_id, patient_id).await?
    } else {
        (None, None)
    };
    let decision = decide(actor, patient_id, relationship, grant, action, Utc::now());
    if let Decision::Deny(reason) = decision {
        audit::record(
            &state.db,
            &attempt.event(actor, patient_id, Outcome::Denied(reason), false),
        )
        .await?;
        tracing::info!(actor_id = %actor.user_id, role = actor.role.as_str(), %patient_id, reason = reason.as_str(), "record access denied");
        return Err(Error::Forbidden);
    }
    Ok(decision)
}

/// Why a stored version could not be opened.
enum OpenError {
    /// Tampered, wrongly keyed or unreadable: never shown, always reported.
    Integrity {
        entry_id: Uuid,
        version: i32,
        why: String,
    },
    Unavailable(String),
}

/// Decrypt one stored version.
async fn open(keys: &dyn KeyProvider, row: &VersionRow) -> Result<EntryView, OpenError> {
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

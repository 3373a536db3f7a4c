//! Break-glass grants and the patient-facing access log.

use platform::auth::Role;
use serde::Serialize;
use uuid::Uuid;

use crate::{
    audit::{self, AccessLogEntry, AuditAction, AuditEvent, Outcome},
    crypto::{self, break_glass_aad, now_micros, CryptoError},
    domain::access::{
        check_break_glass_reason, may_break_glass, may_read_access_log, Actor, BreakGlass,
    },
    error::Error,
    store::care,
    AppState,
};

/// A granted break-glass: the provider may read and write this patient's
/// record until `expires_at`, every access flagged in the audit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BreakGlassGrant {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub granted_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
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

/// Grant emergency access with a stated reason (stored encrypted).
pub async fn break_glass(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    reason: &str,
) -> Result<BreakGlassGrant, Error> {
    if let Err(why) = may_break_glass(actor, patient_id) {
        audit::record(
            &state.db,
            &event(
                actor,
                patient_id,
                AuditAction::BreakGlass,
                vec![],
                Outcome::Denied(why),
                false,
            ),
        )
        .await?;
        return Err(Error::Forbidden);
    }
    let reason = check_break_glass_reason(reason).map_err(|m| Error::invalid("reason", m))?;
    if !care::patient_exists(&state.db, patient_id).await? {
        audit::record(
            &state.db,
            &event(
                actor,
                patient_id,
                AuditAction::BreakGlass,
                vec![],
                Outcome::NotFound,
                false,
            ),
        )
        .await?;
        return Err(Error::PatientNotFound);
    }
    let granted_at = now_micros();
    let grant = BreakGlass {
        id: Uuid::now_v7(),
        provider_id: actor.user_id,
        patient_id,
        granted_at,
        expires_at: granted_at + state.break_glass,
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
        .map_err(|e| match e {
            CryptoError::Unavailable(_) => Error::KeysUnavailable,
            other => Error::Internal(other.to_string()),
        })?;
    let mut tx = state.db.begin().await?;
    care::insert_break_glass(&mut tx, &grant, &sealed).await?;
    audit::append(
        &mut tx,
        &event(
            actor,
            patient_id,
            AuditAction::BreakGlass,
            vec![grant.id],
            Outcome::Allowed,
            true,
        ),
    )
    .await?;
    tx.commit().await?;
    state.relay.wake();
    tracing::warn!(grant_id = %grant.id, provider_id = %actor.user_id, %patient_id, expires_at = %grant.expires_at, "break-glass access granted");
    Ok(BreakGlassGrant {
        id: grant.id,
        patient_id,
        provider_id: grant.provider_id,
        granted_at,
        expires_at: grant.expires_at,
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

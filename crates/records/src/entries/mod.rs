//! Reading and writing clinical entries: decide access with the pure domain,
//! audit every attempt, encrypt before anything touches storage, and serve
//! reads through the ciphertext cache.
//!
//! `views` are what clients see, `read` opens (decrypts) and lists versions,
//! `write` seals and appends them; deciding and auditing an attempt is here.

mod read;
mod views;
mod write;

pub use read::{get, history, list, ListParams};
pub use views::{EntryList, EntryView};
pub use write::{amend, create, enter_in_error};

use chrono::Utc;
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    access::care_and_grant,
    audit::{self, AuditAction, AuditEvent, Outcome},
    domain::{
        access::{decide, Action, Actor, CareAccess, Decision, DenyReason},
        entries::Kind,
    },
    error::Error,
    AppState,
};

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
/// known ones: no appointment or grant can exist for them.
async fn authorize(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    action: Action,
    attempt: &Attempt,
) -> Result<Decision, Error> {
    let now = Utc::now();
    let (care, grant) = if actor.role == Role::Provider && actor.user_id != patient_id {
        care_and_grant(state, actor.user_id, patient_id, now).await?
    } else {
        (CareAccess::None, None)
    };
    let decision = decide(actor, patient_id, care, grant, action, now);
    if let Decision::Deny(reason) = decision {
        audit::record(
            &state.db,
            &attempt.event(actor, patient_id, Outcome::Denied(reason), false),
        )
        .await?;
        tracing::info!(actor_id = %actor.user_id, role = actor.role.as_str(), %patient_id, reason = reason.as_str(), "record access denied");
        return Err(match reason {
            // The grant shows the patient exists: say why writing is refused.
            DenyReason::BreakGlassReadOnly => Error::CareRelationshipRequired,
            _ => Error::Forbidden,
        });
    }
    Ok(decision)
}

//! Self-service links from emails: describe what a link would do and what it
//! would cost, and cancel or reschedule by it, with the same policy and fees
//! as the API. The token is the only authority (no session, no sign-in): it
//! acts as the appointment's patient, on that one appointment, for its one
//! action, once, and only while the appointment is as it was when the link
//! was issued and has not started.

use chrono::{DateTime, Utc};
use contracts::scheduling::AppointmentLinksIssued;
use platform::{auth::Role, events::Envelope};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    appointments::{self, AppointmentDetail, MoveRequest},
    calendar,
    domain::{
        access::Actor,
        cancellation,
        links::{self, Link, LinkAction, Spent},
        slots::Slot,
        types::Money,
    },
    error::Error,
    store::{appointments as store, links as uses, readmodel, types},
    AppState,
};

/// `appointment.links_issued` for `row` as it now is: both links of its
/// version, expiring at its start.
pub fn issued(state: &AppState, row: &store::AppointmentRow) -> Result<Envelope, Error> {
    let (cancel_token, reschedule_token) =
        links::issue(&state.links, row.id, row.version, row.start);
    let data = AppointmentLinksIssued {
        appointment_id: row.id,
        patient_id: row.patient_id,
        version: row.version,
        cancel_token,
        reschedule_token,
        expires_at: row.start,
    };
    Envelope::of::<AppointmentLinksIssued>(&data).map_err(|e| Error::Internal(e.to_string()))
}

/// What a link would do, for the portal's confirmation page.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkPreview {
    pub action: LinkAction,
    /// The link works until then (the appointment's start).
    pub expires_at: DateTime<Utc>,
    pub appointment: AppointmentDetail,
    pub appointment_type_name: String,
    pub provider_name: String,
    /// The provider's IANA time zone, for showing local times.
    pub time_zone: String,
    /// Done now, the action counts as late (inside the cancellation window).
    pub late: bool,
    /// What it would cost now (`null`: nothing).
    #[schema(required = true)]
    pub fee: Option<Money>,
}

/// The genuine, unexpired link in `token` (an altered or foreign token is
/// not found; an expired one is gone).
fn open(state: &AppState, token: &str, now: DateTime<Utc>) -> Result<Link, Error> {
    let link = links::open(&state.links, token).map_err(|_| Error::LinkNotFound)?;
    if now >= link.expires_at {
        return Err(Error::LinkExpired);
    }
    Ok(link)
}

/// The patient the link acts as.
fn as_patient(patient_id: Uuid) -> Actor {
    Actor::new(patient_id, Role::Patient)
}

/// Whether a genuine link still works for the appointment at `version`.
pub fn check(link: &Link, version: i32, now: DateTime<Utc>) -> Result<(), Error> {
    links::still_valid(link, version, now).map_err(|e| match e {
        Spent::Expired | Spent::Superseded => Error::LinkExpired,
    })
}

/// `GET /api/v1/appointment-links/{token}`.
pub async fn preview(state: &AppState, token: &str) -> Result<LinkPreview, Error> {
    let now = state.clock.now();
    let link = open(state, token, now)?;
    let row = usable(state, &link, now).await?;
    let found = types::in_zone(&state.db, row.appointment_type_id, row.patient_id)
        .await?
        .ok_or(Error::TypeNotFound)?;
    let provider = readmodel::provider(&state.db, row.provider_id)
        .await?
        .ok_or(Error::ProviderNotFound)?;
    let policy = found.t.policy(state.max_fee);
    let outcome = match link.action {
        LinkAction::Cancel => cancellation::assess(row.start, now, &policy, Role::Patient),
        LinkAction::Reschedule => {
            cancellation::assess_reschedule(row.start, now, &policy, Role::Patient, false)
        }
    };
    Ok(LinkPreview {
        action: link.action,
        expires_at: link.expires_at,
        appointment: AppointmentDetail::of(&row, &found.t, state),
        appointment_type_name: found.t.name.clone(),
        provider_name: provider.name,
        time_zone: provider.time_zone,
        late: outcome.late,
        fee: outcome.fee,
    })
}

/// `POST /api/v1/appointment-links/{token}/cancel`: as the patient cancelling.
pub async fn cancel(
    state: &AppState,
    token: &str,
    reason: &str,
) -> Result<AppointmentDetail, Error> {
    let now = state.clock.now();
    let link = open(state, token, now)?;
    if link.action != LinkAction::Cancel {
        return Err(Error::LinkNotFound);
    }
    let row = usable(state, &link, now).await?;
    appointments::cancel_by(
        state,
        as_patient(row.patient_id),
        link.appointment_id,
        reason,
        Some(&link),
    )
    .await
}

/// `POST /api/v1/appointment-links/{token}/reschedule`: as the patient moving
/// it; the answer is the API's (`late`, `fee`), and new links are issued.
pub async fn reschedule(
    state: &AppState,
    token: &str,
    start: DateTime<Utc>,
) -> Result<serde_json::Value, Error> {
    let now = state.clock.now();
    let link = open(state, token, now)?;
    if link.action != LinkAction::Reschedule {
        return Err(Error::LinkNotFound);
    }
    let row = usable(state, &link, now).await?;
    let request = MoveRequest {
        start,
        waive_fee_reason: None,
    };
    let (_, body) = appointments::reschedule_by(
        state,
        as_patient(row.patient_id),
        link.appointment_id,
        request,
        None,
        Some(&link),
    )
    .await?;
    Ok(body)
}

/// `GET /api/v1/appointment-links/{token}/slots`: the free times a
/// reschedule link could move its appointment to, so that whoever holds the
/// link picks one without signing in. Exactly the provider slot search
/// (same slots, same bounded range) for the appointment's provider and type;
/// only a reschedule link that still works opens it, and it spends nothing.
pub async fn free_slots(
    state: &AppState,
    token: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Slot>, Error> {
    let now = state.clock.now();
    let link = open(state, token, now)?;
    if link.action != LinkAction::Reschedule {
        return Err(Error::LinkNotFound);
    }
    let row = usable(state, &link, now).await?;
    calendar::free_slots(state, row.provider_id, row.appointment_type_id, from, to).await
}

/// The link's appointment, if the link still works for it as it is now (for
/// its version, unused). Asked before anything else, so a spent link is
/// `link-expired` whatever else the request gets wrong; the change's
/// transaction asks again ([`spend`]), which is what decides a race.
async fn usable(
    state: &AppState,
    link: &Link,
    now: DateTime<Utc>,
) -> Result<store::AppointmentRow, Error> {
    let row = store::get(&state.db, link.appointment_id)
        .await?
        .ok_or(Error::LinkNotFound)?;
    check(link, row.version, now)?;
    if uses::used(&state.db, row.id, row.version, link.action).await? {
        return Err(Error::LinkExpired);
    }
    Ok(row)
}

/// In the change's transaction, with the appointment locked: the link is for
/// this version and not used yet; record the use.
pub async fn spend(
    conn: &mut sqlx::PgConnection,
    link: &Link,
    version: i32,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    check(link, version, now)?;
    if !uses::record_use(conn, link.appointment_id, version, link.action).await? {
        return Err(Error::LinkExpired);
    }
    Ok(())
}

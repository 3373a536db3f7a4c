//! Holding the slot someone picked while they confirm, for the patients'
//! booking pages and the front desk's alike: picking a time holds it (the
//! API keeps it for them for a few minutes), the confirmation page says until
//! when, confirming books it with the hold's id, and choosing another time
//! lets it go. The session remembers its unconfirmed holds by the slot
//! button's one-time key, so pressing a button twice opens the same hold, and
//! picking another time for the same patient lets the earlier one go.

use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    api::{
        models::{AppointmentType, Hold, HoldRequest, Provider},
        ApiError, ApiRequest,
    },
    domain::{
        hold::{self, HoldState, HoldTimer},
        time::{self, When, Zones},
    },
    session::{Flash, PendingHold},
    web::{
        patient::{booking::WeekOf, zone_of, Directory, TypeView},
        see_other, CallError, Ctx, PageError,
    },
};

/// A slot button's form: the time picked and the button's one-time key.
#[derive(Deserialize)]
pub struct SlotChoice {
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub idempotency_key: Uuid,
    /// The front desk's patient; patients hold for themselves.
    #[serde(default)]
    pub patient_id: Option<Uuid>,
}

/// Hold the chosen slot for `patient_id` and remember it in the session; a
/// second press of the same button gives the first hold.
pub async fn hold_slot(
    ctx: &mut Ctx,
    choice: &SlotChoice,
    patient_id: Uuid,
) -> Result<Uuid, CallError> {
    if let Some(known) = remembered(ctx, choice.idempotency_key).await? {
        return Ok(known);
    }
    let earlier = {
        let mut taken = Vec::new();
        if let Some(mut data) = ctx.state.sessions.load(&ctx.id).await? {
            taken = data.take_holds_of(patient_id);
            ctx.state.sessions.save(&ctx.id, &data).await?;
        }
        taken
    };
    for id in earlier {
        // Lapsed, released or booked meanwhile: nothing left to let go.
        let _ = release(ctx, id).await;
    }
    let req = ApiRequest::post(
        "/api/v1/holds",
        &HoldRequest {
            provider_id: choice.provider_id,
            appointment_type_id: choice.appointment_type_id,
            start: choice.start,
            patient_id: choice.patient_id,
        },
    );
    match ctx.call::<Hold>(req).await {
        Ok(hold) => {
            if let Some(mut data) = ctx.state.sessions.load(&ctx.id).await? {
                data.remember_hold(PendingHold {
                    key: choice.idempotency_key,
                    patient_id,
                    hold_id: hold.id,
                });
                ctx.state.sessions.save(&ctx.id, &data).await?;
            }
            Ok(hold.id)
        }
        // A double press: the first press may have held it meanwhile.
        Err(CallError::Api(e)) if e.status().is_some_and(|s| s.as_u16() == 409) => {
            match remembered(ctx, choice.idempotency_key).await? {
                Some(known) => Ok(known),
                None => Err(CallError::Api(e)),
            }
        }
        Err(e) => Err(e),
    }
}

/// The hold this session made with the button `key`, as stored now.
async fn remembered(ctx: &Ctx, key: Uuid) -> Result<Option<Uuid>, CallError> {
    Ok(ctx
        .state
        .sessions
        .load(&ctx.id)
        .await?
        .and_then(|d| d.hold_for_key(key)))
}

/// Let the hold go (and forget it). One that lapsed or was let go already is
/// simply gone; one that was booked answers `hold-converted`.
pub async fn release(ctx: &mut Ctx, id: Uuid) -> Result<(), CallError> {
    let result = ctx
        .call_for_effect(ApiRequest::delete(format!("/api/v1/holds/{id}")))
        .await;
    forget(ctx, id).await?;
    match result {
        Err(CallError::Api(e)) if e.status().is_some_and(|s| s.as_u16() == 404) => Ok(()),
        other => other,
    }
}

/// "Choose another time": let hold `id` go and answer where to go next: the
/// appointment (`{appointment_page}/{id}`) when it was booked meanwhile, else
/// the week of free times `week_page` names for it, saying the time is free.
pub async fn release_to(
    ctx: &mut Ctx,
    id: Uuid,
    appointment_page: &str,
    week_page: impl FnOnce(&Hold) -> String,
) -> Result<Response, PageError> {
    let hold: Hold = ctx.get(format!("/api/v1/holds/{id}")).await?;
    match release(ctx, id).await {
        Ok(()) => {}
        Err(CallError::Api(e)) if e.code() == Some("hold-converted") => {
            return Ok(see_other(&format!("{appointment_page}/{id}")));
        }
        Err(e) => return Err(e.into()),
    }
    let provider = Directory::default()
        .provider(ctx, hold.provider_id)
        .await?
        .ok_or(PageError::NotFound)?;
    ctx.flash(Flash::info("The time you held is free for others again."))
        .await?;
    let week = WeekOf::Slot(hold.start)
        .param(&provider)
        .unwrap_or_default();
    Ok(see_other(&format!("{}?week={week}", week_page(&hold))))
}

/// Forget a hold that was confirmed or let go.
pub async fn forget(ctx: &Ctx, id: Uuid) -> Result<(), CallError> {
    if let Some(mut data) = ctx.state.sessions.load(&ctx.id).await? {
        if data.holds.iter().any(|h| h.hold_id == id) {
            data.forget_hold(id);
            ctx.state.sessions.save(&ctx.id, &data).await?;
        }
    }
    Ok(())
}

/// Whether the API refused because the hold is over (lapsed, let go, gone).
pub fn hold_ended(e: &ApiError) -> bool {
    matches!(e.code(), Some("hold-expired" | "hold-not-found"))
}

/// What the confirmation page shows about a live hold.
#[derive(Serialize)]
pub(crate) struct HoldView {
    pub id: Uuid,
    pub when: When,
    /// RFC 3339 of the start, sent back when confirming.
    pub start: String,
    pub timer: HoldTimer,
    pub provider_id: Uuid,
    pub provider: String,
    pub kind: TypeView,
    /// A fresh Idempotency-Key for the confirm button.
    pub key: Uuid,
    /// Another for booking it as a series (a key belongs to one request).
    pub series_key: Uuid,
}

impl HoldView {
    pub fn of(
        hold: &Hold,
        provider: &Provider,
        kind: &AppointmentType,
        viewer: Option<chrono_tz::Tz>,
        now: DateTime<Utc>,
    ) -> Self {
        let zone = zone_of(provider);
        Self {
            id: hold.id,
            when: time::when(hold.start, hold.end, Zones::new(zone, viewer)),
            start: hold
                .start
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            // On the viewer's own clock: it is their minutes that run out.
            timer: hold::timer(hold.expires_at, now, viewer.unwrap_or(zone)),
            provider_id: provider.id,
            provider: provider.name.clone(),
            kind: TypeView::from(kind),
            key: Uuid::new_v4(),
            series_key: Uuid::new_v4(),
        }
    }
}

/// Where the hold stands at `now`.
pub fn state_of(hold: &Hold, now: DateTime<Utc>) -> HoldState {
    hold::state(hold.status, hold.expires_at, now)
}

/// What the slot list says when the hold ended before it was confirmed.
pub fn ended_message(hold: &Hold, provider: &Provider) -> String {
    format!(
        "The hold on {} ended before it was confirmed, so the time was offered to others again. Please pick a time again.",
        time::date_time(hold.start, zone_of(provider))
    )
}

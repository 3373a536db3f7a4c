//! Self-service links: anonymous, the token is the authority.

use axum::extract::State;
use chrono::{DateTime, Utc};
use platform::{
    extract::{Json, Path, Query},
    problem::ProblemBody,
};
use serde::{Deserialize, Serialize};

use super::calendar::SlotList;
use crate::{
    appointments::{AppointmentDetail, Rescheduled},
    error::Error,
    links::{self as app, LinkPreview},
    AppState,
};

/// What the link would do to which appointment, and what it would cost now
/// (the portal's confirmation page). No sign-in: the token is the authority.
#[utoipa::path(get, path = "/api/v1/appointment-links/{token}", tag = "scheduling",
    responses((status = 200, body = LinkPreview),
        (status = 404, description = "`link-not-found`: not a genuine link", body = ProblemBody),
        (status = 410, description = "`link-expired`: used, past the start, or the appointment changed", body = ProblemBody)))]
pub async fn preview(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<LinkPreview>, Error> {
    app::preview(&state, &token).await.map(Json)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkSlotParams {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The free times a reschedule link could move its appointment to, in
/// `[from, to)` (at most 31 days): the provider slot search for the
/// appointment's provider and type, without sign-in. Only a reschedule link
/// that still works; it spends nothing.
#[utoipa::path(get, path = "/api/v1/appointment-links/{token}/slots", tag = "scheduling", params(LinkSlotParams),
    responses((status = 200, body = SlotList),
        (status = 404, description = "`link-not-found`: not a genuine reschedule link", body = ProblemBody),
        (status = 410, description = "`link-expired`: used, past the start, or the appointment changed", body = ProblemBody),
        (status = 422, description = "`validation-error`: the range", body = ProblemBody)))]
pub async fn slots(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(p): Query<LinkSlotParams>,
) -> Result<Json<SlotList>, Error> {
    let items = app::free_slots(&state, &token, p.from, p.to).await?;
    Ok(Json(SlotList {
        items,
        next_cursor: None,
    }))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkCancelRequest {
    #[serde(default)]
    pub reason: String,
}

/// Cancel by a cancel link, as the patient would (late cancellations owe the
/// type's fee). Works once.
#[utoipa::path(post, path = "/api/v1/appointment-links/{token}/cancel", tag = "scheduling", request_body = LinkCancelRequest,
    responses((status = 200, body = AppointmentDetail),
        (status = 404, description = "`link-not-found`: not a genuine cancel link", body = ProblemBody),
        (status = 409, body = ProblemBody),
        (status = 410, description = "`link-expired`", body = ProblemBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<LinkCancelRequest>,
) -> Result<Json<AppointmentDetail>, Error> {
    app::cancel(&state, &token, &body.reason).await.map(Json)
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRescheduleRequest {
    pub start: DateTime<Utc>,
}

/// Move to another free slot by a reschedule link, as the patient would
/// (inside the cancellation window the move owes the late fee). Works once;
/// the moved appointment gets new links.
#[utoipa::path(post, path = "/api/v1/appointment-links/{token}/reschedule", tag = "scheduling", request_body = LinkRescheduleRequest,
    responses((status = 200, body = Rescheduled),
        (status = 404, description = "`link-not-found`: not a genuine reschedule link", body = ProblemBody),
        (status = 409, description = "`slot-taken`, `patient-double-booked`", body = ProblemBody),
        (status = 410, description = "`link-expired`", body = ProblemBody),
        (status = 422, description = "a booking rule", body = ProblemBody)))]
pub async fn reschedule(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<LinkRescheduleRequest>,
) -> Result<Json<serde_json::Value>, Error> {
    app::reschedule(&state, &token, body.start).await.map(Json)
}

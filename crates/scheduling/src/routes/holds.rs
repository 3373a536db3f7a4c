use axum::{extract::State, http::StatusCode, response::IntoResponse};
use chrono::{DateTime, Utc};
use platform::{
    auth::AuthUser,
    extract::{Json, Path},
    problem::ProblemBody,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::actor;
use crate::{
    error::Error,
    holds::{self as app, Hold, HoldRequest},
    AppState,
};

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    /// Staff hold for a patient; patients hold for themselves and may omit it.
    #[serde(default)]
    pub patient_id: Option<Uuid>,
}

/// Hold a free slot while the patient confirms (`SCHEDULING_HOLD_MINUTES`,
/// default 10): nobody else can book or hold it meanwhile, and booking it
/// with `hold_id` converts the hold. It lapses by itself at `expires_at`.
/// The booking rules apply as to a booking; a patient keeps at most 3 holds.
#[utoipa::path(post, path = "/api/v1/holds", tag = "scheduling", request_body = HoldBody, security(("bearer" = [])),
    responses((status = 201, body = Hold), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, description = "`slot-taken`, `patient-double-booked`, `hold-limit-reached`", body = ProblemBody),
        (status = 422, description = "a booking rule, or an invalid body", body = ProblemBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<HoldBody>,
) -> Result<impl IntoResponse, Error> {
    let actor = actor(&user);
    let request = HoldRequest {
        provider_id: body.provider_id,
        appointment_type_id: body.appointment_type_id,
        start: body.start,
        patient_id: body.patient_id.unwrap_or(actor.user_id),
    };
    let hold = app::create(&state, actor, request).await?;
    Ok((StatusCode::CREATED, Json(hold)))
}

/// A hold and what became of it (`status`), for the confirmation countdown.
#[utoipa::path(get, path = "/api/v1/holds/{id}", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = Hold), (status = 404, body = ProblemBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Hold>, Error> {
    app::get(&state, actor(&user), id).await.map(Json)
}

/// Give the slot up (its patient, staff); a hold that lapsed or was released
/// already is simply gone. Releasing a waitlist offer's hold declines it.
#[utoipa::path(delete, path = "/api/v1/holds/{id}", tag = "scheduling", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ProblemBody),
        (status = 409, description = "`hold-converted`: it was booked; cancel the appointment instead", body = ProblemBody)))]
pub async fn release(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Error> {
    app::release(&state, actor(&user), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

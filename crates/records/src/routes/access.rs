use axum::{extract::State, http::StatusCode, response::IntoResponse};
use platform::{
    auth::AuthUser,
    extract::{Json, Path, Query},
    problem::ProblemBody,
};
use serde::Deserialize;
use uuid::Uuid;

use super::actor;
use crate::{
    access::{self as app, AccessLog, BreakGlassGrant},
    error::Error,
    AppState,
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// The emergency, in a few words (at least 15 characters; stored encrypted).
    pub reason: String,
}

/// Emergency access for a provider without a care relationship: time-limited,
/// and every access under it is flagged in the audit and published.
#[utoipa::path(post, path = "/api/v1/patients/{id}/records/break-glass", operation_id = "break_glass", tag = "records", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")),
    request_body = BreakGlassRequest,
    responses((status = 201, body = BreakGlassGrant), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn break_glass(
    State(state): State<AppState>,
    user: AuthUser,
    Path(patient_id): Path<Uuid>,
    Json(body): Json<BreakGlassRequest>,
) -> Result<impl IntoResponse, Error> {
    let grant = app::break_glass(&state, actor(&user), patient_id, &body.reason).await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Who accessed the record, what and when, newest first, break-glass flagged
/// (the patient themselves, admins).
#[utoipa::path(get, path = "/api/v1/patients/{id}/records/access-log", operation_id = "record_access_log", tag = "records", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id"), AccessLogQuery),
    responses((status = 200, body = AccessLog), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn access_log(
    State(state): State<AppState>,
    user: AuthUser,
    Path(patient_id): Path<Uuid>,
    Query(q): Query<AccessLogQuery>,
) -> Result<Json<AccessLog>, Error> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("limit", "between 1 and 100"));
    }
    let before = q
        .cursor
        .map(|c| c.parse::<i64>())
        .transpose()
        .map_err(|_| Error::invalid("cursor", "not a cursor from a previous page"))?;
    app::access_log(&state, actor(&user), patient_id, before, limit)
        .await
        .map(Json)
}

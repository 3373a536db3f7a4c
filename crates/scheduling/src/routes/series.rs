use axum::{extract::State, http::HeaderMap, response::IntoResponse};
use chrono::{DateTime, NaiveDate, Utc};
use platform::idempotency::IdempotencyKey;
use platform::{
    auth::AuthUser,
    extract::{Json, Path},
    problem::ProblemBody,
};
use serde::Deserialize;
use uuid::Uuid;

use super::actor;
use crate::{
    domain::series::{End, Recurrence},
    error::Error,
    series::{self as app, Series, SeriesRequest},
    AppState,
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeriesBody {
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub patient_id: Uuid,
    /// The first occurrence; the others keep its wall-clock time in the
    /// provider's zone.
    pub first_start: DateTime<Utc>,
    /// 1 (weekly) to 52.
    pub every_weeks: u32,
    /// How many occurrences (1 to 52); give this or `until`.
    #[serde(default)]
    pub count: Option<u32>,
    /// The last day an occurrence may fall on (the provider's zone).
    #[serde(default)]
    pub until: Option<NaiveDate>,
    /// Refuse the whole series (409 `series-conflicts`) if any occurrence
    /// cannot be booked.
    #[serde(default)]
    pub all_or_nothing: bool,
}

/// Book a recurring series for a patient (staff, or the provider for their
/// own calendar). Every occurrence is booked as a single booking would be,
/// with its own confirmation and calendar file; `occurrences` gives each one's
/// appointment or the problem that booking got. With `all_or_nothing`, one
/// refused occurrence refuses all (409 `series-conflicts`, listing them).
#[utoipa::path(post, path = "/api/v1/appointment-series", tag = "scheduling", request_body = SeriesBody, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response")),
    responses((status = 201, body = Series), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, description = "`series-conflicts` (with `occurrences`)", body = ProblemBody),
        (status = 422, description = "an invalid body: `every_weeks`, `count` or `until`", body = ProblemBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(body): Json<SeriesBody>,
) -> Result<impl IntoResponse, Error> {
    let canonical = format!(
        "series|{}|{}|{}|{}|{}|{:?}|{:?}|{}",
        body.provider_id,
        body.appointment_type_id,
        body.patient_id,
        body.first_start.timestamp_micros(),
        body.every_weeks,
        body.count,
        body.until,
        body.all_or_nothing
    );
    let key = IdempotencyKey::from_headers(&headers, &canonical)
        .map_err(|_| Error::invalid("Idempotency-Key", "1 to 200 visible ASCII characters"))?;
    let end = match (body.count, body.until) {
        (Some(n), None) => End::Count(n),
        (None, Some(until)) => End::Until(until),
        _ => {
            return Err(Error::invalid(
                "count",
                "give exactly one of count and until",
            ))
        }
    };
    let request = SeriesRequest {
        provider_id: body.provider_id,
        appointment_type_id: body.appointment_type_id,
        patient_id: body.patient_id,
        recurrence: Recurrence {
            first_start: body.first_start,
            every_weeks: body.every_weeks,
            end,
        },
        all_or_nothing: body.all_or_nothing,
    };
    let (status, series) = app::create(&state, actor(&user), request, key).await?;
    Ok((status, Json(series)))
}

/// A series and each occurrence as it is now.
#[utoipa::path(get, path = "/api/v1/appointment-series/{id}", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = Series), (status = 404, body = ProblemBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Series>, Error> {
    Ok(Json(app::get(&state, actor(&user), id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelSeriesBody {
    /// The first occurrence to cancel (an appointment id of the series);
    /// default: every occurrence still to come.
    #[serde(default)]
    pub from: Option<Uuid>,
    #[serde(default)]
    pub reason: String,
}

/// Cancel this occurrence and all following: each booked one from `from` on
/// is cancelled as `POST /api/v1/appointments/{id}/cancel` would (the patient
/// is told, the cancellation policy applies). Cancel a single occurrence with
/// that endpoint.
#[utoipa::path(post, path = "/api/v1/appointment-series/{id}/cancel", tag = "scheduling", request_body = CancelSeriesBody, security(("bearer" = [])),
    responses((status = 200, body = Series), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 422, body = ProblemBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<CancelSeriesBody>,
) -> Result<Json<Series>, Error> {
    let series = app::cancel_following(&state, actor(&user), id, body.from, &body.reason).await?;
    Ok(Json(series))
}

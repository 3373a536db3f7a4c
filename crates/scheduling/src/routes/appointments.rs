use axum::{extract::State, http::HeaderMap, response::IntoResponse};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use platform::idempotency::IdempotencyKey;
use platform::{
    auth::AuthUser,
    extract::{Json, Path, Query},
    problem::ProblemBody,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::actor;
use crate::{
    appointments::{self as app, Appointment, BookingRequest},
    domain::lifecycle::{Action, Status},
    error::Error,
    store::appointments::ListFilter,
    AppState,
};

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookRequest {
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    /// Staff book for a patient; patients book for themselves and may omit it.
    #[serde(default)]
    pub patient_id: Option<Uuid>,
}

fn idempotency_key(
    headers: &HeaderMap,
    patient_id: Uuid,
    body: &BookRequest,
) -> Result<Option<IdempotencyKey>, Error> {
    let canonical = format!(
        "{}|{}|{}|{}",
        body.provider_id,
        body.appointment_type_id,
        body.start.timestamp_micros(),
        patient_id
    );
    IdempotencyKey::from_headers(headers, &canonical)
        .map_err(|_| Error::invalid("Idempotency-Key", "1 to 200 visible ASCII characters"))
}

/// Book an appointment. Send an `Idempotency-Key` header to make retries safe.
#[utoipa::path(post, path = "/api/v1/appointments", tag = "scheduling", request_body = BookRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response")),
    responses((status = 201, body = Appointment), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn book(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(body): Json<BookRequest>,
) -> Result<impl IntoResponse, Error> {
    let actor = actor(&user);
    let patient_id = body.patient_id.unwrap_or(actor.user_id);
    let key = idempotency_key(&headers, patient_id, &body)?;
    let request = BookingRequest {
        provider_id: body.provider_id,
        appointment_type_id: body.appointment_type_id,
        start: body.start,
        patient_id,
    };
    let (status, body) = app::book(&state, actor, request, key).await?;
    Ok((status, Json(body)))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    pub status: Option<Status>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub provider_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    /// 1–100, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AppointmentList {
    pub items: Vec<Appointment>,
    pub next_cursor: Option<String>,
}

fn encode_cursor(a: &Appointment) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", a.start.timestamp_micros(), a.id))
}

fn decode_cursor(c: &str) -> Result<(DateTime<Utc>, Uuid), Error> {
    let bad = || Error::invalid("cursor", "not a cursor from a previous page");
    let raw =
        String::from_utf8(URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?).map_err(|_| bad())?;
    let (micros, id) = raw.split_once('|').ok_or_else(bad)?;
    let start =
        DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok((start, id.parse().map_err(|_| bad())?))
}

/// Appointments the caller may see: patients their own, providers their schedule, staff all.
#[utoipa::path(get, path = "/api/v1/appointments", tag = "scheduling", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = AppointmentList)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(p): Query<ListParams>,
) -> Result<Json<AppointmentList>, Error> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("limit", "between 1 and 100"));
    }
    let mut filter = ListFilter {
        patient_id: p.patient_id,
        provider_id: p.provider_id,
        status: p.status,
        from: p.from,
        to: p.to,
        after: p.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: limit + 1,
    };
    app::scope(actor(&user), &mut filter);
    let rows = crate::store::appointments::list(&state.db, &filter).await?;
    let mut items: Vec<Appointment> = rows.iter().map(Appointment::from).collect();
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(AppointmentList { items, next_cursor }))
}

/// One appointment (404 when it is not the caller's to see).
#[utoipa::path(get, path = "/api/v1/appointments/{id}", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = Appointment), (status = 404, body = ProblemBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Appointment>, Error> {
    app::get(&state, actor(&user), id).await.map(Json)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[serde(default)]
    pub reason: String,
}

/// Cancel (patient owner, the provider, staff); late patient cancellations owe the type's fee.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/cancel", tag = "scheduling", request_body = CancelRequest, security(("bearer" = [])),
    responses((status = 200, body = Appointment), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<CancelRequest>,
) -> Result<Json<Appointment>, Error> {
    app::cancel(&state, actor(&user), id, &body.reason)
        .await
        .map(Json)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    pub start: DateTime<Utc>,
}

/// Move to another free slot: same id, history kept.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/reschedule", tag = "scheduling", request_body = RescheduleRequest, security(("bearer" = [])),
    responses((status = 200, body = Appointment), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn reschedule(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<RescheduleRequest>,
) -> Result<Json<Appointment>, Error> {
    app::reschedule(&state, actor(&user), id, body.start)
        .await
        .map(Json)
}

/// The patient arrived (provider, staff).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/check-in", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = Appointment), (status = 409, body = ProblemBody)))]
pub async fn check_in(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Appointment>, Error> {
    app::record_visit(&state, actor(&user), id, Action::CheckIn)
        .await
        .map(Json)
}

/// The visit is over (provider, staff).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/complete", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = Appointment), (status = 409, body = ProblemBody)))]
pub async fn complete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Appointment>, Error> {
    app::record_visit(&state, actor(&user), id, Action::Complete)
        .await
        .map(Json)
}

/// The patient did not come (provider, staff).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/no-show", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = Appointment), (status = 409, body = ProblemBody)))]
pub async fn no_show(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Appointment>, Error> {
    app::record_visit(&state, actor(&user), id, Action::MarkNoShow)
        .await
        .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let a = Appointment {
            id: Uuid::now_v7(),
            patient_id: Uuid::now_v7(),
            provider_id: Uuid::now_v7(),
            appointment_type_id: Uuid::now_v7(),
            start: "2026-05-01T09:00:00Z".parse().unwrap(),
            end: "2026-05-01T09:30:00Z".parse().unwrap(),
            status: Status::Booked,
            version: 1,
            cancel_reason: None,
            late_cancellation: false,
        };
        assert_eq!(decode_cursor(&encode_cursor(&a)).unwrap(), (a.start, a.id));
        assert!(decode_cursor("not-a-cursor").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("x|y")).is_err());
    }
}

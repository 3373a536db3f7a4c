use axum::{extract::State, http::HeaderMap, response::IntoResponse};
use chrono::{DateTime, Utc};
use platform::idempotency::IdempotencyKey;
use platform::{
    auth::AuthUser,
    extract::{Json, Path, Query},
    problem::ProblemBody,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{actor, cursor};
use crate::{
    appointments::{self as app, Appointment, AppointmentDetail, BookingRequest, Rescheduled},
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
    /// Book the slot this hold keeps (`POST /api/v1/holds`): same provider,
    /// type, start and patient; the appointment gets the hold's id.
    #[serde(default)]
    pub hold_id: Option<Uuid>,
}

fn idempotency_key(
    headers: &HeaderMap,
    patient_id: Uuid,
    body: &BookRequest,
) -> Result<Option<IdempotencyKey>, Error> {
    let mut canonical = format!(
        "{}|{}|{}|{}",
        body.provider_id,
        body.appointment_type_id,
        body.start.timestamp_micros(),
        patient_id
    );
    if let Some(hold) = body.hold_id {
        canonical.push_str(&format!("|hold:{hold}"));
    }
    IdempotencyKey::from_headers(headers, &canonical)
        .map_err(|_| Error::invalid("Idempotency-Key", "1 to 200 visible ASCII characters"))
}

/// Book an appointment. Send an `Idempotency-Key` header to make retries safe:
/// a retry gets the first answer even if the rules would refuse it now. With
/// `hold_id` the hold becomes the appointment. The answer shows the type's
/// `cancellation_policy`: what cancelling or moving late, or not coming, will cost.
#[utoipa::path(post, path = "/api/v1/appointments", tag = "scheduling", request_body = BookRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response")),
    responses((status = 201, body = AppointmentDetail, headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same key"))), (status = 403, body = ProblemBody),
        (status = 404, description = "`appointment-type-not-found`, `patient-not-found`, `hold-not-found`", body = ProblemBody),
        (status = 409, description = "`slot-taken` (booked or held by someone else), `patient-double-booked`, `hold-expired`, `hold-converted`", body = ProblemBody),
        (status = 422, description = "a booking rule, an invalid body, `hold-mismatch`, or `idempotency-key-reused`", body = ProblemBody)))]
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
        hold_id: body.hold_id,
    };
    let booked = app::book(&state, actor, request, key).await?;
    let replayed = [(
        "idempotent-replayed",
        if booked.replayed { "true" } else { "false" },
    )];
    Ok((booked.status, replayed, Json(booked.body)))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    pub status: Option<Status>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub provider_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AppointmentList {
    pub items: Vec<Appointment>,
    pub next_cursor: Option<String>,
}

/// Appointments the caller may see: patients their own, providers their schedule, staff all.
#[utoipa::path(get, path = "/api/v1/appointments", tag = "scheduling", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = AppointmentList), (status = 422, body = ProblemBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(p): Query<ListParams>,
) -> Result<Json<AppointmentList>, Error> {
    let limit = cursor::limit(p.limit, 50)?;
    let mut filter = ListFilter {
        patient_id: p.patient_id,
        provider_id: p.provider_id,
        status: p.status,
        from: p.from,
        to: p.to,
        after: p.cursor.as_deref().map(cursor::decode).transpose()?,
        limit: limit + 1,
    };
    app::scope(actor(&user), &mut filter);
    let rows = crate::store::appointments::list(&state.db, &filter).await?;
    let mut items: Vec<Appointment> = rows.iter().map(Appointment::from).collect();
    let next_cursor = cursor::next_page(&mut items, limit, |a| (a.start, a.id));
    Ok(Json(AppointmentList { items, next_cursor }))
}

/// One appointment with its cancellation policy (404 when it is not the caller's to see).
#[utoipa::path(get, path = "/api/v1/appointments/{id}", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = AppointmentDetail), (status = 404, body = ProblemBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<AppointmentDetail>, Error> {
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
    responses((status = 200, body = AppointmentDetail), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<CancelRequest>,
) -> Result<Json<AppointmentDetail>, Error> {
    app::cancel(&state, actor(&user), id, &body.reason)
        .await
        .map(Json)
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    pub start: DateTime<Utc>,
    /// Staff and admins only: waive the late-cancellation fee a move inside
    /// the cancellation window owes, for this reason (3–500 characters; kept
    /// in the appointment's history). From a patient or a provider: 403.
    #[serde(default)]
    #[schema(min_length = 3, max_length = 500)]
    pub waive_fee_reason: Option<String>,
}

fn reschedule_key(
    headers: &HeaderMap,
    id: Uuid,
    body: &RescheduleRequest,
) -> Result<Option<IdempotencyKey>, Error> {
    let canonical = format!(
        "reschedule|{id}|{}|{}",
        body.start.timestamp_micros(),
        body.waive_fee_reason.as_deref().unwrap_or_default().trim()
    );
    IdempotencyKey::from_headers(headers, &canonical)
        .map_err(|_| Error::invalid("Idempotency-Key", "1 to 200 visible ASCII characters"))
}

/// Move to another free slot: same id, history kept. Inside the cancellation
/// window a move counts as a late cancellation: the answer says so (`late`)
/// with the `fee` owed (by patients, and by staff moving it for them, unless
/// staff waive it with `waive_fee_reason`; a provider moving their own
/// appointment owes nothing). Send an `Idempotency-Key` header to make retries safe.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/reschedule", tag = "scheduling", request_body = RescheduleRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response")),
    responses((status = 200, body = Rescheduled),
        (status = 403, description = "`forbidden`: not the caller's to move, or `waive_fee_reason` from a patient or provider", body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, description = "`slot-taken`, `patient-double-booked`, `illegal-transition`", body = ProblemBody),
        (status = 422, description = "a booking rule, `waive_fee_reason` not 3–500 characters (`validation-error`), or `idempotency-key-reused`", body = ProblemBody)))]
pub async fn reschedule(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<RescheduleRequest>,
) -> Result<impl IntoResponse, Error> {
    let key = reschedule_key(&headers, id, &body)?;
    let request = app::MoveRequest {
        start: body.start,
        waive_fee_reason: body.waive_fee_reason,
    };
    let (status, body) = app::reschedule(&state, actor(&user), id, request, key).await?;
    Ok((status, Json(body)))
}

/// The patient arrived (provider, staff); from 60 minutes before the start.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/check-in", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = AppointmentDetail), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 409, description = "`illegal-transition`, or `too-early`: check-in opens 60 minutes before the start", body = ProblemBody)))]
pub async fn check_in(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<AppointmentDetail>, Error> {
    app::record_visit(&state, actor(&user), id, Action::CheckIn)
        .await
        .map(Json)
}

/// The visit is over (provider, staff); from the start on.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/complete", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = AppointmentDetail), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 409, description = "`illegal-transition`, or `too-early`: only once the start has passed", body = ProblemBody)))]
pub async fn complete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<AppointmentDetail>, Error> {
    app::record_visit(&state, actor(&user), id, Action::Complete)
        .await
        .map(Json)
}

/// The patient did not come (provider, staff); from the start on. Owes the
/// type's no-show fee (capped), when it has one.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/no-show", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = AppointmentDetail), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 409, description = "`illegal-transition`, or `too-early`: only once the start has passed", body = ProblemBody)))]
pub async fn no_show(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<AppointmentDetail>, Error> {
    app::record_visit(&state, actor(&user), id, Action::MarkNoShow)
        .await
        .map(Json)
}

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use chrono::{DateTime, NaiveTime, Utc, Weekday};
use platform::{
    auth::AuthUser,
    extract::{Json, Path, Query},
    problem::ProblemBody,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{actor, cursor};
use crate::{
    appointments::AppointmentDetail,
    domain::waitlist::{EntryStatus, Request, Target},
    error::Error,
    store::waitlist::ListFilter,
    waitlist::{self as app, JoinRequest, TimeOfDay, WaitlistEntry},
    AppState,
};

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    pub appointment_type_id: Uuid,
    /// One provider's slots of this type. Give this or `specialty`.
    #[serde(default)]
    pub provider_id: Option<Uuid>,
    /// Any provider of this specialty, for a type of the same name as
    /// `appointment_type_id`'s. Give this or `provider_id`.
    #[serde(default)]
    pub specialty: Option<String>,
    /// The slot must start at or after `earliest` and end by `latest` (at most 366 days apart).
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    /// `mon` … `sun` in the provider's time zone; omitted or empty: any day.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// A local `HH:MM`–`HH:MM` window the slot must lie in.
    #[serde(default)]
    pub time_of_day: Option<TimeOfDay>,
    /// Staff wait for a patient; patients for themselves and may omit it.
    #[serde(default)]
    pub patient_id: Option<Uuid>,
    /// Staff only: -100 to 100, higher goes first (default 0).
    #[serde(default)]
    pub priority: Option<i32>,
}

fn time(field: &'static str, s: &str) -> Result<NaiveTime, Error> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| Error::invalid(field, format!("{s:?} is not a HH:MM time")))
}

fn request(body: &JoinBody) -> Result<Request, Error> {
    let target = match (body.provider_id, &body.specialty) {
        (Some(p), None) => Target::Provider(p),
        (None, Some(s)) => Target::Specialty(s.clone()),
        _ => {
            return Err(Error::invalid(
                "provider_id",
                "give either provider_id or specialty",
            ))
        }
    };
    if body.weekdays.len() > 7 {
        return Err(Error::invalid("weekdays", "at most the seven days"));
    }
    let weekdays = body
        .weekdays
        .iter()
        .map(|d| {
            d.parse::<Weekday>()
                .map_err(|_| Error::invalid("weekdays", format!("{d:?} is not a weekday")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let time_of_day = match &body.time_of_day {
        None => None,
        Some(w) => Some((time("time_of_day", &w.start)?, time("time_of_day", &w.end)?)),
    };
    Ok(Request {
        target,
        earliest: body.earliest,
        latest: body.latest,
        weekdays,
        time_of_day,
        priority: body.priority.unwrap_or(0),
    })
}

/// Join the waitlist for an earlier slot: when a matching one opens
/// (a cancellation, a move, new hours, a lapsed hold), the first-ranked entry
/// gets a hold on it for `SCHEDULING_OFFER_MINUTES` (default 15) and an email
/// with a claim link. Patients join for themselves, staff for a patient.
#[utoipa::path(post, path = "/api/v1/waitlist", tag = "scheduling", request_body = JoinBody, security(("bearer" = [])),
    responses((status = 201, body = WaitlistEntry),
        (status = 403, description = "for another patient, or a `priority` from a patient", body = ProblemBody),
        (status = 404, description = "`appointment-type-not-found` (with `provider_id`: that provider's), `patient-not-found`", body = ProblemBody),
        (status = 409, description = "`waitlist-limit-reached`", body = ProblemBody),
        (status = 422, description = "`validation-error` naming the field", body = ProblemBody)))]
pub async fn join(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<JoinBody>,
) -> Result<impl IntoResponse, Error> {
    let actor = actor(&user);
    let join = JoinRequest {
        patient_id: body.patient_id.unwrap_or(actor.user_id),
        appointment_type_id: body.appointment_type_id,
        request: request(&body)?,
    };
    let entry = app::join(&state, actor, join).await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    pub status: Option<EntryStatus>,
    pub provider_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub appointment_type_id: Option<Uuid>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WaitlistList {
    pub items: Vec<WaitlistEntry>,
    pub next_cursor: Option<String>,
}

/// Waitlist entries, oldest first: patients their own, providers those for
/// them, staff the clinic's (filter by status, provider, patient, type).
#[utoipa::path(get, path = "/api/v1/waitlist", tag = "scheduling", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = WaitlistList), (status = 422, body = ProblemBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(p): Query<ListParams>,
) -> Result<Json<WaitlistList>, Error> {
    let limit = cursor::limit(p.limit, 50)?;
    let mut filter = ListFilter {
        patient_id: p.patient_id,
        provider_id: p.provider_id,
        appointment_type_id: p.appointment_type_id,
        status: p.status,
        after: p.cursor.as_deref().map(cursor::decode).transpose()?,
        limit: limit + 1,
    };
    app::scope(actor(&user), &mut filter);
    let rows = crate::store::waitlist::list(&state.db, &filter).await?;
    let mut items: Vec<WaitlistEntry> = rows.iter().map(WaitlistEntry::from).collect();
    let next_cursor = cursor::next_page(&mut items, limit, |e| (e.created_at, e.id));
    Ok(Json(WaitlistList { items, next_cursor }))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityBody {
    /// -100 to 100; higher goes first.
    pub priority: i32,
}

/// Set an entry's priority (staff, admins).
#[utoipa::path(patch, path = "/api/v1/waitlist/{id}", tag = "scheduling", request_body = PriorityBody, security(("bearer" = [])),
    responses((status = 200, body = WaitlistEntry), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn set_priority(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<PriorityBody>,
) -> Result<Json<WaitlistEntry>, Error> {
    app::set_priority(&state, actor(&user), id, body.priority)
        .await
        .map(Json)
}

/// Leave the waitlist (its patient, staff); a standing offer is withdrawn
/// and passes to the next entry.
#[utoipa::path(delete, path = "/api/v1/waitlist/{id}", tag = "scheduling", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ProblemBody)))]
pub async fn leave(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Error> {
    app::leave(&state, actor(&user), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Claim an offer with the token from its email (signed in as its patient):
/// the held slot is booked at once. The entry is fulfilled.
#[utoipa::path(post, path = "/api/v1/waitlist/offers/{token}/claim", tag = "scheduling", security(("bearer" = [])),
    responses((status = 201, body = AppointmentDetail),
        (status = 404, description = "`offer-not-found`: no such offer for this patient", body = ProblemBody),
        (status = 409, description = "`offer-claimed`", body = ProblemBody),
        (status = 410, description = "`offer-expired`: it lapsed and passed on", body = ProblemBody)))]
pub async fn claim(
    State(state): State<AppState>,
    user: AuthUser,
    Path(token): Path<String>,
) -> Result<impl IntoResponse, Error> {
    let booked = app::claim(&state, actor(&user), &token).await?;
    Ok((StatusCode::CREATED, Json(booked)))
}

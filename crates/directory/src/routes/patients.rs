use axum::extract::State;
use chrono::NaiveDate;
use platform::{
    auth::AuthUser,
    extract::{Json, Path, Query},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    domain::{
        patient::{Address, Insurance, PatientInput},
        search::RawPatientSearch,
        Actor,
    },
    error::Error,
    patients::{self, Patient, PatientPage, PatientSummary},
    AppState,
};

/// A patient's editable details; the whole set is replaced (an omitted or
/// `null` field is cleared), except `time_zone`, which an omitted field leaves
/// as it is. Name is required; email changes go through identity.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientUpdateRequest {
    pub name: String,
    /// `YYYY-MM-DD`, not in the future.
    #[serde(default)]
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub insurance: Option<Insurance>,
    /// IANA time zone (`America/New_York`). Omitted: unchanged (the browser
    /// set it at registration); `null` or `""`: cleared; an unknown name: 422.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, example = "America/New_York")]
    pub time_zone: Option<Option<String>>,
}

/// A field that is present (its value possibly `null`), told apart from an
/// omitted one (`#[serde(default)]` gives `None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl PatientUpdateRequest {
    fn input(&self) -> PatientInput<'_> {
        PatientInput {
            name: &self.name,
            date_of_birth: self.date_of_birth,
            phone: self.phone.as_deref(),
            address: self.address.as_ref(),
            insurance: self.insurance.as_ref(),
            time_zone: self.time_zone.as_ref().map(Option::as_deref),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferredProviderRequest {
    pub provider_id: Uuid,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words (2–100 characters in all) that must each appear in the patient's
    /// name or email, case-insensitive.
    pub q: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn actor(caller: &AuthUser) -> Actor {
    Actor::from(caller.claims())
}

/// The calling patient's own profile.
#[utoipa::path(get, path = "/api/v1/patients/me", tag = "patients", security(("bearer" = [])),
    responses((status = 200, body = Patient), (status = 403, body = platform::problem::ProblemBody),
        (status = 404, body = platform::problem::ProblemBody)))]
pub async fn get_me(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<Json<Patient>, Error> {
    let actor = actor(&caller);
    patients::get(&state, &actor, patients::me(&actor)?)
        .await
        .map(Json)
}

/// Replace the calling patient's details.
#[utoipa::path(put, path = "/api/v1/patients/me", tag = "patients", request_body = PatientUpdateRequest, security(("bearer" = [])),
    responses((status = 200, body = Patient), (status = 403, body = platform::problem::ProblemBody),
        (status = 422, body = platform::problem::ProblemBody)))]
pub async fn update_me(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<PatientUpdateRequest>,
) -> Result<Json<Patient>, Error> {
    let actor = actor(&caller);
    patients::update(&state, &actor, patients::me(&actor)?, &body.input())
        .await
        .map(Json)
}

/// Choose the calling patient's preferred provider.
#[utoipa::path(put, path = "/api/v1/patients/me/preferred-provider", tag = "patients", request_body = PreferredProviderRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Patient), (status = 403, body = platform::problem::ProblemBody),
        (status = 404, description = "`provider-not-found`", body = platform::problem::ProblemBody)))]
pub async fn set_preferred_provider(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<PreferredProviderRequest>,
) -> Result<Json<Patient>, Error> {
    let actor = actor(&caller);
    patients::set_preferred_provider(
        &state,
        &actor,
        patients::me(&actor)?,
        Some(body.provider_id),
    )
    .await
    .map(Json)
}

/// Forget the calling patient's preferred provider.
#[utoipa::path(delete, path = "/api/v1/patients/me/preferred-provider", tag = "patients", security(("bearer" = [])),
    responses((status = 200, body = Patient), (status = 403, body = platform::problem::ProblemBody)))]
pub async fn clear_preferred_provider(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<Json<Patient>, Error> {
    let actor = actor(&caller);
    patients::set_preferred_provider(&state, &actor, patients::me(&actor)?, None)
        .await
        .map(Json)
}

/// Find patients by name or email, a page at a time in name order: staff and
/// admins among every patient, a provider among the patients in their care
/// (a page may then hold fewer than `limit`); patients get 403.
#[utoipa::path(get, path = "/api/v1/patients", tag = "patients", params(SearchQuery), security(("bearer" = [])),
    responses((status = 200, body = PatientPage),
        (status = 400, description = "`invalid-cursor`", body = platform::problem::ProblemBody),
        (status = 403, body = platform::problem::ProblemBody),
        (status = 422, description = "`q` missing, shorter than 2 or longer than 100 characters; `limit` out of range", body = platform::problem::ProblemBody)))]
pub async fn search(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(query): Query<SearchQuery>,
) -> Result<Json<PatientPage>, Error> {
    let raw = RawPatientSearch {
        q: query.q.as_deref(),
        limit: query.limit,
        cursor: query.cursor.as_deref(),
    };
    patients::search(&state, &actor(&caller), &raw)
        .await
        .map(Json)
}

/// Who a patient is — name, date of birth, contact — for the patient, staff
/// and admins, and a provider inside the care window of an appointment with
/// the patient: from 7 days before a booking's start while it stays booked or
/// checked in, 90 days after a completed visit, closed at once by a
/// cancellation or a no-show. Any other provider or patient gets 403, whether
/// or not the patient exists.
#[utoipa::path(get, path = "/api/v1/patients/{id}/summary", tag = "patients", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = PatientSummary), (status = 403, body = platform::problem::ProblemBody),
        (status = 404, description = "`patient-not-found`", body = platform::problem::ProblemBody)))]
pub async fn summary(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<PatientSummary>, Error> {
    patients::summary(&state, &actor(&caller), id)
        .await
        .map(Json)
}

/// A patient's profile (staff and admins; a patient only their own).
#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Patient), (status = 403, body = platform::problem::ProblemBody),
        (status = 404, body = platform::problem::ProblemBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Patient>, Error> {
    patients::get(&state, &actor(&caller), id).await.map(Json)
}

/// Replace a patient's details (staff and admins; a patient only their own).
#[utoipa::path(put, path = "/api/v1/patients/{id}", tag = "patients", params(("id" = Uuid, Path)),
    request_body = PatientUpdateRequest, security(("bearer" = [])),
    responses((status = 200, body = Patient), (status = 403, body = platform::problem::ProblemBody),
        (status = 404, body = platform::problem::ProblemBody), (status = 422, body = platform::problem::ProblemBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<PatientUpdateRequest>,
) -> Result<Json<Patient>, Error> {
    patients::update(&state, &actor(&caller), id, &body.input())
        .await
        .map(Json)
}

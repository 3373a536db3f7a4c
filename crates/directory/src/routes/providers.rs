use axum::extract::State;
use platform::{
    auth::AuthUser,
    extract::{Json, Path, Query},
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    domain::{
        provider::ProviderInput,
        search::{RawSearch, Search},
        Actor,
    },
    error::Error,
    providers::{self, Provider, ProviderPage},
    AppState,
};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Exact specialty, case-insensitive (`cardiology`).
    pub specialty: Option<String>,
    /// Words that must all appear in the name, specialty or bio (case-insensitive).
    pub q: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A provider's editable profile; the whole profile is replaced.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderUpdateRequest {
    pub name: String,
    pub specialty: String,
    #[serde(default)]
    pub bio: String,
    /// BCP 47 tags (`en`, `pt-BR`), at most 20.
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub location: String,
    /// IANA time zone name (`Europe/Berlin`).
    pub time_zone: String,
    pub accepting_new_patients: bool,
}

/// Search the provider directory, a page at a time, in name order.
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, body = ProviderPage), (status = 400, body = platform::problem::ProblemBody),
        (status = 401, body = platform::problem::ProblemBody), (status = 422, body = platform::problem::ProblemBody)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: AuthUser,
    Query(query): Query<ListQuery>,
) -> Result<Json<ProviderPage>, Error> {
    let search = Search::parse(&RawSearch {
        q: query.q.as_deref(),
        specialty: query.specialty.as_deref(),
        limit: query.limit,
        cursor: query.cursor.as_deref(),
    })?;
    providers::search(&state, &search).await.map(Json)
}

/// One provider's profile.
#[utoipa::path(get, path = "/api/v1/providers/{id}", tag = "providers", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Provider), (status = 404, body = platform::problem::ProblemBody)))]
pub async fn get(
    State(state): State<AppState>,
    _caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Provider>, Error> {
    providers::get(&state, id).await.map(Json)
}

/// Replace a provider's profile (that provider, staff or admin).
#[utoipa::path(put, path = "/api/v1/providers/{id}", tag = "providers", params(("id" = Uuid, Path)),
    request_body = ProviderUpdateRequest, security(("bearer" = [])),
    responses((status = 200, body = Provider), (status = 403, body = platform::problem::ProblemBody),
        (status = 404, body = platform::problem::ProblemBody), (status = 422, body = platform::problem::ProblemBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<ProviderUpdateRequest>,
) -> Result<Json<Provider>, Error> {
    let input = ProviderInput {
        name: &body.name,
        specialty: &body.specialty,
        bio: &body.bio,
        languages: &body.languages,
        location: &body.location,
        time_zone: &body.time_zone,
        accepting_new_patients: body.accepting_new_patients,
    };
    providers::update(&state, &Actor::from(caller.claims()), id, &input)
        .await
        .map(Json)
}

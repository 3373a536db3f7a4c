use axum::extract::State;
use platform::{
    auth::AuthUser,
    extract::{Json, Path},
    problem::ProblemBody,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::actor;
use crate::{
    domain::insurance::Insurance,
    error::Error,
    patients::{self as app, Balance, InsuranceView},
    AppState,
};

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsuranceRequest {
    pub payer: String,
    pub member_id: String,
    #[serde(default)]
    pub group_number: Option<String>,
}

/// The patient's insurance details (the patient, staff).
#[utoipa::path(get, path = "/api/v1/patients/{id}/insurance", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = InsuranceView), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn get_insurance(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<InsuranceView>, Error> {
    app::get_insurance(&state, actor(&user), id).await.map(Json)
}

/// Record the patient's insurance details (the patient, staff); earlier
/// versions are kept, and invoices already billed keep what they were billed with.
#[utoipa::path(put, path = "/api/v1/patients/{id}/insurance", tag = "accounts", request_body = InsuranceRequest, security(("bearer" = [])),
    responses((status = 200, body = InsuranceView), (status = 403, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn put_insurance(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<InsuranceRequest>,
) -> Result<Json<InsuranceView>, Error> {
    let actor = actor(&user);
    // Refused before the body is looked at: others learn nothing.
    app::allow(&actor, id)?;
    let insurance = Insurance::parse(&body.payer, &body.member_id, body.group_number.as_deref())
        .map_err(Error::Invalid)?;
    app::put_insurance(&state, actor, id, insurance)
        .await
        .map(Json)
}

/// What the patient owes (or is owed), per currency (the patient, staff).
#[utoipa::path(get, path = "/api/v1/patients/{id}/balance", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Balance), (status = 403, body = ProblemBody)))]
pub async fn balance(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Balance>, Error> {
    app::balance(&state, actor(&user), id).await.map(Json)
}

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use platform::{
    auth::{AuthUser, Role},
    extract::Json,
};
use serde::Deserialize;

use crate::{
    accounts::{self, Account, AccountRequest},
    error::Error,
    AppState,
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    pub password: String,
    pub name: String,
    pub role: Role,
}

/// Create an account of any role (admins only).
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "auth", request_body = CreateUserRequest, security(("bearer" = [])),
    responses((status = 201, body = Account), (status = 403, body = platform::problem::ProblemBody), (status = 409, body = platform::problem::ProblemBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<CreateUserRequest>,
) -> Result<impl IntoResponse, Error> {
    caller.require(&[Role::Admin])?;
    let account = accounts::create(
        &state,
        AccountRequest {
            email: &body.email,
            password: &body.password,
            name: &body.name,
            role: body.role,
        },
    )
    .await?;
    tracing::info!(admin_id = %caller.claims().sub, user_id = %account.id, "admin created account");
    Ok((StatusCode::CREATED, Json(account)))
}

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use platform::{
    auth::{AuthUser, Role},
    extract::Json,
};
use serde::Deserialize;

use crate::{
    accounts::{self, Account, AccountRequest},
    error::Error,
    sessions::{self, TokenPair},
    store, AppState,
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    pub name: String,
    /// Only `patient` may register themselves (the default).
    #[serde(default)]
    pub role: Option<Role>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Register a patient account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = Account), (status = 403, body = platform::problem::ProblemBody), (status = 409, body = platform::problem::ProblemBody), (status = 422, body = platform::problem::ProblemBody)))]
pub async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterRequest>,
) -> Result<impl IntoResponse, Error> {
    let role = body.role.unwrap_or(Role::Patient);
    if role != Role::Patient {
        return Err(Error::RoleRequiresAdmin);
    }
    let account = accounts::create(
        &state,
        AccountRequest {
            email: &body.email,
            password: &body.password,
            name: &body.name,
            role,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// Exchange email and password for an access and a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = platform::problem::ProblemBody), (status = 429, body = platform::problem::ProblemBody)))]
pub async fn login(
    State(state): State<AppState>,
    Json(body): Json<LoginRequest>,
) -> Result<Json<TokenPair>, Error> {
    sessions::login(&state, &body.email, &body.password)
        .await
        .map(Json)
}

/// Rotate a refresh token: the old one stops working, a new pair is returned.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = platform::problem::ProblemBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<Json<TokenPair>, Error> {
    sessions::refresh(&state, &body.refresh_token)
        .await
        .map(Json)
}

/// Revoke a refresh token and every token rotated from the same login.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest, responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<StatusCode, Error> {
    sessions::logout(&state, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Account), (status = 401, body = platform::problem::ProblemBody), (status = 404, body = platform::problem::ProblemBody)))]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Json<Account>, Error> {
    let mut conn = state.db.acquire().await?;
    let row = store::user_by_id(&mut conn, user.claims().sub)
        .await?
        .ok_or(Error::UserNotFound)?;
    Ok(Json(Account::new(
        row.id,
        row.email.clone(),
        row.name.clone(),
        row.role(),
    )))
}

//! Identity's HTTP API (thin handlers: extract, call, map).

mod admin;
mod auth;
mod jwks;

use axum::{
    routing::{get, post},
    Router,
};
use utoipa::OpenApi;

use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/auth/register", post(auth::register))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/refresh", post(auth::refresh))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/auth/me", get(auth::me))
        .route("/api/v1/admin/users", post(admin::create_user))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Carebook identity", description = "Accounts, login, token refresh and the public signing keys."),
    paths(auth::register, auth::login, auth::refresh, auth::logout, auth::me, admin::create_user, jwks::jwks),
    components(schemas(
        crate::accounts::Account,
        crate::sessions::TokenPair,
        auth::RegisterRequest,
        auth::LoginRequest,
        auth::RefreshRequest,
        admin::CreateUserRequest,
        platform::problem::ProblemBody,
    )),
    tags((name = "auth", description = "Accounts and sessions"))
)]
pub struct ApiDoc;

//! Identity's HTTP API (thin handlers: extract, call, map).

mod admin;
mod auth;
mod extract;
mod jwks;
mod mfa;
mod sessions;

use axum::{
    routing::{get, post},
    Router,
};
use utoipa::OpenApi;

pub use extract::{Caller, ClientInfo};

use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/auth/register", post(auth::register))
        .route("/api/v1/auth/verify-email", post(auth::verify_email))
        .route(
            "/api/v1/auth/verify-email/resend",
            post(auth::resend_verification),
        )
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/refresh", post(auth::refresh))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/auth/me", get(auth::me))
        .route("/api/v1/auth/password-reset", post(auth::request_reset))
        .route(
            "/api/v1/auth/password-reset/confirm",
            post(auth::confirm_reset),
        )
        .route("/api/v1/auth/password", post(auth::change_password))
        .route(
            "/api/v1/auth/sessions",
            get(sessions::list).delete(sessions::revoke_all),
        )
        .route(
            "/api/v1/auth/sessions/{id}",
            axum::routing::delete(sessions::revoke_one),
        )
        .route(
            "/api/v1/auth/mfa/totp",
            post(mfa::enrol).delete(mfa::disable),
        )
        .route("/api/v1/auth/mfa/totp/confirm", post(mfa::confirm))
        .route("/api/v1/auth/mfa/verify", post(mfa::verify))
        .route(
            "/api/v1/admin/users",
            post(admin::create_user).get(admin::list_users),
        )
        .route(
            "/api/v1/admin/users/{id}/disable",
            post(admin::disable_user),
        )
        .route("/api/v1/admin/users/{id}/enable", post(admin::enable_user))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Carebook identity", description = "Accounts and their verification, login with an optional second factor, sessions, password reset and change, account administration, and the public signing keys."),
    paths(
        auth::register, auth::verify_email, auth::resend_verification, auth::login, auth::refresh,
        auth::logout, auth::me, auth::request_reset, auth::confirm_reset, auth::change_password,
        sessions::list, sessions::revoke_one, sessions::revoke_all,
        mfa::enrol, mfa::confirm, mfa::disable, mfa::verify,
        admin::create_user, admin::list_users, admin::disable_user, admin::enable_user,
        jwks::jwks,
    ),
    components(schemas(
        crate::accounts::Account,
        crate::accounts::Accepted,
        crate::sessions::TokenPair,
        crate::sessions::MfaChallenge,
        crate::sessions::LoginOutcome,
        crate::sessions::SessionView,
        crate::mfa::Enrolment,
        crate::mfa::RecoveryCodes,
        crate::admin::AdminUser,
        crate::admin::UserPage,
        auth::RegisterRequest,
        auth::LoginRequest,
        auth::RefreshRequest,
        auth::TokenRequest,
        auth::EmailRequest,
        auth::ResetConfirmRequest,
        auth::ChangePasswordRequest,
        auth::Verified,
        sessions::SessionList,
        mfa::EnrolRequest,
        mfa::ConfirmRequest,
        mfa::CodeRequest,
        mfa::MfaVerifyRequest,
        admin::CreateUserRequest,
        admin::ReasonRequest,
        platform::problem::ProblemBody,
    )),
    tags(
        (name = "auth", description = "Accounts, login and passwords"),
        (name = "sessions", description = "The caller's own sessions"),
        (name = "mfa", description = "The second factor (TOTP)"),
        (name = "admin", description = "Account administration"),
    )
)]
pub struct ApiDoc;

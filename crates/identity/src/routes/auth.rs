//! Registration, address verification, login, refresh, logout, the caller's
//! account, password reset and change.

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use platform::{auth::Role, extract::Json, problem::ProblemBody};
use serde::Deserialize;

use super::extract::{Caller, ClientInfo};
use crate::{
    accounts::{self, Accepted, Account, AccountRequest},
    error::Error,
    sessions::{self, LoginOutcome, TokenPair},
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
    /// The patient's IANA time zone (`America/New_York`), as the browser
    /// reports it; optional. Passed on in `user.registered` for the directory.
    #[serde(default)]
    #[schema(example = "America/New_York")]
    pub time_zone: Option<String>,
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The token of the emailed link.
    pub token: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    pub email: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmRequest {
    /// The token of the emailed reset link.
    pub token: String,
    pub new_password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// The address is confirmed.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Verified {
    /// Always `true`.
    pub verified: bool,
}

/// Register a patient account. The answer is the same `202` whether or not the
/// address has an account: a new address is emailed a verification link
/// (`user.verification_requested`), an address with an account is told
/// someone tried (`user.registration_attempted`). Log in once the address is
/// verified.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 202, body = Accepted, description = "`{\"status\": \"verification_sent\"}`, whether or not the address has an account"),
        (status = 403, body = ProblemBody, description = "`role-requires-admin`: only patients register themselves"),
        (status = 422, body = ProblemBody, description = "`validation-error` (email, name, time_zone) or `weak-password`")))]
pub async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterRequest>,
) -> Result<impl IntoResponse, Error> {
    let role = body.role.unwrap_or(Role::Patient);
    if role != Role::Patient {
        return Err(Error::RoleRequiresAdmin);
    }
    let accepted = accounts::register(
        &state,
        AccountRequest {
            email: &body.email,
            password: &body.password,
            name: &body.name,
            role,
            time_zone: body.time_zone.as_deref(),
        },
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Confirm an address with the token of the emailed link (single use, 24 h).
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses(
        (status = 200, body = Verified),
        (status = 400, body = ProblemBody, description = "`invalid-token`: unknown, expired or used")))]
pub async fn verify_email(
    State(state): State<AppState>,
    Json(body): Json<TokenRequest>,
) -> Result<Json<Verified>, Error> {
    accounts::verify_email(&state, &body.token).await?;
    Ok(Json(Verified { verified: true }))
}

/// Email a new verification link if the address has an unverified account
/// (at most one a minute, five an hour). Always `202`.
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "auth", request_body = EmailRequest,
    responses(
        (status = 202, body = Accepted, description = "`{\"status\": \"verification_sent\"}` whatever the address"),
        (status = 422, body = ProblemBody, description = "`validation-error`: not an email address")))]
pub async fn resend_verification(
    State(state): State<AppState>,
    Json(body): Json<EmailRequest>,
) -> Result<impl IntoResponse, Error> {
    let accepted = accounts::resend_verification(&state, &body.email).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Exchange email and password for an access and a refresh token — or, for an
/// account with a second factor (or whose role needs one), for an `mfa_token`
/// to send with a code to `POST /api/v1/auth/mfa/verify`. Failed attempts are
/// throttled per (account, client address) and per client address.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginOutcome, description = "A token pair, or `{\"mfa_required\": true, \"mfa_token\", \"enrolment_required\"}`"),
        (status = 401, body = ProblemBody, description = "`invalid-credentials`: wrong email or password"),
        (status = 403, body = ProblemBody, description = "After the right password only: `email-unverified` or `account-disabled`"),
        (status = 429, body = ProblemBody, description = "`too-many-attempts`, with `Retry-After`")))]
pub async fn login(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    Json(body): Json<LoginRequest>,
) -> Result<Json<LoginOutcome>, Error> {
    sessions::login(&state, &body.email, &body.password, &client)
        .await
        .map(Json)
}

/// Rotate a refresh token: the old one stops working, a new pair is returned.
/// A session ends a fixed time after its login (`IDENTITY_SESSION_MAX_DAYS`).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, body = ProblemBody, description = "`invalid-refresh-token`, `refresh-token-reused` or `session-expired`")))]
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
    responses((status = 200, body = Account), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Account>, Error> {
    let row = store::user_by_id(&state.db, caller.user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    Ok(Json(Account::from_row(&row)))
}

/// Email a password-reset link (single use, 30 minutes) if the address has an
/// enabled account (at most one a minute, five an hour). Always `202`.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = EmailRequest,
    responses(
        (status = 202, body = Accepted, description = "`{\"status\": \"reset_sent\"}` whatever the address"),
        (status = 422, body = ProblemBody, description = "`validation-error`: not an email address")))]
pub async fn request_reset(
    State(state): State<AppState>,
    Json(body): Json<EmailRequest>,
) -> Result<impl IntoResponse, Error> {
    let accepted = accounts::request_reset(&state, &body.email).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Set a new password with the reset link's token. Every session of the
/// account ends; the address counts as verified.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmRequest,
    responses(
        (status = 204),
        (status = 400, body = ProblemBody, description = "`invalid-token`: unknown, expired or used"),
        (status = 422, body = ProblemBody, description = "`weak-password` (field `new_password`)")))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    Json(body): Json<ResetConfirmRequest>,
) -> Result<StatusCode, Error> {
    accounts::confirm_reset(&state, &body.token, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the caller's password. Every other session of the account ends; the
/// caller's own stays.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = ChangePasswordRequest, security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 403, body = ProblemBody, description = "`invalid-current-password`"),
        (status = 422, body = ProblemBody, description = "`weak-password` (field `new_password`)"),
        (status = 429, body = ProblemBody, description = "`too-many-attempts`, with `Retry-After`")))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ClientInfo(client): ClientInfo,
    Json(body): Json<ChangePasswordRequest>,
) -> Result<StatusCode, Error> {
    accounts::change_password(
        &state,
        caller.user_id,
        caller.session,
        &body.current_password,
        &body.new_password,
        &client,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

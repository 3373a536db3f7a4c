//! The second factor: enrol an authenticator app, confirm it, turn it off, and
//! the second step of a login.

use axum::{extract::State, http::StatusCode};
use platform::{extract::Json, problem::ProblemBody, Problem};
use serde::Deserialize;

use super::extract::{Caller, ClientInfo, OptionalJson};
use crate::{
    error::Error,
    mfa::{self, Enrolment, RecoveryCodes},
    sessions::{self, TokenPair},
    store::{self, UserRow},
    AppState,
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The `mfa_token` of a login that answered `enrolment_required` (instead
    /// of an access token: an account that must have a second factor enrols
    /// before its first sign-in).
    #[serde(default)]
    pub mfa_token: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The code the app shows for the new secret.
    pub code: String,
    /// As in the enrolment request, when enrolling before a first sign-in.
    #[serde(default)]
    pub mfa_token: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// A current code from the app, or a recovery code.
    pub code: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaVerifyRequest {
    pub mfa_token: String,
    /// A current code from the app (six digits), or an unused recovery code.
    pub code: String,
}

/// Who enrols: the caller of an access token, or the holder of a login's
/// `mfa_token` whose account has never had a second factor.
async fn enroller(
    state: &AppState,
    caller: Option<Caller>,
    mfa_token: Option<&str>,
) -> Result<UserRow, Error> {
    match (mfa_token, caller) {
        (Some(token), _) => {
            let user = sessions::mfa_step_user(state, token).await?;
            if user.disabled() {
                return Err(Error::AccountDisabled);
            }
            Ok(user)
        }
        (None, Some(caller)) => store::user_by_id(&state.db, caller.user_id)
            .await?
            .ok_or(Error::UserNotFound),
        (None, None) => Err(Problem::unauthorized(
            "Send an access token, or the `mfa_token` of a login that asked for enrolment.",
        )
        .into()),
    }
}

/// Start enrolling an authenticator app: a new secret, pending until a code
/// from it confirms it. Authenticated by an access token or, before a first
/// sign-in of a role that needs a second factor, by the login's `mfa_token`
/// in the body.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp", tag = "mfa", request_body(content = Option<EnrolRequest>, description = "Only with an `mfa_token`"), security(("bearer" = []), ()),
    responses(
        (status = 200, body = Enrolment),
        (status = 401, body = ProblemBody, description = "`unauthorized` or `invalid-mfa-token`"),
        (status = 409, body = ProblemBody, description = "`mfa-already-enabled`")))]
pub async fn enrol(
    State(state): State<AppState>,
    caller: Option<Caller>,
    OptionalJson(body): OptionalJson<EnrolRequest>,
) -> Result<Json<Enrolment>, Error> {
    let token = body.and_then(|b| b.mfa_token);
    let user = enroller(&state, caller, token.as_deref()).await?;
    mfa::enrol(&state, &user).await.map(Json)
}

/// Confirm the pending secret with a code from the app: TOTP is on. The ten
/// recovery codes are shown this once.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp/confirm", tag = "mfa", request_body = ConfirmRequest, security(("bearer" = []), ()),
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 401, body = ProblemBody, description = "`invalid-mfa-code`, `invalid-mfa-token` or `unauthorized`"),
        (status = 409, body = ProblemBody, description = "`mfa-already-enabled` or `mfa-not-enabled` (nothing pending)"),
        (status = 429, body = ProblemBody, description = "`too-many-attempts`")))]
pub async fn confirm(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ClientInfo(client): ClientInfo,
    Json(body): Json<ConfirmRequest>,
) -> Result<Json<RecoveryCodes>, Error> {
    let user = enroller(&state, caller, body.mfa_token.as_deref()).await?;
    mfa::confirm(&state, &user, &body.code, &client)
        .await
        .map(Json)
}

/// Turn the authenticator off (with a current code or a recovery code); not
/// for roles that must sign in with a second factor.
#[utoipa::path(delete, path = "/api/v1/auth/mfa/totp", tag = "mfa", request_body = CodeRequest, security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 401, body = ProblemBody, description = "`invalid-mfa-code`"),
        (status = 403, body = ProblemBody, description = "`mfa-required`: the role must keep it"),
        (status = 409, body = ProblemBody, description = "`mfa-not-enabled`"),
        (status = 429, body = ProblemBody, description = "`too-many-attempts`")))]
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    ClientInfo(client): ClientInfo,
    Json(body): Json<CodeRequest>,
) -> Result<StatusCode, Error> {
    let user = store::user_by_id(&state.db, caller.user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    mfa::disable(&state, &user, &body.code, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The second step of a login: the `mfa_token` and a code give the token pair.
/// Wrong codes count as failed sign-ins; a recovery code works once.
#[utoipa::path(post, path = "/api/v1/auth/mfa/verify", tag = "mfa", request_body = MfaVerifyRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, body = ProblemBody, description = "`invalid-mfa-code` or `invalid-mfa-token`"),
        (status = 403, body = ProblemBody, description = "`mfa-enrolment-required` or `account-disabled`"),
        (status = 429, body = ProblemBody, description = "`too-many-attempts`, with `Retry-After`")))]
pub async fn verify(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    Json(body): Json<MfaVerifyRequest>,
) -> Result<Json<TokenPair>, Error> {
    sessions::verify_mfa(&state, &body.mfa_token, &body.code, &client)
        .await
        .map(Json)
}

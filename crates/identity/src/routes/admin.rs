//! Administrators' account management.

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use platform::{
    auth::Role,
    extract::{Json, Path, Query},
    problem::ProblemBody,
};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::Caller;
use crate::{
    accounts::{self, Account, AccountRequest},
    admin::{self, AdminUser, UserPage},
    domain::admin::{AuditReason, SearchError, UserSearch},
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
    /// The person's IANA time zone (`Europe/Berlin`); optional, passed on in
    /// `user.registered`.
    #[serde(default)]
    #[schema(example = "Europe/Berlin")]
    pub time_zone: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Words that must all appear in the name or email (case-insensitive).
    pub q: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why (3–500 characters); kept in the audit log.
    pub reason: String,
}

/// Create an account of any role (admins only). The administrator vouches for
/// the address: the account is verified at once.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = CreateUserRequest, security(("bearer" = [])),
    responses((status = 201, body = Account), (status = 403, body = ProblemBody), (status = 409, body = ProblemBody, description = "`email-taken`"), (status = 422, body = ProblemBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
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
            time_zone: body.time_zone.as_deref(),
        },
    )
    .await?;
    tracing::info!(admin_id = %caller.user_id, user_id = %account.id, "admin created account");
    Ok((StatusCode::CREATED, Json(account)))
}

/// The accounts, a page at a time in email order (admins only).
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", params(ListQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = UserPage),
        (status = 400, body = ProblemBody, description = "`invalid-cursor`"),
        (status = 403, body = ProblemBody),
        (status = 422, body = ProblemBody, description = "`validation-error` (q, limit)")))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<UserPage>, Error> {
    caller.require(&[Role::Admin])?;
    let search = UserSearch::parse(query.q.as_deref(), query.limit, query.cursor.as_deref())
        .map_err(|e| match e {
            SearchError::Invalid(field, message) => Error::InvalidQuery(field, message),
            SearchError::Cursor => Error::InvalidCursor,
        })?;
    admin::list(&state, &search).await.map(Json)
}

/// Disable an account (admins only; never one's own): it can no longer sign in
/// or refresh, every session ends, and its access tokens are refused
/// everywhere within a minute. Audited with the reason.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/disable", tag = "admin", request_body = ReasonRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The account's id")),
    responses(
        (status = 200, body = AdminUser),
        (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "`cannot-disable-self`"),
        (status = 422, body = ProblemBody, description = "`validation-error` (reason)"),
        (status = 503, body = ProblemBody, description = "`unavailable`: the revocation could not be published; nothing changed")))]
pub async fn disable_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<ReasonRequest>,
) -> Result<Json<AdminUser>, Error> {
    caller.require(&[Role::Admin])?;
    let reason = AuditReason::parse(&body.reason)?;
    admin::disable(&state, caller.user_id, id, &reason)
        .await
        .map(Json)
}

/// Enable a disabled account (admins only). Audited with the reason.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/enable", tag = "admin", request_body = ReasonRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The account's id")),
    responses(
        (status = 200, body = AdminUser),
        (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 422, body = ProblemBody, description = "`validation-error` (reason)"),
        (status = 503, body = ProblemBody, description = "`unavailable`")))]
pub async fn enable_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<ReasonRequest>,
) -> Result<Json<AdminUser>, Error> {
    caller.require(&[Role::Admin])?;
    let reason = AuditReason::parse(&body.reason)?;
    admin::enable(&state, caller.user_id, id, &reason)
        .await
        .map(Json)
}

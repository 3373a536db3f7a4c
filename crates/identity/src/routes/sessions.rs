//! The caller's own sessions: list them, end one, end all but this one.

use axum::{extract::State, http::StatusCode};
use platform::{
    extract::{Json, Path, Query},
    problem::ProblemBody,
};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::Caller;
use crate::{
    error::Error,
    sessions::{self, SessionView},
    AppState,
};

/// The caller's usable sessions, newest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionView>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RevokeAllQuery {
    /// End the caller's own session too.
    #[serde(default)]
    pub all: bool,
}

/// The caller's sessions still usable (one per login), the current one marked.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = SessionList), (status = 401, body = ProblemBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SessionList>, Error> {
    let items = sessions::list(&state, caller.user_id, caller.session).await?;
    Ok(Json(SessionList { items }))
}

/// End one of the caller's sessions: its refresh token stops working (its
/// access tokens expire within their lifetime).
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "A session id from the list")),
    responses(
        (status = 204),
        (status = 404, body = ProblemBody, description = "`not-found`: no such session of the caller's")))]
pub async fn revoke_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Error> {
    sessions::revoke_one(&state, caller.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session of the caller but the current one (`?all=true`: every one).
#[utoipa::path(delete, path = "/api/v1/auth/sessions", tag = "sessions", security(("bearer" = [])),
    params(RevokeAllQuery),
    responses((status = 204), (status = 401, body = ProblemBody)))]
pub async fn revoke_all(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<RevokeAllQuery>,
) -> Result<StatusCode, Error> {
    let keep = if query.all { None } else { caller.session };
    sessions::revoke_all(&state, caller.user_id, keep).await?;
    Ok(StatusCode::NO_CONTENT)
}

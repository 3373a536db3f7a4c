use axum::{extract::State, http::StatusCode, response::IntoResponse};
use platform::{
    auth::AuthUser,
    extract::{Json, Path, Query},
    problem::ProblemBody,
};
use serde::Deserialize;
use uuid::Uuid;

use super::actor;
use crate::{
    access::{
        self as app, AccessExplanation, AccessLog, BreakGlassGrant, BreakGlassItem, BreakGlassQueue,
    },
    domain::access::ReviewOutcome,
    error::Error,
    store::break_glass::ReviewFilter,
    AppState,
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// The emergency, in a few words (at least 15 characters; stored encrypted,
    /// told to the patient and the privacy contact, read by the reviewer).
    pub reason: String,
    /// How long the read-only access lasts: 5–240 minutes; default 30
    /// (`RECORDS_BREAK_GLASS_MINUTES`).
    #[schema(minimum = 5, maximum = 240)]
    pub minutes: Option<i64>,
}

/// Read-only emergency access for a provider without an open care window:
/// time-limited (at most 4 hours), at most 3 grants per provider per rolling
/// 24 hours, every access flagged in the audit, each grant published as
/// `record.break_glass_granted` and reviewed by an admin.
#[utoipa::path(post, path = "/api/v1/patients/{id}/records/break-glass", operation_id = "break_glass", tag = "records", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")),
    request_body = BreakGlassRequest,
    responses(
        (status = 201, body = BreakGlassGrant),
        (status = 403, description = "forbidden: only providers, never for their own record", body = ProblemBody),
        (status = 404, description = "patient-not-found", body = ProblemBody),
        (status = 422, description = "validation-error on `reason` or `minutes`", body = ProblemBody),
        (status = 429, description = "break-glass-limit, with Retry-After (seconds until a grant leaves the 24-hour window)", body = ProblemBody,
            headers(("Retry-After" = u64, description = "Seconds until another grant fits"))),
    ))]
pub async fn break_glass(
    State(state): State<AppState>,
    user: AuthUser,
    Path(patient_id): Path<Uuid>,
    Json(body): Json<BreakGlassRequest>,
) -> Result<impl IntoResponse, Error> {
    let grant =
        app::break_glass(&state, actor(&user), patient_id, &body.reason, body.minutes).await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

/// When and why the calling provider's access to this patient's record ends:
/// an open care window (read and write), a break-glass grant (read-only) or
/// none. Providers only; not a record read, so not audited; an unknown patient
/// is answered like one without appointments.
#[utoipa::path(get, path = "/api/v1/patients/{id}/records/access", operation_id = "record_access", tag = "records", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, body = AccessExplanation), (status = 403, description = "forbidden: providers only", body = ProblemBody)))]
pub async fn access(
    State(state): State<AppState>,
    user: AuthUser,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<AccessExplanation>, Error> {
    app::explain_access(&state, actor(&user), patient_id)
        .await
        .map(Json)
}

/// Checked `limit` (1–100, default 50).
fn limit(limit: Option<i64>) -> Result<i64, Error> {
    let limit = limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("limit", "between 1 and 100"));
    }
    Ok(limit)
}

fn cursor<T: std::str::FromStr>(cursor: Option<String>) -> Result<Option<T>, Error> {
    cursor
        .map(|c| c.parse::<T>())
        .transpose()
        .map_err(|_| Error::invalid("cursor", "not a cursor from a previous page"))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewQueueQuery {
    /// `unreviewed` (default), `reviewed` or `all`.
    #[param(pattern = "^(unreviewed|reviewed|all)$")]
    pub status: Option<String>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The break-glass review queue, newest first (admins only). Reasons are
/// decrypted for the reviewer; each patient whose grants are listed gets a
/// `read_break_glass_reason` entry in their access log.
#[utoipa::path(get, path = "/api/v1/records/break-glass", operation_id = "break_glass_review_queue", tag = "records", security(("bearer" = [])),
    params(ReviewQueueQuery),
    responses((status = 200, body = BreakGlassQueue), (status = 403, description = "forbidden: admins only", body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn review_queue(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ReviewQueueQuery>,
) -> Result<Json<BreakGlassQueue>, Error> {
    let filter = match q.status.as_deref().unwrap_or("unreviewed") {
        "unreviewed" => ReviewFilter::Unreviewed,
        "reviewed" => ReviewFilter::Reviewed,
        "all" => ReviewFilter::All,
        _ => return Err(Error::invalid("status", "unreviewed, reviewed or all")),
    };
    let limit = limit(q.limit)?;
    let before = cursor::<Uuid>(q.cursor)?;
    app::review_queue(&state, actor(&user), filter, before, limit)
        .await
        .map(Json)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    #[schema(value_type = ReviewOutcome)]
    pub outcome: String,
    /// What the review found: 1–2000 characters (stored encrypted).
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
}

/// Review a break-glass grant (admins only), once: justified or unjustified,
/// with a note. Appended to the patient's access log as `break_glass_review`.
#[utoipa::path(post, path = "/api/v1/records/break-glass/{id}/review", operation_id = "review_break_glass", tag = "records", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Break-glass grant id")),
    request_body = ReviewRequest,
    responses(
        (status = 200, body = BreakGlassItem),
        (status = 403, description = "forbidden: admins only", body = ProblemBody),
        (status = 404, description = "break-glass-not-found", body = ProblemBody),
        (status = 409, description = "already-reviewed", body = ProblemBody),
        (status = 422, description = "validation-error on `outcome` or `note`", body = ProblemBody),
    ))]
pub async fn review(
    State(state): State<AppState>,
    user: AuthUser,
    Path(grant_id): Path<Uuid>,
    Json(body): Json<ReviewRequest>,
) -> Result<Json<BreakGlassItem>, Error> {
    app::review(&state, actor(&user), grant_id, &body.outcome, &body.note)
        .await
        .map(Json)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Who accessed the record, what and when, newest first; every entry says
/// whether break-glass allowed it (`break_glass`), a grant also when it ends
/// (`expires_at`). The patient themselves and admins.
#[utoipa::path(get, path = "/api/v1/patients/{id}/records/access-log", operation_id = "record_access_log", tag = "records", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id"), AccessLogQuery),
    responses((status = 200, body = AccessLog), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn access_log(
    State(state): State<AppState>,
    user: AuthUser,
    Path(patient_id): Path<Uuid>,
    Query(q): Query<AccessLogQuery>,
) -> Result<Json<AccessLog>, Error> {
    let limit = limit(q.limit)?;
    let before = cursor::<i64>(q.cursor)?;
    app::access_log(&state, actor(&user), patient_id, before, limit)
        .await
        .map(Json)
}

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::IntoResponse,
};
use platform::{
    auth::AuthUser,
    extract::{Json, Path, Query},
    problem::ProblemBody,
};
use serde::Deserialize;
use utoipa::openapi::{
    schema::{ObjectBuilder, Schema, Type},
    RefOr,
};
use uuid::Uuid;

use super::actor;
use crate::{
    domain::entries::{EntryData, Kind},
    entries::{self as app, EntryList, EntryView, ListParams},
    error::Error,
    AppState,
};

fn kind(segment: &str) -> Result<Kind, Error> {
    Kind::from_segment(segment).ok_or(Error::UnknownKind)
}

/// The `{kind}` path segment, documented as exactly the segments [`Kind`]
/// accepts (any other is 404), so clients and fuzzers see the real choices.
pub struct KindSegment;

impl utoipa::PartialSchema for KindSegment {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Kind::ALL.map(Kind::segment)))
            .into()
    }
}

impl utoipa::ToSchema for KindSegment {}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Also list entries marked entered in error (default false).
    pub include_entered_in_error: Option<bool>,
}

/// The latest version of each entry of one kind, newest first. `kind` is one of
/// `encounters`, `notes`, `diagnoses`, `allergies`, `medications`, `vitals`.
#[utoipa::path(get, path = "/api/v1/patients/{id}/records/{kind}", operation_id = "list_entries", tag = "records", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id"), ("kind" = inline(KindSegment), Path), ListQuery),
    responses((status = 200, body = EntryList), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody), (status = 500, description = "record-integrity-error", body = ProblemBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Path((patient_id, segment)): Path<(Uuid, String)>,
    Query(q): Query<ListQuery>,
) -> Result<Json<EntryList>, Error> {
    let kind = kind(&segment)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("limit", "between 1 and 100"));
    }
    let cursor = q
        .cursor
        .map(|c| c.parse::<Uuid>())
        .transpose()
        .map_err(|_| Error::invalid("cursor", "not a cursor from a previous page"))?;
    let params = ListParams {
        limit,
        cursor,
        include_entered_in_error: q.include_entered_in_error.unwrap_or(false),
    };
    app::list(&state, actor(&user), patient_id, kind, params)
        .await
        .map(Json)
}

/// Add an entry (providers with an open care window; break-glass is read-only). The body
/// is the kind's fields; notes over 20,000 characters, invalid ICD-10 codes,
/// units, ranges and dates are 422.
#[utoipa::path(post, path = "/api/v1/patients/{id}/records/{kind}", operation_id = "create_entry", tag = "records", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id"), ("kind" = inline(KindSegment), Path)),
    request_body = EntryData,
    responses((status = 201, body = EntryView), (status = 400, body = ProblemBody), (status = 403, description = "forbidden, or care-relationship-required (break-glass is read-only: writing needs an open care window)", body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Path((patient_id, segment)): Path<(Uuid, String)>,
    Json(body): Json<serde_json::Value>,
) -> Result<impl IntoResponse, Error> {
    let kind = kind(&segment)?;
    let view = app::create(&state, actor(&user), patient_id, kind, body).await?;
    let location = format!(
        "/api/v1/patients/{patient_id}/records/{}/{}",
        kind.segment(),
        view.id
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    ))
}

/// The latest version of one entry.
#[utoipa::path(get, path = "/api/v1/patients/{id}/records/{kind}/{entry_id}", operation_id = "get_entry", tag = "records", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id"), ("kind" = inline(KindSegment), Path), ("entry_id" = Uuid, Path)),
    responses((status = 200, body = EntryView), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    Path((patient_id, segment, entry_id)): Path<(Uuid, String, Uuid)>,
) -> Result<Json<EntryView>, Error> {
    let kind = kind(&segment)?;
    app::get(&state, actor(&user), patient_id, kind, entry_id)
        .await
        .map(Json)
}

/// `If-Match: "3"` (or `3`): the version the edit is based on.
fn if_match(headers: &HeaderMap) -> Result<Option<i32>, Error> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| Error::invalid("If-Match", "the version number the edit is based on"))
}

/// Edit: a new version with the full new content; earlier versions stay. Send
/// `If-Match` with the version you edited to be told (412) if someone else
/// edited it first.
#[utoipa::path(put, path = "/api/v1/patients/{id}/records/{kind}/{entry_id}", operation_id = "amend_entry", tag = "records", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id"), ("kind" = inline(KindSegment), Path), ("entry_id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version the edit is based on")),
    request_body = EntryData,
    responses((status = 200, body = EntryView), (status = 403, description = "forbidden, or care-relationship-required (break-glass is read-only: writing needs an open care window)", body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 412, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn amend(
    State(state): State<AppState>,
    user: AuthUser,
    Path((patient_id, segment, entry_id)): Path<(Uuid, String, Uuid)>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<EntryView>, Error> {
    let kind = kind(&segment)?;
    let expected = if_match(&headers)?;
    app::amend(
        &state,
        actor(&user),
        patient_id,
        kind,
        entry_id,
        body,
        expected,
    )
    .await
    .map(Json)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnteredInErrorRequest {
    /// Why the entry is wrong (1–1000 characters; stored encrypted).
    pub reason: String,
}

/// Mark an entry entered in error: a new version, flagged; nothing is deleted.
#[utoipa::path(post, path = "/api/v1/patients/{id}/records/{kind}/{entry_id}/entered-in-error", operation_id = "enter_entry_in_error", tag = "records", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id"), ("kind" = inline(KindSegment), Path), ("entry_id" = Uuid, Path)),
    request_body = EnteredInErrorRequest,
    responses((status = 200, body = EntryView), (status = 403, description = "forbidden, or care-relationship-required (break-glass is read-only: writing needs an open care window)", body = ProblemBody), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub async fn enter_in_error(
    State(state): State<AppState>,
    user: AuthUser,
    Path((patient_id, segment, entry_id)): Path<(Uuid, String, Uuid)>,
    Json(body): Json<EnteredInErrorRequest>,
) -> Result<Json<EntryView>, Error> {
    let kind = kind(&segment)?;
    app::enter_in_error(
        &state,
        actor(&user),
        patient_id,
        kind,
        entry_id,
        body.reason,
    )
    .await
    .map(Json)
}

/// Every version of one entry, oldest first.
#[utoipa::path(get, path = "/api/v1/patients/{id}/records/{kind}/{entry_id}/history", operation_id = "entry_history", tag = "records", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id"), ("kind" = inline(KindSegment), Path), ("entry_id" = Uuid, Path)),
    responses((status = 200, body = EntryList), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn history(
    State(state): State<AppState>,
    user: AuthUser,
    Path((patient_id, segment, entry_id)): Path<(Uuid, String, Uuid)>,
) -> Result<Json<EntryList>, Error> {
    let kind = kind(&segment)?;
    app::history(&state, actor(&user), patient_id, kind, entry_id)
        .await
        .map(Json)
}

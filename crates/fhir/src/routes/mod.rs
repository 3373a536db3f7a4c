//! The FHIR routes: one handler per interaction, dispatched by resource type,
//! every answer `application/fhir+json` and every error an OperationOutcome.

mod appointments;
mod caller;
mod clinical;
mod directory;
mod meta;
mod scheduling;
mod searching;

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, RawQuery, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use serde_json::Value;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

pub use caller::Caller;

use crate::{
    domain::{capability, outcome::Outcome, search::Params},
    AppState, Config, BASE_PATH,
};

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// A FHIR answer: status, resource, and headers such as `Location`.
pub struct Fhir {
    pub status: StatusCode,
    pub body: Value,
    pub location: Option<String>,
}

impl Fhir {
    pub fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            location: None,
        }
    }
}

impl IntoResponse for Fhir {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
            self.body.to_string(),
        )
            .into_response();
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Fhir {
            status,
            body: self.to_json(),
            location: None,
        }
        .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type Answer = Result<Fhir, Outcome>;

pub fn router(state: AppState, config: &Config) -> Router {
    let timeout = config.request_timeout;
    Router::new()
        .route(&format!("{BASE_PATH}/metadata"), get(meta::metadata))
        .route(
            &format!("{BASE_PATH}/.well-known/smart-configuration"),
            get(meta::smart_configuration),
        )
        .route(
            &format!("{BASE_PATH}/{{resource}}"),
            get(search).post(create),
        )
        .route(
            &format!("{BASE_PATH}/{{resource}}/{{id}}"),
            get(read).put(update).patch(patch),
        )
        .fallback(|| async { Outcome::new(404, "There is no such FHIR endpoint here.") })
        .method_not_allowed_fallback(|| async {
            Outcome::new(405, "This interaction is not supported on this resource.")
        })
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn(negotiate))
        .layer(middleware::from_fn(move |req, next| time_limit(timeout, req, next)))
        .layer(middleware::from_fn(|req, next| {
            platform::metrics::track_http("fhir", req, next)
        }))
        .layer(CatchPanicLayer::custom(|_| {
            Outcome::new(500, "Something went wrong on our side.").into_response()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The path only: query strings carry search terms (names).
            tracing::info_span!("request", service = "fhir", method = %req.method(), path = %req.uri().path())
        }))
        .layer(PropagateRequestIdLayer::new(platform::http::REQUEST_ID))
        .layer(SetRequestIdLayer::new(platform::http::REQUEST_ID, MakeRequestUuid))
}

async fn time_limit(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => Outcome::new(503, "The request took too long; try again.").into_response(),
    }
}

/// JSON is the one format: `_format` and `Accept` may ask for it (or for
/// anything); XML is 406, as is any other format named.
async fn negotiate(req: Request, next: Next) -> Response {
    let format = Params::parse(req.uri().query())
        .ok()
        .and_then(|p| p.one("_format").ok().flatten().map(str::to_owned));
    if let Some(format) = format {
        if !matches!(
            format.as_str(),
            "json" | "application/json" | "application/fhir+json"
        ) {
            return Outcome::new(
                406,
                format!("`_format={format}` is not served here; use json"),
            )
            .into_response();
        }
    } else if let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    {
        let json_ok = accept.split(',').any(|part| {
            let media = part.split(';').next().unwrap_or("").trim();
            matches!(
                media,
                "" | "*/*"
                    | "application/*"
                    | "application/json"
                    | "application/fhir+json"
                    | "application/json+fhir"
            )
        });
        if !json_ok {
            return Outcome::new(406, "Only application/fhir+json is served here.").into_response();
        }
    }
    next.run(req).await
}

/// Refuse what this server does not support on `resource` (404 for an
/// unknown type, 405 for an interaction it lacks), then what the caller's
/// scopes do not grant (403), before anything is looked up.
fn permitted(
    caller: &Caller,
    resource: &str,
    interaction: &str,
    scope: caller::Interaction,
) -> Result<(), Outcome> {
    if !capability::supports(resource, interaction) {
        return Err(unsupported(resource, interaction));
    }
    caller.may(resource, scope)
}

fn unsupported(resource: &str, interaction: &str) -> Outcome {
    if capability::SUPPORTED.iter().any(|s| s.resource == resource) {
        Outcome::new(
            405,
            format!("`{interaction}` is not supported on {resource} here"),
        )
    } else {
        Outcome::new(
            404,
            format!("{resource} is not a resource type this server supports"),
        )
    }
}

async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    permitted(
        &caller,
        &resource,
        "search-type",
        caller::Interaction::Search,
    )?;
    let params = Params::parse(query.as_deref()).map_err(Outcome::invalid)?;
    let ctx = searching::Search::new(&state, &caller, &resource, params)?;
    let bundle = match resource.as_str() {
        "Practitioner" => directory::search_practitioners(ctx).await,
        "PractitionerRole" => directory::search_roles(ctx).await,
        "Patient" => directory::search_patients(ctx).await,
        "Schedule" => scheduling::search_schedules(ctx).await,
        "Slot" => scheduling::search_slots(ctx).await,
        "Appointment" => appointments::search(ctx).await,
        "AuditEvent" => clinical::search_audit(ctx).await,
        _ => clinical::search(ctx).await,
    }?;
    Ok(Fhir::ok(bundle))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((resource, id)): Path<(String, String)>,
) -> Answer {
    permitted(&caller, &resource, "read", caller::Interaction::Read)?;
    let body = match resource.as_str() {
        "Practitioner" => directory::read_practitioner(&state, &caller, &id).await,
        "PractitionerRole" => directory::read_role(&state, &caller, &id).await,
        "Patient" => directory::read_patient(&state, &caller, &id).await,
        "Schedule" => scheduling::read_schedule(&state, &caller, &id).await,
        "Slot" => scheduling::read_slot(&state, &caller, &id).await,
        _ => appointments::read(&state, &caller, &id).await,
    }?;
    Ok(Fhir::ok(body))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(resource): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    permitted(&caller, &resource, "create", caller::Interaction::Create)?;
    let body = json_body(&headers, &body, false)?;
    appointments::create(&state, &caller, &headers, &body).await
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((resource, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    permitted(&caller, &resource, "update", caller::Interaction::Update)?;
    let body = json_body(&headers, &body, false)?;
    appointments::update(&state, &caller, &id, appointments::Change::Replace(body)).await
}

async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path((resource, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    permitted(&caller, &resource, "patch", caller::Interaction::Update)?;
    let body = json_body(&headers, &body, true)?;
    let patch: json_patch::Patch = serde_json::from_value(body)
        .map_err(|_| Outcome::invalid("the body is not a JSON Patch (RFC 6902) document"))?;
    appointments::update(&state, &caller, &id, appointments::Change::Patch(patch)).await
}

/// The body as JSON, after its content type: FHIR JSON (or plain JSON), or
/// for PATCH a JSON Patch.
fn json_body(headers: &HeaderMap, body: &[u8], patch: bool) -> Result<Value, Outcome> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let accepted: &[&str] = if patch {
        &["application/json-patch+json"]
    } else {
        &[
            "application/fhir+json",
            "application/json",
            "application/json+fhir",
        ]
    };
    if !accepted.contains(&media.as_str()) {
        return Err(Outcome::new(
            415,
            format!("send the body as {}", accepted.join(" or ")),
        ));
    }
    serde_json::from_slice(body).map_err(|_| Outcome::invalid("the body is not valid JSON"))
}

//! Records' HTTP API (thin handlers: extract, call, map). A patient's record
//! lives under `/api/v1/patients/{id}/records`; the admins' break-glass review
//! queue under `/api/v1/records/break-glass`. Responses are JSON only (clinical text
//! stays inert data) and carry `Cache-Control: no-store` (the shared shell).

mod access;
mod entries;

use axum::{
    routing::{get, post},
    Router,
};
use platform::auth::AuthUser;
use utoipa::OpenApi;

use crate::{domain::access::Actor, AppState};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/v1/patients/{id}/records/break-glass",
            post(access::break_glass),
        )
        .route(
            "/api/v1/patients/{id}/records/access-log",
            get(access::access_log),
        )
        .route("/api/v1/patients/{id}/records/access", get(access::access))
        .route("/api/v1/records/break-glass", get(access::review_queue))
        .route(
            "/api/v1/records/break-glass/{id}/review",
            post(access::review),
        )
        .route(
            "/api/v1/patients/{id}/records/{kind}",
            get(entries::list).post(entries::create),
        )
        .route(
            "/api/v1/patients/{id}/records/{kind}/{entry_id}",
            get(entries::get).put(entries::amend),
        )
        .route(
            "/api/v1/patients/{id}/records/{kind}/{entry_id}/entered-in-error",
            post(entries::enter_in_error),
        )
        .route(
            "/api/v1/patients/{id}/records/{kind}/{entry_id}/history",
            get(entries::history),
        )
        .with_state(state)
}

pub(crate) fn actor(user: &AuthUser) -> Actor {
    Actor::from(user)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Carebook records", description = "Clinical records (EHR): append-only entries encrypted at rest, access by care window (read and write) or read-only break-glass (limited, published and reviewed by admins), and an audited access log."),
    paths(
        entries::list, entries::create, entries::get, entries::amend, entries::enter_in_error, entries::history,
        access::break_glass, access::access_log, access::access, access::review_queue, access::review,
    ),
    components(schemas(
        crate::entries::EntryView, crate::entries::EntryList,
        crate::domain::entries::EntryData, crate::domain::entries::Kind, crate::domain::entries::Status,
        crate::domain::entries::Note, crate::domain::entries::Encounter, crate::domain::entries::Diagnosis,
        crate::domain::entries::ClinicalStatus, crate::domain::entries::Allergy, crate::domain::entries::Severity,
        crate::domain::entries::Medication, crate::domain::entries::Vitals,
        crate::domain::vitals::Reading, crate::domain::vitals::VitalKind,
        crate::access::BreakGlassGrant, crate::access::AccessLog, crate::audit::AccessLogEntry,
        crate::access::AccessExplanation, crate::domain::access::Basis,
        crate::access::BreakGlassQueue, crate::access::BreakGlassItem, crate::access::BreakGlassReview,
        crate::domain::access::ReviewOutcome,
        entries::EnteredInErrorRequest, access::BreakGlassRequest, access::ReviewRequest,
        platform::problem::ProblemBody,
    )),
    tags((name = "records", description = "Clinical records"))
)]
pub struct ApiDoc;

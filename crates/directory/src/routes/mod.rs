//! The directory's HTTP API (thin handlers: extract, call, map).

mod patients;
mod providers;

use axum::{
    routing::{get, put},
    Router,
};
use utoipa::OpenApi;

use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/providers", get(providers::list))
        .route(
            "/api/v1/providers/{id}",
            get(providers::get).put(providers::update),
        )
        .route("/api/v1/patients", get(patients::search))
        .route(
            "/api/v1/patients/me",
            get(patients::get_me).put(patients::update_me),
        )
        .route(
            "/api/v1/patients/me/preferred-provider",
            put(patients::set_preferred_provider).delete(patients::clear_preferred_provider),
        )
        .route(
            "/api/v1/patients/{id}",
            get(patients::get).put(patients::update),
        )
        .route("/api/v1/patients/{id}/summary", get(patients::summary))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Carebook directory", description = "Provider profiles (search, specialties, time zones) and patient profiles (contact, insurance, preferred provider)."),
    paths(
        providers::list, providers::get, providers::update,
        patients::get_me, patients::update_me, patients::set_preferred_provider,
        patients::clear_preferred_provider, patients::search, patients::get, patients::update,
        patients::summary,
    ),
    components(schemas(
        crate::providers::Provider,
        crate::providers::ProviderPage,
        crate::patients::Patient,
        crate::patients::PatientSummary,
        crate::patients::PatientPage,
        crate::domain::patient::Address,
        crate::domain::patient::Insurance,
        providers::ProviderUpdateRequest,
        patients::PatientUpdateRequest,
        patients::PreferredProviderRequest,
        platform::problem::ProblemBody,
    )),
    tags(
        (name = "providers", description = "Provider directory"),
        (name = "patients", description = "Patient profiles, summaries and the front desk's search"),
    )
)]
pub struct ApiDoc;

//! The two public documents: what this server supports, and how to get a
//! token for it (SMART App Launch's `.well-known/smart-configuration`).

use axum::extract::State;
use serde_json::json;

use super::Fhir;
use crate::{domain::capability, AppState};

/// When this build's statement was last changed (FHIR wants a date).
const STATEMENT_DATE: &str = "2026-12-03";

pub async fn metadata(State(state): State<AppState>) -> Fhir {
    Fhir::ok(capability::statement(
        &state.base,
        &state.public,
        env!("CARGO_PKG_VERSION"),
        STATEMENT_DATE,
    ))
}

pub async fn smart_configuration(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    let public = &state.public;
    axum::Json(json!({
        "issuer": public,
        "authorization_endpoint": format!("{public}/login"),
        "token_endpoint": format!("{public}/api/v1/auth/login"),
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint": format!("{public}/api/v1/auth/logout"),
        "grant_types_supported": ["password", "refresh_token"],
        "refresh_endpoint": format!("{public}/api/v1/auth/refresh"),
        "scopes_supported": platform::auth::smart::SUPPORTED,
        "response_types_supported": ["token"],
        "capabilities": ["permission-v2", "permission-v1", "permission-patient", "permission-user", "client-public"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::IntoResponse,
};
use platform::extract::Json;

use crate::AppState;

/// The public keys access tokens are signed with (RFC 7517).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, description = "JWK set")))]
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        Json(state.keys.jwks().clone()),
    )
}

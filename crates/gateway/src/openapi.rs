//! One OpenAPI document for the whole public API, merged from every service's
//! own `/openapi.json`, so clients and fuzzers see exactly what is deployed.

use std::{sync::Arc, time::Duration};

use axum::{extract::State, response::IntoResponse};
use platform::extract::Json;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};

use crate::Gateway;

pub async fn aggregated(State(gw): State<Arc<Gateway>>) -> impl IntoResponse {
    let mut doc: OpenApi = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Carebook API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Every service's public API, as routed by the gateway.",
                )),
        )
        .build();
    for pool in gw.pools.values() {
        let Some(replica) = pool.replicas().iter().find(|r| r.is_healthy()) else {
            continue;
        };
        let fetched = gw
            .http
            .get(format!("{}/openapi.json", replica.base))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        match fetched {
            Ok(r) => match r.json::<OpenApi>().await {
                Ok(part) => doc.merge(part),
                Err(e) => {
                    tracing::warn!(service = %pool.service, error = %e, "unreadable OpenAPI document")
                }
            },
            Err(e) => {
                tracing::warn!(service = %pool.service, error = %e, "OpenAPI document unavailable")
            }
        }
    }
    Json(doc)
}

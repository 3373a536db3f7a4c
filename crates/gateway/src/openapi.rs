//! One OpenAPI document for the whole public API, merged from every service's
//! own `/openapi.json`, so clients and fuzzers see exactly what is deployed.
//!
//! The document is built in the background, at start and then every
//! `GATEWAY_OPENAPI_REFRESH_MS` (sooner while a service's part is missing),
//! and served from that cache: a request never fetches from the services. A
//! service that cannot be reached keeps the part it last gave (stale but
//! present beats none).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use serde_json::Value;
use tokio::sync::watch;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};

use crate::{domain::routing::RouteTable, upstream::Pool, Gateway};

/// How long a request waits for the very first document.
const FIRST_BUILD_WAIT: Duration = Duration::from_secs(5);
/// How soon a missing part is asked for again.
const MISSING_RETRY: Duration = Duration::from_secs(5);
/// How long one service may take to hand over its document, and how large it may be.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
const FETCH_LIMIT: usize = 8 * 1024 * 1024;

/// The merged document, serialized, once built.
pub struct Cache {
    current: watch::Sender<Option<Bytes>>,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            current: watch::Sender::new(None),
        }
    }
}

impl Cache {
    /// The document, waiting up to `wait` for the first one.
    pub async fn get(&self, wait: Duration) -> Option<Bytes> {
        let mut rx = self.current.subscribe();
        let ready = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        match ready {
            Ok(Ok(doc)) => doc.clone(),
            _ => None,
        }
    }

    fn set(&self, doc: Bytes) {
        self.current.send_replace(Some(doc));
    }
}

pub async fn aggregated(State(gw): State<Arc<Gateway>>) -> Response {
    match gw.openapi.get(FIRST_BUILD_WAIT).await {
        Some(doc) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            doc,
        )
            .into_response(),
        None => platform::Problem::unavailable(
            "The API description is being assembled; try again shortly.",
        )
        .with_retry_after(2)
        .into_response(),
    }
}

/// Build the document now and then every `every` (every few seconds while a
/// part is missing) until cancelled.
pub async fn refresh(
    gw: Arc<Gateway>,
    every: Duration,
    cancel: platform::shutdown::CancellationToken,
) {
    let mut parts: BTreeMap<String, OpenApi> = BTreeMap::new();
    let mut failing: BTreeSet<String> = BTreeSet::new();
    loop {
        // By name, so the same services always give the same document; only
        // services the API routes to have a part (not the portal or fhir).
        let mut pools: Vec<&Arc<Pool>> = gw
            .pools
            .values()
            .filter(|pool| gw.routes.serves_api(&pool.service))
            .collect();
        pools.sort_by(|a, b| a.service.cmp(&b.service));
        for pool in pools {
            match fetch(pool).await {
                Ok(part) => {
                    failing.remove(&pool.service);
                    parts.insert(pool.service.clone(), part);
                }
                // Said once per outage; the previous part (if any) stays.
                Err(why) if failing.insert(pool.service.clone()) => {
                    tracing::warn!(service = %pool.service, why, "OpenAPI document unavailable")
                }
                Err(why) => {
                    tracing::debug!(service = %pool.service, why, "OpenAPI document unavailable")
                }
            }
        }
        match serde_json::to_vec(&document(&parts, &gw.routes)) {
            Ok(doc) => gw.openapi.set(Bytes::from(doc)),
            Err(e) => tracing::error!(error = %e, "the merged OpenAPI document does not serialize"),
        }
        let next = if failing.is_empty() {
            every
        } else {
            every.min(MISSING_RETRY)
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(next) => {}
        }
    }
}

/// One service's document, from the first available replica that gives one.
async fn fetch(pool: &Pool) -> Result<OpenApi, &'static str> {
    let replicas = pool.replicas();
    let mut why = "no replica";
    for replica in replicas.iter().filter(|r| r.is_available()) {
        match replica
            .fetch("/openapi.json", FETCH_TIMEOUT, FETCH_LIMIT)
            .await
        {
            Some((status, body)) if status.is_success() => match serde_json::from_slice(&body) {
                Ok(doc) => return Ok(doc),
                Err(_) => why = "unreadable document",
            },
            Some(_) => why = "error status",
            None => why = "no answer",
        }
    }
    Err(why)
}

/// The merged document of `parts` (by service).
fn document(parts: &BTreeMap<String, OpenApi>, routes: &RouteTable) -> OpenApi {
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
    for (service, part) in parts {
        merge(&mut doc, part.clone(), service, routes);
    }
    // Every routed request passes the gateway's rate limiter first.
    platform::openapi::add_to_every_operation(
        &mut doc,
        429,
        "Rate limit exceeded (`rate-limited`); retry after `Retry-After` seconds",
    );
    doc
}

/// Add `service`'s document to `doc`: only the paths the gateway routes to that
/// service, and with its schemas renamed where another service already uses the
/// name for a different schema (`Status` of appointments and of record entries),
/// so neither document's references silently point at the other's schema.
fn merge(doc: &mut OpenApi, mut part: OpenApi, service: &str, routes: &RouteTable) {
    part.paths
        .paths
        .retain(|path, _| routes.find(path).is_some_and(|r| r.service == service));
    let clashing: Vec<String> = match (&doc.components, &part.components) {
        (Some(ours), Some(theirs)) => theirs
            .schemas
            .iter()
            .filter(|(name, schema)| {
                ours.schemas.get(*name).is_some_and(|existing| {
                    serde_json::to_value(existing).ok() != serde_json::to_value(schema).ok()
                })
            })
            .map(|(name, _)| name.clone())
            .collect(),
        _ => Vec::new(),
    };
    if !clashing.is_empty() {
        match rename_schemas(&part, &clashing, service) {
            Ok(renamed) => part = renamed,
            Err(e) => {
                tracing::warn!(%service, error = %e, "could not rename clashing schemas");
            }
        }
    }
    doc.merge(part);
}

/// `part` with each schema in `names` called `<Service><Name>`, references included.
fn rename_schemas(
    part: &OpenApi,
    names: &[String],
    service: &str,
) -> Result<OpenApi, serde_json::Error> {
    let prefix: String = service
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let new_name = |name: &str| format!("{prefix}{name}");
    let mut value = serde_json::to_value(part)?;
    if let Some(schemas) = value
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for name in names {
            if let Some(schema) = schemas.remove(name) {
                schemas.insert(new_name(name), schema);
            }
        }
    }
    let refs: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            (
                format!("#/components/schemas/{n}"),
                format!("#/components/schemas/{}", new_name(n)),
            )
        })
        .collect();
    rewrite_refs(&mut value, &refs);
    serde_json::from_value(value)
}

fn rewrite_refs(value: &mut Value, refs: &[(String, String)]) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if key == "$ref" => {
                        if let Some((_, to)) = refs.iter().find(|(from, _)| from == s) {
                            *s = to.clone();
                        }
                    }
                    other => rewrite_refs(other, refs),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, refs)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(paths: &[&str], status_enum: &[&str]) -> OpenApi {
        let paths: serde_json::Map<String, Value> = paths
            .iter()
            .map(|p| {
                let op = serde_json::json!({"get": {"responses": {"200": {"description": "", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}}}});
                (p.to_string(), op)
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": paths,
            "components": {"schemas": {
                "Status": {"type": "string", "enum": status_enum},
                "ProblemBody": {"type": "object"},
            }},
        }))
        .unwrap()
    }

    fn routes() -> RouteTable {
        RouteTable::parse(
            crate::domain::routing::DEFAULT_ROUTES,
            Duration::from_secs(1),
        )
        .unwrap()
    }

    #[test]
    fn a_schema_name_two_services_use_differently_keeps_both() {
        let mut doc = OpenApiBuilder::new().build();
        merge(
            &mut doc,
            part(&["/api/v1/appointments/{id}"], &["booked", "cancelled"]),
            "scheduling",
            &routes(),
        );
        merge(
            &mut doc,
            part(
                &["/api/v1/patients/{id}/records/{kind}"],
                &["active", "entered_in_error"],
            ),
            "records",
            &routes(),
        );
        let v = serde_json::to_value(&doc).unwrap();
        let schemas = &v["components"]["schemas"];
        assert_eq!(schemas["Status"]["enum"][0], "booked");
        assert_eq!(schemas["RecordsStatus"]["enum"][0], "active");
        assert!(
            schemas.get("RecordsProblemBody").is_none(),
            "identical schemas are shared"
        );
        let schema_of = |path: &str| {
            v["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
                ["$ref"]
                .clone()
        };
        assert_eq!(
            schema_of("/api/v1/appointments/{id}"),
            "#/components/schemas/Status"
        );
        assert_eq!(
            schema_of("/api/v1/patients/{id}/records/{kind}"),
            "#/components/schemas/RecordsStatus"
        );
    }

    #[test]
    fn only_paths_routed_to_the_service_are_published() {
        let mut doc = OpenApiBuilder::new().build();
        merge(
            &mut doc,
            part(
                &["/api/v1/appointments", "/api/v1/invoices", "/internal/x"],
                &["booked"],
            ),
            "scheduling",
            &routes(),
        );
        let paths: Vec<&String> = doc.paths.paths.keys().collect();
        assert_eq!(paths, ["/api/v1/appointments"]);
    }
}

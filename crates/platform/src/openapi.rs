//! What every service's OpenAPI document gains from the shared shell, so the
//! document served at `/openapi.json` describes every response a client can
//! get, not only those a handler's annotation names.
//!
//! A handler documents its own outcomes (200, 404, 409, its own 403 and 422).
//! The shell and the shared extractors add the rest: a malformed path, query or
//! JSON body is 400, a missing or bad token 401, a body of the wrong shape 422,
//! without `Content-Type: application/json` 415, too large 413, and every one of
//! them is `application/problem+json`.

use utoipa::{
    openapi::{
        path::{Operation, ParameterIn, PathItem},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        Content, OpenApi, RefOr, Response,
    },
    PartialSchema, ToSchema,
};

use crate::problem::ProblemBody;

/// Media type of every error body ([`crate::Problem`]).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A service's document as it serves it: the bearer scheme declared, unique
/// operation ids, error bodies as problem+json and the shell's responses added.
pub fn complete(mut doc: OpenApi) -> OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    let scheme = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .build();
    components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    let mut schemas = vec![(ProblemBody::name().into_owned(), ProblemBody::schema())];
    ProblemBody::schemas(&mut schemas);
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations_mut(item) {
            op.operation_id = Some(operation_id(method, path));
            problems_as_problem_json(op);
            add_shell_responses(op);
        }
    }
    doc
}

/// Document a problem+json answer with `status` on every operation that has
/// none for it (the gateway's 429, say).
pub fn add_to_every_operation(doc: &mut OpenApi, status: u16, description: &str) {
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            add_problem(op, status, description);
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
        ("head", item.head.as_mut()),
        ("options", item.options.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
}

/// `get_appointments_by_id_cancel` from `GET /api/v1/appointments/{id}/cancel`:
/// unique in the merged document, where handler names (`get`, `list`) repeat.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    let is_version =
        |s: &str| s.len() > 1 && s.starts_with('v') && s[1..].chars().all(|c| c.is_ascii_digit());
    for segment in path
        .split('/')
        .filter(|s| !s.is_empty() && *s != "api" && !is_version(s))
    {
        id.push('_');
        let segment = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => format!("by_{param}"),
            None => segment.trim_start_matches('.').to_owned(),
        };
        id.extend(segment.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        }));
    }
    id
}

/// Error responses are problem+json ([`crate::Problem`] sets that type);
/// handlers' annotations say `application/json` because that is utoipa's default.
fn problems_as_problem_json(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if status.starts_with('2') {
            continue;
        }
        if let Some(content) = response.content.shift_remove("application/json") {
            response.content.insert(PROBLEM_JSON.to_owned(), content);
        }
    }
}

fn add_shell_responses(op: &mut Operation) {
    let has_params = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query));
    let has_body = op.request_body.is_some();
    if has_params || has_body {
        add_problem(
            op,
            400,
            "Malformed path or query parameter, or malformed JSON (`invalid-path`, `invalid-query`, `malformed-json`)",
        );
    }
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        add_problem(
            op,
            401,
            "Missing, invalid or expired access token (`unauthorized`)",
        );
    }
    if has_body {
        add_problem(op, 413, "Request body too large (`payload-too-large`)");
        add_problem(
            op,
            415,
            "The body is not `application/json` (`unsupported-media-type`)",
        );
        add_problem(
            op,
            422,
            "The body does not have the expected fields (`invalid-body`)",
        );
    }
}

fn add_problem(op: &mut Operation, status: u16, description: &str) {
    let problem = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(ProblemBody::name()));
    let mut response = Response::new(description);
    response
        .content
        .insert(PROBLEM_JSON.to_owned(), Content::new(Some(problem)));
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert(RefOr::T(response));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(utoipa::OpenApi)]
    #[openapi(paths(get_thing, put_thing))]
    struct Doc;

    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Thing {
        name: String,
    }

    #[utoipa::path(get, path = "/api/v1/things/{id}", params(("id" = uuid::Uuid, Path)),
        responses((status = 200, body = String), (status = 404, body = ProblemBody)))]
    #[allow(dead_code)]
    fn get_thing() {}

    #[utoipa::path(put, path = "/api/v1/things/{id}", request_body = Thing, security(("bearer" = [])),
        params(("id" = uuid::Uuid, Path)), responses((status = 200, body = String)))]
    #[allow(dead_code)]
    fn put_thing() {}

    fn statuses(doc: &OpenApi, method: &str) -> Vec<String> {
        let item = &doc.paths.paths["/api/v1/things/{id}"];
        let op = if method == "get" {
            item.get.as_ref()
        } else {
            item.put.as_ref()
        };
        op.unwrap().responses.responses.keys().cloned().collect()
    }

    #[test]
    fn errors_are_problem_json_and_the_shells_responses_are_documented() {
        use utoipa::OpenApi as _;
        let doc = complete(Doc::openapi());
        assert_eq!(statuses(&doc, "get"), ["200", "400", "404"]);
        assert_eq!(
            statuses(&doc, "put"),
            ["200", "400", "401", "413", "415", "422"]
        );
        let get = doc.paths.paths["/api/v1/things/{id}"].get.as_ref().unwrap();
        let RefOr::T(not_found) = &get.responses.responses["404"] else {
            panic!()
        };
        assert_eq!(not_found.content.keys().collect::<Vec<_>>(), [PROBLEM_JSON]);
        let RefOr::T(ok) = &get.responses.responses["200"] else {
            panic!()
        };
        assert!(ok.content.contains_key("text/plain"));
        let components = doc.components.unwrap();
        assert!(components.schemas.contains_key("ProblemBody"));
        assert!(components.schemas.contains_key("FieldError"));
        assert!(components.security_schemes.contains_key("bearer"));
    }

    #[test]
    fn operation_ids_come_from_method_and_path() {
        assert_eq!(
            operation_id("post", "/api/v1/appointments/{id}/check-in"),
            "post_appointments_by_id_check_in"
        );
        assert_eq!(
            operation_id("get", "/.well-known/jwks.json"),
            "get_well_known_jwks_json"
        );
        use utoipa::OpenApi as _;
        let doc = complete(Doc::openapi());
        let item = &doc.paths.paths["/api/v1/things/{id}"];
        assert_eq!(
            item.get.as_ref().unwrap().operation_id.as_deref(),
            Some("get_things_by_id")
        );
        assert_eq!(
            item.put.as_ref().unwrap().operation_id.as_deref(),
            Some("put_things_by_id")
        );
    }
}

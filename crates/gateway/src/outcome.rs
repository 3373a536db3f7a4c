//! The gateway's own refusals on the FHIR API (no token, rate limited, too
//! large, the service unreachable), said as FHIR says errors: an
//! OperationOutcome in `application/fhir+json`. FHIR clients do not read
//! problem+json; the fhir service answers everything else itself.

use axum::{
    body::{to_bytes, Body},
    http::{header, HeaderValue},
    response::Response,
};
use serde_json::Value;

/// A problem body larger than this is not one of ours: left as it is.
const PROBLEM_LIMIT: usize = 64 * 1024;

/// `response` with a problem+json body turned into an OperationOutcome, with
/// the same status and headers; any other response unchanged.
pub async fn for_fhir(response: Response) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let problem: Value = match to_bytes(body, PROBLEM_LIMIT).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let outcome = outcome(parts.status.as_u16(), &problem).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(outcome))
}

/// The OperationOutcome of a problem answered with `status`, as the fhir
/// service says the REST API's problems (one definition).
pub fn outcome(status: u16, problem: &Value) -> Value {
    fhir::domain::outcome::Outcome::from_problem(status, problem).to_json()
}

#[cfg(test)]
mod tests {
    use axum::{http::StatusCode, response::IntoResponse};
    use platform::Problem;

    use serde_json::json;

    use super::*;

    async fn body(response: Response) -> Value {
        let bytes = to_bytes(response.into_body(), PROBLEM_LIMIT).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_missing_token_is_a_login_outcome_with_its_headers() {
        let problem = Problem::unauthorized("Send an access token.").into_response();
        let challenge = problem.headers().get(header::WWW_AUTHENTICATE).cloned();
        let r = for_fhir(problem).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/fhir+json");
        assert_eq!(
            r.headers().get(header::WWW_AUTHENTICATE).cloned(),
            challenge
        );
        let outcome = body(r).await;
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["severity"], "error");
        assert_eq!(outcome["issue"][0]["code"], "login");
        assert_eq!(outcome["issue"][0]["diagnostics"], "Send an access token.");
    }

    #[tokio::test]
    async fn rate_limits_and_outages_keep_their_status_and_retry_hint() {
        let r = for_fhir(Problem::too_many_requests(3).into_response()).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key(header::RETRY_AFTER));
        let outcome = body(r).await;
        assert_eq!(outcome["issue"][0]["code"], "throttled");
        assert_eq!(
            outcome["issue"][0]["details"]["coding"][0]["code"],
            "rate-limited"
        );
        let r = for_fhir(Problem::unavailable("Try again.").into_response()).await;
        assert_eq!(body(r).await["issue"][0]["code"], "transient");
    }

    #[tokio::test]
    async fn fhir_answers_pass_untouched() {
        let resource = json!({"resourceType": "Bundle", "type": "searchset", "total": 0});
        let r = Response::builder()
            .header(header::CONTENT_TYPE, "application/fhir+json")
            .body(Body::from(resource.to_string()))
            .unwrap();
        let r = for_fhir(r).await;
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/fhir+json");
        assert_eq!(body(r).await, resource);
    }

    #[test]
    fn a_bare_status_is_an_outcome_without_details() {
        let outcome = outcome(404, &Value::Null);
        assert_eq!(outcome["issue"][0]["code"], "not-found");
        assert!(outcome["issue"][0].get("details").is_none());
    }
}

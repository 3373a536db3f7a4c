//! The gateway's own refusals on the FHIR API (no token, rate limited, too
//! large, the service unreachable), said as FHIR says errors: an
//! OperationOutcome in `application/fhir+json`. FHIR clients do not read
//! problem+json; the fhir service answers everything else itself.

use axum::{
    body::{to_bytes, Body},
    http::{header, HeaderValue},
    response::Response,
};
use platform::problem::PROBLEM_BASE;
use serde_json::{json, Value};

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

/// The OperationOutcome of a problem answered with `status`: the issue type
/// for the status (FHIR's RESTful API table, as the fhir service uses it),
/// the problem's detail (or title) as diagnostics and its kind as a code.
pub fn outcome(status: u16, problem: &Value) -> Value {
    let diagnostics = problem["detail"]
        .as_str()
        .or_else(|| problem["title"].as_str())
        .unwrap_or("The request was refused.");
    let mut issue = json!({
        "severity": "error",
        "code": issue_code(status),
        "diagnostics": diagnostics,
    });
    if let Some(kind) = problem["type"]
        .as_str()
        .and_then(|t| t.strip_prefix(PROBLEM_BASE))
    {
        issue["details"] = json!({
            "coding": [{"system": PROBLEM_BASE.trim_end_matches('/'), "code": kind}],
            "text": diagnostics,
        });
    }
    json!({"resourceType": "OperationOutcome", "issue": [issue]})
}

/// `http://hl7.org/fhir/issue-type` for an HTTP status.
fn issue_code(status: u16) -> &'static str {
    match status {
        400 => "invalid",
        401 => "login",
        403 => "forbidden",
        404 | 410 => "not-found",
        405 | 406 | 415 => "not-supported",
        409 | 412 => "conflict",
        413 => "too-costly",
        422 => "processing",
        429 => "throttled",
        502..=504 => "transient",
        _ => "exception",
    }
}

#[cfg(test)]
mod tests {
    use axum::{http::StatusCode, response::IntoResponse};
    use platform::Problem;

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
    fn every_status_has_an_issue_type() {
        assert_eq!(issue_code(413), "too-costly");
        assert_eq!(issue_code(405), "not-supported");
        assert_eq!(issue_code(502), "transient");
        assert_eq!(issue_code(500), "exception");
        let outcome = outcome(404, &Value::Null);
        assert_eq!(outcome["issue"][0]["code"], "not-found");
        assert!(outcome["issue"][0].get("details").is_none());
    }
}

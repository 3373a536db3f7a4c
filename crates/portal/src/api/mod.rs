//! The portal's only way to data: the public API behind the gateway, called
//! with the signed-in user's bearer token. Requests are plain data
//! ([`ApiRequest`]) so a call can be repeated after a token refresh.

pub mod models;

use std::time::Duration;

use reqwest::{header, Method, StatusCode};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// One call to the API.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    pub method: Method,
    /// Path and nothing else (`/api/v1/appointments`); ids are formatted in by callers.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
    pub idempotency_key: Option<String>,
    /// `If-Match`: the version an edit is based on (records' amendments).
    pub if_match: Option<String>,
}

impl ApiRequest {
    fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            idempotency_key: None,
            if_match: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// A DELETE with a body (turning the authenticator off takes a code).
    pub fn delete_with(path: impl Into<String>, body: &impl Serialize) -> Self {
        Self::new(Method::DELETE, path).json(body)
    }

    pub fn post(path: impl Into<String>, body: &impl Serialize) -> Self {
        Self::new(Method::POST, path).json(body)
    }

    pub fn put(path: impl Into<String>, body: &impl Serialize) -> Self {
        Self::new(Method::PUT, path).json(body)
    }

    pub fn patch(path: impl Into<String>, body: &impl Serialize) -> Self {
        Self::new(Method::PATCH, path).json(body)
    }

    fn json(mut self, body: &impl Serialize) -> Self {
        // Our own request types always serialize; `Null` would be a 422 we'd see in tests.
        self.body = Some(serde_json::to_value(body).unwrap_or(serde_json::Value::Null));
        self
    }

    /// Add a query parameter (skipped when `value` is empty).
    pub fn query(mut self, name: &'static str, value: impl ToString) -> Self {
        let value = value.to_string();
        if !value.is_empty() {
            self.query.push((name, value));
        }
        self
    }

    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Edit only if `version` is still the latest (412 otherwise).
    pub fn if_match(mut self, version: i32) -> Self {
        self.if_match = Some(format!("\"{version}\""));
        self
    }
}

/// Where the browser's request came from, passed on so the gateway limits and
/// logs per person, not per portal replica.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// `X-Forwarded-For` as the portal passes it on: what it received plus its peer.
    pub forwarded_for: Option<String>,
    pub request_id: Option<String>,
    /// The browser's `User-Agent`, so a user's list of sessions names their
    /// browsers rather than the portal.
    pub user_agent: Option<String>,
}

/// The problem+json body of an API error (RFC 9457), as far as the portal reads it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ProblemBody {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub errors: Vec<FieldProblem>,
    /// The problem's own members (RFC 9457 §3.2): what is in the way
    /// (`conflicts` of `availability-conflicts`, `occurrences` of `series-conflicts`);
    /// boxed so every `Result` carrying an [`ApiError`] stays small (the
    /// reason `retry_after` is a `u32` too).
    #[serde(flatten)]
    pub extensions: Box<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl ProblemBody {
    /// The stable last segment of the `type` URI (`slot-taken`).
    pub fn code(&self) -> &str {
        self.kind.rsplit('/').next().unwrap_or_default()
    }

    /// The extension member `name` read as `T` (`None` when absent or not a `T`).
    pub fn member<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        serde_json::from_value(self.extensions.get(name)?.clone()).ok()
    }
}

/// Why an API call did not give what was asked for.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API answered with an error status (and, usually, a problem body).
    #[error("API answered {status}")]
    Status {
        status: StatusCode,
        problem: Option<ProblemBody>,
        retry_after: Option<u32>,
    },
    /// The API could not be reached or did not answer in time.
    #[error("API unreachable: {0}")]
    Unreachable(String),
    /// The API answered 2xx with a body we could not read.
    #[error("unexpected API response: {0}")]
    Unexpected(String),
}

impl ApiError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn problem(&self) -> Option<&ProblemBody> {
        match self {
            ApiError::Status { problem, .. } => problem.as_ref(),
            _ => None,
        }
    }

    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(StatusCode::UNAUTHORIZED)
    }

    /// The stable code of the problem (`invalid-mfa-code`), if the API sent one.
    pub fn code(&self) -> Option<&str> {
        self.problem().map(ProblemBody::code)
    }

    /// A 401 about the bearer token itself (expired, revoked, missing), which
    /// a token refresh may cure — not a 401 about what the request carried
    /// (a wrong second-factor code), which a retry would only count again.
    pub fn is_token_refused(&self) -> bool {
        self.is_unauthorized()
            && self
                .code()
                .is_none_or(|c| c == "unauthorized" || c.is_empty())
    }
}

/// The HTTP client for the gateway (pooled; cheap to clone).
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
}

impl ApiClient {
    /// A client of the API at `base`; with `tls`, over mTLS (the gateway's
    /// internal listener trusts only the internal CA's certificates).
    pub fn new(
        base: &str,
        timeout: Duration,
        tls: Option<&std::sync::Arc<platform::tls::TlsIdentity>>,
    ) -> anyhow::Result<Self> {
        let http = platform::tls::api_client(tls, timeout)?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// Send `req`, with `token` as bearer when given; the body of a 2xx answer
    /// is returned as is (empty for 204).
    pub async fn send(
        &self,
        req: &ApiRequest,
        token: Option<&str>,
        origin: &Origin,
    ) -> Result<Answer, ApiError> {
        let url = format!("{}{}", self.base, req.path);
        let mut builder = self
            .http
            .request(req.method.clone(), url)
            .header(header::ACCEPT, "application/json");
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        if let Some(token) = token {
            builder = builder.bearer_auth(token);
        }
        if let Some(key) = &req.idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        if let Some(version) = &req.if_match {
            builder = builder.header(header::IF_MATCH, version);
        }
        if let Some(xff) = &origin.forwarded_for {
            builder = builder.header("x-forwarded-for", xff);
        }
        if let Some(id) = &origin.request_id {
            builder = builder.header("x-request-id", id);
        }
        if let Some(agent) = &origin.user_agent {
            builder = builder.header(header::USER_AGENT, agent);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| ApiError::Unreachable(without_url(e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiError::Unreachable(without_url(e)))?;
        if status.is_success() {
            return Ok(Answer(bytes.to_vec()));
        }
        Err(ApiError::Status {
            status,
            problem: serde_json::from_slice(&bytes).ok(),
            retry_after,
        })
    }

    /// [`Self::send`] and read the answer as JSON.
    pub async fn json<T: DeserializeOwned>(
        &self,
        req: &ApiRequest,
        token: Option<&str>,
        origin: &Origin,
    ) -> Result<T, ApiError> {
        self.send(req, token, origin).await?.json()
    }
}

/// reqwest's errors name the URL, which may carry search terms: keep only the kind.
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

/// A successful answer's raw body (empty for 204).
#[derive(Debug)]
pub struct Answer(Vec<u8>);

impl Answer {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.0).map_err(|e| ApiError::Unexpected(e.to_string()))
    }

    /// [`Self::json`], or `T::default()` for an empty body (a 204).
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.0.is_empty() {
            Ok(T::default())
        } else {
            self.json()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_query_values_are_left_out() {
        let req = ApiRequest::get("/api/v1/providers")
            .query("q", "")
            .query("specialty", "cardiology");
        assert_eq!(req.query, vec![("specialty", "cardiology".to_owned())]);
    }

    #[test]
    fn only_a_refused_token_is_worth_a_refresh() {
        let refused = |problem: Option<&str>| ApiError::Status {
            status: StatusCode::UNAUTHORIZED,
            problem: problem.map(|code| ProblemBody {
                kind: format!("https://carebook.dev/problems/{code}"),
                ..ProblemBody::default()
            }),
            retry_after: None,
        };
        assert!(refused(None).is_token_refused());
        assert!(refused(Some("unauthorized")).is_token_refused());
        assert!(!refused(Some("invalid-mfa-code")).is_token_refused());
        assert!(!refused(Some("invalid-credentials")).is_token_refused());
    }

    /// What the gateway receives from the portal's client: the browser's
    /// address chain (the gateway believes it only from its trusted proxies,
    /// `GATEWAY_TRUSTED_PROXIES`) and the request id.
    #[tokio::test]
    async fn the_browsers_address_reaches_the_gateway_as_forwarded_for() {
        use axum::{http::HeaderMap, routing::get, Json, Router};
        let gateway = Router::new().route(
            "/api/v1/providers",
            get(|headers: HeaderMap| async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                Json(serde_json::json!({
                    "forwarded_for": header("x-forwarded-for"),
                    "request_id": header("x-request-id"),
                }))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, gateway).await });
        let client = ApiClient::new(&base, Duration::from_secs(5), None).unwrap();
        let origin = Origin {
            forwarded_for: Some("198.51.100.7, 10.0.0.5".to_owned()),
            request_id: Some("req-1".to_owned()),
            ..Origin::default()
        };

        let seen: serde_json::Value = client
            .json(&ApiRequest::get("/api/v1/providers"), None, &origin)
            .await
            .unwrap();

        assert_eq!(seen["forwarded_for"], "198.51.100.7, 10.0.0.5");
        assert_eq!(seen["request_id"], "req-1");
    }

    #[test]
    fn problem_code_is_the_last_segment_of_its_type() {
        let p: ProblemBody = serde_json::from_str(
            r#"{"type":"https://carebook.dev/problems/slot-taken","title":"Slot taken","status":409}"#,
        )
        .unwrap();
        assert_eq!(p.code(), "slot-taken");
    }

    #[test]
    fn a_problems_own_members_are_kept_and_read_by_name() {
        let p: ProblemBody = serde_json::from_str(
            r#"{"type":"https://carebook.dev/problems/availability-conflicts","title":"T","status":409,
                "conflicts":[{"id":"a"},{"id":"b"}]}"#,
        )
        .unwrap();
        let ids: Vec<serde_json::Value> = p.member("conflicts").unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(p.member::<Vec<serde_json::Value>>("occurrences"), None);
        assert_eq!(p.member::<String>("conflicts"), None, "not a string");
    }
}

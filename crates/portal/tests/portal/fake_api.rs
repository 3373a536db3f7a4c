//! A stand-in for the API behind the portal: it answers each call with what
//! the test says the real one would, and remembers every call, so a test can
//! check what the portal sent (which token, which body) and what it did not
//! send. The real API is tested in its own crates; the whole stack together
//! in `crates/carebook/tests`.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    body::{to_bytes, Body},
    extract::Request,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Router,
};
use platform::shutdown::CancellationToken;
use serde_json::{json, Value};

/// One call the portal made.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// The raw query string ("" without one).
    pub query: String,
    /// The JSON body (`Null` without one).
    pub body: Value,
    /// The bearer token, if any.
    pub bearer: Option<String>,
    pub user_agent: Option<String>,
    /// The `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
}

impl Call {
    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

/// The answer to a call: a status and a JSON body (`Null`: no body).
pub type Reply = (StatusCode, Value);

type Responder = dyn Fn(&Call) -> Reply + Send + Sync;

pub struct FakeApi {
    pub addr: SocketAddr,
    calls: Arc<Mutex<Vec<Call>>>,
    stop: CancellationToken,
}

impl FakeApi {
    /// Serve `respond` on an ephemeral port.
    pub async fn start(respond: impl Fn(&Call) -> Reply + Send + Sync + 'static) -> Self {
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let respond: Arc<Responder> = Arc::new(respond);
        let router = {
            let calls = calls.clone();
            Router::new().fallback(move |req: Request| {
                let calls = calls.clone();
                let respond = respond.clone();
                async move { answer(req, &calls, &*respond).await }
            })
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let signal = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { signal.cancelled().await })
                .await
                .unwrap();
        });
        Self { addr, calls, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The calls to `method path`.
    pub fn calls_to(&self, method: &str, path: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.is(method, path))
            .collect()
    }
}

async fn answer(req: Request, calls: &Mutex<Vec<Call>>, respond: &Responder) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let header_of = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let call = Call {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        bearer: header_of(header::AUTHORIZATION)
            .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned)),
        user_agent: header_of(header::USER_AGENT),
        idempotency_key: header_of(header::HeaderName::from_static("idempotency-key")),
    };
    calls.lock().unwrap().push(call.clone());
    let (status, body) = respond(&call);
    if body.is_null() {
        return status.into_response();
    }
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// `status` with `body`.
pub fn ok(body: Value) -> Reply {
    (StatusCode::OK, body)
}

/// A status without a body (204, 202 …).
pub fn empty(status: u16) -> Reply {
    (StatusCode::from_u16(status).unwrap(), Value::Null)
}

/// A problem+json answer of type `code`.
pub fn problem(status: u16, code: &str, detail: &str) -> Reply {
    (
        StatusCode::from_u16(status).unwrap(),
        json!({
            "type": format!("https://carebook.dev/problems/{code}"),
            "title": code,
            "status": status,
            "detail": detail,
        }),
    )
}

/// A problem about one field.
pub fn field_problem(status: u16, code: &str, field: &str, message: &str) -> Reply {
    let (status, mut body) = problem(status, code, message);
    body["errors"] = json!([{ "field": field, "message": message }]);
    (status, body)
}

/// What nobody expected: the test fails on the page it renders.
pub fn unexpected(call: &Call) -> Reply {
    problem(
        599,
        "unexpected-call",
        &format!(
            "the fake API has no answer for {} {}",
            call.method, call.path
        ),
    )
}

/// A token pair as login and refresh answer.
pub fn tokens(access: &str) -> Value {
    json!({
        "access_token": access,
        "refresh_token": format!("refresh-of-{access}"),
        "token_type": "Bearer",
        "expires_in": 600,
    })
}

/// `GET /auth/me` of an account.
pub fn me(id: uuid::Uuid, role: &str, mfa_enabled: bool) -> Value {
    json!({
        "id": id,
        "email": format!("{role}@example.test"),
        "name": format!("Tess {role}"),
        "role": role,
        "verified": true,
        "mfa_enabled": mfa_enabled,
    })
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

//! What the system tests share: logging in through the gateway (as a demo user
//! or anyone registered) and sending requests as them. The stack is no single
//! service, so no `TestApp`: a caller knows the gateway, not a service.

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::time::Duration;

use carebook::stack::Stack;
use platform::{demo, testing::eventually};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

/// An event here often crosses several services before it shows (registered →
/// directory → scheduling), on a machine that runs all of them: twice the
/// shared `WAIT`.
pub const WAIT: Duration = Duration::from_secs(2 * platform::testing::WAIT.as_secs());

/// Someone calling the gateway: a logged-in user with an access token, or nobody.
pub struct Caller {
    pub name: &'static str,
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// One answer: status, `Content-Type`, the raw body and its JSON (Null when not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Caller {
    /// Log in as demo user `who` (`patient1`, `staff`, …).
    pub async fn demo(stack: &Stack, who: &'static str) -> Self {
        let email = format!("{who}@demo.carebook.test");
        Self::login(stack, who, &email, demo::DEMO_PASSWORD).await
    }

    /// Log in with an email and password; `who` names the caller in messages.
    pub async fn login(stack: &Stack, who: &'static str, email: &str, password: &str) -> Self {
        let http = reqwest::Client::new();
        let r = http
            .post(stack.url("/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login request");
        assert_eq!(r.status(), StatusCode::OK, "login of {who}");
        let body: Value = r.json().await.expect("login body");
        let token = body["access_token"].as_str().expect("a token").to_owned();
        Self {
            name: who,
            http,
            base: stack.gateway.clone(),
            token: Some(token),
        }
    }

    /// No token at all.
    pub fn anonymous(stack: &Stack) -> Self {
        Self {
            name: "anonymous",
            http: reqwest::Client::new(),
            base: stack.gateway.clone(),
            token: None,
        }
    }

    /// A request to `path` on the gateway as this caller, to finish and send.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            // Bookings, payments and refunds take one; elsewhere it is ignored.
            request = request
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .json(body);
        }
        let r = request.send().await.expect("request");
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    /// GET that must answer 200.
    pub async fn read(&self, path: &str) -> Value {
        let a = self.send(Method::GET, path, None).await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "{} GET {path}: {}",
            self.name,
            a.text
        );
        a.json
    }

    /// A request that must answer `expected`; its JSON.
    pub async fn expect(&self, method: Method, path: &str, body: Value, expected: u16) -> Value {
        let a = self
            .send(method.clone(), path, Some(&body).filter(|b| !b.is_null()))
            .await;
        assert_eq!(
            a.status.as_u16(),
            expected,
            "{} {method} {path}: {}",
            self.name,
            a.text
        );
        a.json
    }

    /// Retry `method path` until it answers `expected` (events take a moment to
    /// reach the service that decides); its JSON.
    pub async fn eventually(
        &self,
        method: Method,
        path: &str,
        body: Value,
        expected: u16,
    ) -> Value {
        let (method, body) = (&method, &body);
        eventually(
            WAIT,
            &format!("{} {method} {path} → {expected}", self.name),
            || async move {
                let a = self
                    .send(method.clone(), path, Some(body).filter(|b| !b.is_null()))
                    .await;
                (a.status.as_u16() == expected).then_some(a.json)
            },
        )
        .await
    }
}

/// Free slot starts of `provider`'s appointment type in the next two weeks, at
/// least three hours apart so that one booking's buffers never hide the next.
pub async fn free_slots(caller: &Caller, provider: uuid::Uuid, type_id: &str) -> Vec<String> {
    let (from, to) = (
        chrono::Utc::now(),
        chrono::Utc::now() + chrono::Duration::days(14),
    );
    let slots = caller
        .read(&format!(
            "/api/v1/providers/{provider}/slots?appointment_type_id={type_id}&from={}&to={}",
            from.format("%Y-%m-%dT%H:%M:%SZ"),
            to.format("%Y-%m-%dT%H:%M:%SZ")
        ))
        .await;
    let mut chosen: Vec<(chrono::DateTime<chrono::Utc>, String)> = Vec::new();
    for item in slots["items"].as_array().expect("slot items") {
        let start = item["start"].as_str().expect("a start").to_owned();
        let at: chrono::DateTime<chrono::Utc> = start.parse().expect("an RFC 3339 start");
        if chosen
            .last()
            .is_none_or(|(last, _)| at - *last >= chrono::Duration::hours(3))
        {
            chosen.push((at, start));
        }
    }
    chosen.into_iter().map(|(_, s)| s).collect()
}

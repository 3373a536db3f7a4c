//! What the system tests share: registering and verifying through the emailed
//! link, logging in through the gateway (as a demo user — the admin with the
//! code of its authenticator — or anyone registered) and sending requests as
//! them. The stack is no single service, so no `TestApp`: a caller knows the
//! gateway, not a service.

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
    time::Duration,
};

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

/// The demo admin's access token per stack (by gateway address): a TOTP code
/// works once per 30-second step, so the admin signs in once per stack.
static ADMIN_TOKENS: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Default::default);

/// The last TOTP step this process used, per stack (by gateway address).
static TOTP_STEPS: LazyLock<Mutex<HashMap<String, u64>>> = LazyLock::new(Default::default);

/// The TOTP step length (RFC 6238's default, as identity uses).
const TOTP_STEP: u64 = 30;

/// The code an authenticator app shows for base32 `secret` at `unix` seconds.
pub fn totp_code(secret: &str, unix: u64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .expect("a base32 secret");
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, TOTP_STEP, bytes)
        .expect("a TOTP")
        .generate(unix)
}

fn unix_now() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

/// A TOTP step of `secret`'s account no code of this process used on this
/// stack yet (waiting for the next step if need be), and its code.
async fn fresh_totp(stack: &Stack, secret: &str) -> String {
    loop {
        let step = unix_now() / TOTP_STEP;
        {
            let mut used = TOTP_STEPS.lock().unwrap_or_else(|e| e.into_inner());
            let last = used.entry(stack.gateway.clone()).or_default();
            if step > *last {
                *last = step;
                return totp_code(secret, step * TOTP_STEP);
            }
        }
        tokio::time::sleep(
            Duration::from_secs((step + 1) * TOTP_STEP - unix_now())
                .max(Duration::from_millis(200)),
        )
        .await;
    }
}

impl Caller {
    /// Log in as demo user `who` (`patient1`, `staff`, …). The admin signs in
    /// with its second factor once per stack; later callers share its token.
    pub async fn demo(stack: &Stack, who: &'static str) -> Self {
        let email = format!("{who}@demo.carebook.test");
        if who != "admin" {
            return Self::login(stack, who, &email, demo::DEMO_PASSWORD).await;
        }
        let cached = ADMIN_TOKENS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&stack.gateway)
            .cloned();
        if let Some(token) = cached {
            return Self::with_token(stack, who, token);
        }
        let admin = Self::login_with_totp(
            stack,
            who,
            &email,
            demo::DEMO_PASSWORD,
            carebook::seed::DEMO_ADMIN_TOTP_SECRET,
        )
        .await;
        if let Some(token) = &admin.token {
            ADMIN_TOKENS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(stack.gateway.clone(), token.clone());
        }
        admin
    }

    /// A caller with an access token it already has.
    pub fn with_token(stack: &Stack, who: &'static str, token: String) -> Self {
        Self {
            name: who,
            http: reqwest::Client::new(),
            base: stack.gateway.clone(),
            token: Some(token),
        }
    }

    /// Log in with an email and password; `who` names the caller in messages.
    pub async fn login(stack: &Stack, who: &'static str, email: &str, password: &str) -> Self {
        let body = password_step(stack, who, email, password).await;
        assert!(
            body["mfa_required"] != true,
            "{who} needs a second factor: use Caller::login_with_totp"
        );
        let token = body["access_token"].as_str().expect("a token").to_owned();
        Self::with_token(stack, who, token)
    }

    /// Log in with an email, password and a code of the account's
    /// authenticator (`secret`, base32): the password answers an `mfa_token`,
    /// which with the code gives the tokens. A code is taken from a step no
    /// earlier login of this process used; if identity still refuses it (a
    /// login elsewhere used it), the next step's code is tried.
    pub async fn login_with_totp(
        stack: &Stack,
        who: &'static str,
        email: &str,
        password: &str,
        secret: &str,
    ) -> Self {
        let body = password_step(stack, who, email, password).await;
        assert_eq!(
            body["mfa_required"], true,
            "{who} is asked for a code: {body}"
        );
        let mfa_token = body["mfa_token"].as_str().expect("an mfa_token").to_owned();
        let http = reqwest::Client::new();
        for attempt in 0..3 {
            let code = fresh_totp(stack, secret).await;
            let r = http
                .post(stack.url("/api/v1/auth/mfa/verify"))
                .json(&json!({ "mfa_token": mfa_token, "code": code }))
                .send()
                .await
                .expect("mfa request");
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if status == StatusCode::OK {
                let token = body["access_token"].as_str().expect("a token").to_owned();
                return Self::with_token(stack, who, token);
            }
            assert!(
                status == StatusCode::UNAUTHORIZED && attempt < 2,
                "second factor of {who}: {status} {body}"
            );
        }
        unreachable!("the loop returns or fails")
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

/// The first step of a login: its JSON (tokens, or `mfa_required` and an `mfa_token`).
async fn password_step(stack: &Stack, who: &str, email: &str, password: &str) -> Value {
    let r = reqwest::Client::new()
        .post(stack.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("login request");
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::OK, "login of {who}: {body}");
    body
}

/// Register a patient (202, as for any address) and confirm the address with
/// the link of the verification email, as the new patient would; then they
/// can log in.
pub async fn register_verified(stack: &Stack, email: &str, password: &str, name: &str) {
    register_verified_in(stack, email, password, name, None).await;
}

/// [`register_verified`], from a browser in `time_zone` when given.
pub async fn register_verified_in(
    stack: &Stack,
    email: &str,
    password: &str,
    name: &str,
    time_zone: Option<&str>,
) {
    let mut body = json!({ "email": email, "password": password, "name": name });
    if let Some(zone) = time_zone {
        body["time_zone"] = json!(zone);
    }
    Caller::anonymous(stack)
        .expect(Method::POST, "/api/v1/auth/register", body, 202)
        .await;
    let token = verification_token(stack, email).await;
    Caller::anonymous(stack)
        .expect(
            Method::POST,
            "/api/v1/auth/verify-email",
            json!({ "token": token }),
            200,
        )
        .await;
}

/// The token of the newest verification link emailed to `email`.
pub async fn verification_token(stack: &Stack, email: &str) -> String {
    let mail = stack
        .mail
        .wait_for(1, "the verification email", |m| {
            m.is_to(email) && m.subject() == "Confirm your email address"
        })
        .await;
    let last = mail.last().expect("an email");
    link_token(last.text(), "/verify-email")
        .or_else(|| link_token(last.html(), "/verify-email"))
        .unwrap_or_else(|| panic!("no verification link in {}", last.text()))
}

/// The `token` query parameter of the first link to `path` in `text`.
pub fn link_token(text: &str, path: &str) -> Option<String> {
    let pattern = format!(r#"{}\?token=([^\s"'<>&]+)"#, regex::escape(path));
    let found = regex::Regex::new(&pattern).ok()?.captures(text)?;
    let raw = found.get(1)?.as_str();
    Some(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Free slot starts of `provider`'s appointment type in the next four weeks, at
/// least three hours apart so that one booking's buffers never hide the next.
pub async fn free_slots(caller: &Caller, provider: uuid::Uuid, type_id: &str) -> Vec<String> {
    let (from, to) = (
        chrono::Utc::now(),
        // Four weeks (the search allows 31 days): the authorization matrix
        // books dozens, three hours apart.
        chrono::Utc::now() + chrono::Duration::days(28),
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

/// `patient` books the soonest free slot of `provider`'s first appointment type
/// through the REST API: inside the 7-day care window, so the booking opens the
/// provider's access to the patient's record (records and the directory learn
/// of it by event). Scheduling learns of the demo accounts by event too, so the
/// first tries may not know them. The appointment's id and start.
pub async fn book_soonest(
    patient: &Caller,
    provider: uuid::Uuid,
) -> (String, chrono::DateTime<chrono::Utc>) {
    let types = patient
        .read(&format!("/api/v1/providers/{provider}/appointment-types"))
        .await;
    let type_id = types["items"][0]["id"].as_str().expect("a type").to_owned();
    let slots = free_slots(patient, provider, &type_id).await;
    let start = slots.first().expect("a free slot in the next four weeks");
    let at: chrono::DateTime<chrono::Utc> = start.parse().expect("an RFC 3339 start");
    assert!(
        at - chrono::Utc::now() < chrono::Duration::days(7) - chrono::Duration::hours(1),
        "the soonest slot ({start}) lies inside the 7-day care window"
    );
    let booked = patient
        .eventually(
            Method::POST,
            "/api/v1/appointments",
            json!({ "provider_id": provider, "appointment_type_id": type_id, "start": start }),
            201,
        )
        .await;
    assert_eq!(booked["status"], "booked", "{booked}");
    (booked["id"].as_str().expect("an id").to_owned(), at)
}

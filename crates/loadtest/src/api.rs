//! The public API calls the benchmark's setup makes through the gateway
//! (logins — the admin's with its authenticator code —, accounts, provider
//! profiles, calendars), outside the timed run.

use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::totp;

#[derive(Clone)]
pub struct Api {
    client: Client,
    base: String,
}

#[derive(Deserialize, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

/// The first step of a login: tokens, or a request for the second factor.
#[derive(Deserialize)]
struct LoginStep {
    #[serde(default)]
    mfa_required: bool,
    #[serde(default)]
    mfa_token: Option<String>,
    #[serde(flatten)]
    tokens: Option<Tokens>,
}

#[derive(Deserialize)]
pub struct Account {
    pub id: Uuid,
    #[serde(default)]
    pub provider_id: Option<Uuid>,
}

#[derive(Deserialize)]
struct Created {
    id: Uuid,
}

#[derive(Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

/// A call that can be retried: the other service has not seen the event yet.
pub enum Outcome<T> {
    Done(T),
    NotYet,
}

impl Api {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the setup HTTP client")?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let rb = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        rb: RequestBuilder,
        what: &str,
        expect: StatusCode,
    ) -> anyhow::Result<Outcome<T>> {
        let response = rb.send().await.with_context(|| what.to_owned())?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(Outcome::NotYet);
        }
        if status != expect {
            let body = response.text().await.unwrap_or_default();
            bail!(
                "{what}: {status} {}",
                body.chars().take(300).collect::<String>()
            );
        }
        let bytes = response.bytes().await.with_context(|| what.to_owned())?;
        let body = if bytes.is_empty() {
            b"null".as_slice()
        } else {
            &bytes
        };
        Ok(Outcome::Done(
            serde_json::from_slice(body).with_context(|| format!("{what}: unexpected body"))?,
        ))
    }

    async fn must<T: DeserializeOwned>(
        &self,
        rb: RequestBuilder,
        what: &str,
        expect: StatusCode,
    ) -> anyhow::Result<T> {
        match self.send(rb, what, expect).await? {
            Outcome::Done(v) => Ok(v),
            Outcome::NotYet => bail!("{what}: 404"),
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<Tokens> {
        match self.login_step(email, password).await? {
            LoginStep {
                tokens: Some(tokens),
                mfa_required: false,
                ..
            } => Ok(tokens),
            _ => bail!("login: the account asks for a second factor"),
        }
    }

    async fn login_step(&self, email: &str, password: &str) -> anyhow::Result<LoginStep> {
        let rb = self
            .request(Method::POST, "/api/v1/auth/login", None)
            .json(&json!({ "email": email, "password": password }));
        self.must(rb, "login", StatusCode::OK).await
    }

    /// Log in to an account with a second factor (every admin): the password,
    /// then the current code of its authenticator (`secret`, base32). A code
    /// works once per 30-second step: when identity refuses it, the next
    /// step's code is sent.
    pub async fn login_with_totp(
        &self,
        email: &str,
        password: &str,
        secret: &str,
    ) -> anyhow::Result<Tokens> {
        let step = self.login_step(email, password).await?;
        let mfa_token = match step {
            LoginStep {
                tokens: Some(tokens),
                mfa_required: false,
                ..
            } => return Ok(tokens),
            LoginStep {
                mfa_token: Some(token),
                ..
            } => token,
            _ => bail!("login: neither tokens nor an mfa_token"),
        };
        for attempt in 0..3 {
            let code = totp::code_now(secret)?;
            let response = self
                .request(Method::POST, "/api/v1/auth/mfa/verify", None)
                .json(&json!({ "mfa_token": mfa_token, "code": code }))
                .send()
                .await
                .context("second factor")?;
            let status = response.status();
            if status == StatusCode::OK {
                return response.json().await.context("second factor: tokens");
            }
            if status != StatusCode::UNAUTHORIZED || attempt == 2 {
                bail!("second factor: {status}");
            }
            tokio::time::sleep(totp::until_next_step()).await;
        }
        bail!("second factor: refused")
    }

    pub async fn refresh(&self, refresh_token: &str) -> anyhow::Result<Tokens> {
        let rb = self
            .request(Method::POST, "/api/v1/auth/refresh", None)
            .json(&json!({ "refresh_token": refresh_token }));
        self.must(rb, "refresh", StatusCode::OK).await
    }

    /// Register a patient: 202, and the address waits to be verified.
    pub async fn register_patient(
        &self,
        email: &str,
        password: &str,
        name: &str,
    ) -> anyhow::Result<()> {
        let rb = self
            .request(Method::POST, "/api/v1/auth/register", None)
            .json(&json!({ "email": email, "password": password, "name": name }));
        self.must::<Value>(rb, "register", StatusCode::ACCEPTED)
            .await
            .map(drop)
    }

    pub async fn create_provider_account(
        &self,
        admin: &str,
        email: &str,
        password: &str,
        name: &str,
    ) -> anyhow::Result<Account> {
        let rb = self
            .request(Method::POST, "/api/v1/admin/users", Some(admin))
            .json(
                &json!({ "email": email, "password": password, "name": name, "role": "provider" }),
            );
        self.must(rb, "create provider account", StatusCode::CREATED)
            .await
    }

    /// The provider's directory profile (404 until directory saw the account).
    pub async fn put_provider_profile(
        &self,
        staff: &str,
        provider: Uuid,
        name: &str,
        specialty: &str,
    ) -> anyhow::Result<Outcome<Value>> {
        let rb = self
            .request(
                Method::PUT,
                &format!("/api/v1/providers/{provider}"),
                Some(staff),
            )
            .json(&json!({
                "name": name,
                "specialty": specialty,
                "bio": format!("Benchmark {specialty} practice"),
                "languages": ["en"],
                "location": "Load Street 1",
                "time_zone": "UTC",
                "accepting_new_patients": true,
            }));
        self.send(rb, "update provider profile", StatusCode::OK)
            .await
    }

    /// The benchmark's appointment type (404 until scheduling knows the provider).
    pub async fn create_appointment_type(
        &self,
        staff: &str,
        provider: Uuid,
        minutes: i64,
        horizon_days: i64,
    ) -> anyhow::Result<Outcome<Uuid>> {
        let rb = self
            .request(
                Method::POST,
                &format!("/api/v1/providers/{provider}/appointment-types"),
                Some(staff),
            )
            .json(&json!({
                "name": "Benchmark visit",
                "duration_minutes": minutes,
                "price": { "amount_minor": 5000, "currency": "EUR" },
                "mode": "in_person",
                "horizon_days": horizon_days,
            }));
        Ok(
            match self
                .send::<Created>(rb, "create appointment type", StatusCode::CREATED)
                .await?
            {
                Outcome::Done(c) => Outcome::Done(c.id),
                Outcome::NotYet => Outcome::NotYet,
            },
        )
    }

    /// Every day `opens`–`closes` (`HH:MM`) in the provider's time zone.
    pub async fn put_daily_availability(
        &self,
        staff: &str,
        provider: Uuid,
        opens: &str,
        closes: &str,
    ) -> anyhow::Result<()> {
        let weekly: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .map(|d| json!({ "weekday": d, "start": opens, "end": closes }))
            .collect();
        let response = self
            .request(
                Method::PUT,
                &format!("/api/v1/providers/{provider}/availability"),
                Some(staff),
            )
            .json(&json!({ "weekly": weekly }))
            .send()
            .await
            .context("put availability")?;
        if response.status() != StatusCode::NO_CONTENT {
            bail!("put availability: {}", response.status());
        }
        Ok(())
    }

    /// How many free slots the provider offers in the window.
    pub async fn free_slots(
        &self,
        token: &str,
        provider: Uuid,
        type_id: Uuid,
        from: &str,
        to: &str,
    ) -> anyhow::Result<Outcome<usize>> {
        let rb = self
            .request(
                Method::GET,
                &format!("/api/v1/providers/{provider}/slots"),
                Some(token),
            )
            .query(&[
                ("appointment_type_id", type_id.to_string().as_str()),
                ("from", from),
                ("to", to),
            ]);
        Ok(
            match self
                .send::<Items<Value>>(rb, "free slots", StatusCode::OK)
                .await?
            {
                Outcome::Done(list) => Outcome::Done(list.items.len()),
                Outcome::NotYet => Outcome::NotYet,
            },
        )
    }
}

//! The FHIR view's only way to data: the public API behind the gateway, called
//! with the caller's own bearer token, so every access rule (and every audit
//! entry) is the REST API's own.

use std::time::Duration;

use reqwest::{header, Method};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::domain::outcome::Outcome;

/// Who is asking, as the API should see them.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub token: String,
    pub forwarded_for: Option<String>,
    pub request_id: Option<String>,
}

/// A 2xx answer of the API.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub json: Value,
    /// The stored answer of an earlier request with the same idempotency key.
    pub replayed: bool,
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// One call: path (ids formatted in), query pairs, JSON body, idempotency key.
#[derive(Debug)]
pub struct Call<'a> {
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'a str, String)>,
    pub body: Option<&'a Value>,
    pub idempotency_key: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            idempotency_key: None,
        }
    }

    pub fn post(path: impl Into<String>, body: &'a Value) -> Self {
        Self {
            method: Method::POST,
            body: Some(body),
            ..Self::get(path)
        }
    }

    /// Add a query parameter (skipped when `value` is `None`).
    pub fn query(mut self, name: &'a str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.query.push((name, value.to_string()));
        }
        self
    }

    pub fn idempotency_key(mut self, key: Option<&'a str>) -> Self {
        self.idempotency_key = key;
        self
    }
}

impl Api {
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

    /// Send `call` as `origin`; a 2xx answer, or the API's problem as an
    /// OperationOutcome with the same status.
    pub async fn send(&self, call: Call<'_>, origin: &Origin) -> Result<Reply, Outcome> {
        let mut builder = self
            .http
            .request(call.method, format!("{}{}", self.base, call.path))
            .header(header::ACCEPT, "application/json")
            .bearer_auth(&origin.token);
        if !call.query.is_empty() {
            builder = builder.query(&call.query);
        }
        if let Some(body) = call.body {
            builder = builder.json(body);
        }
        if let Some(key) = call.idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        if let Some(xff) = &origin.forwarded_for {
            builder = builder.header("x-forwarded-for", xff);
        }
        if let Some(id) = &origin.request_id {
            builder = builder.header("x-request-id", id);
        }
        let unreachable = |e: reqwest::Error| {
            tracing::warn!(error = %e.without_url(), "the API did not answer");
            Outcome::new(
                503,
                "The service behind this request is not answering; try again shortly.",
            )
        };
        let response = builder.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v.as_bytes() == b"true");
        let bytes = response.bytes().await.map_err(unreachable)?;
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if (200..300).contains(&status) {
            return Ok(Reply {
                status,
                json,
                replayed,
            });
        }
        Err(Outcome::from_problem(status, &json))
    }

    /// [`Self::send`] and read the answer as `T`.
    pub async fn read<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
        origin: &Origin,
    ) -> Result<T, Outcome> {
        let reply = self.send(call, origin).await?;
        serde_json::from_value(reply.json).map_err(|e| {
            tracing::error!(error = %e, "the API answered in a shape this view does not read");
            Outcome::new(
                502,
                "The service behind this request answered unexpectedly.",
            )
        })
    }
}

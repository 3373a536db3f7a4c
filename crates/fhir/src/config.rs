//! The FHIR service's settings (`FHIR_*`, falling back to `CAREBOOK_*`).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use platform::{
    config::{load_tls, AuthConfig, ConfigError, Env},
    tls::TlsIdentity,
};

pub const DEFAULT_PORT: u16 = 8088;

#[derive(Clone, Debug)]
pub struct Config {
    pub bind: SocketAddr,
    /// Where the public API is (`FHIR_API_URL`): the gateway, its internal
    /// listener with TLS. Every answer comes from there, with the caller's token.
    pub api_url: String,
    /// The address clients use (`FHIR_PUBLIC_URL`), for the Bundles' links,
    /// `Location` and the SMART configuration's endpoints.
    pub public_url: String,
    /// Per API call (`FHIR_API_TIMEOUT_MS`).
    pub api_timeout: Duration,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// How access tokens are checked (the same as every service's).
    pub auth: AuthConfig,
    pub tls: Option<Arc<TlsIdentity>>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("fhir"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let tls = load_tls(&mut env);
        let api_url = env.api_url(tls.is_some());
        let public_url = env
            .parsed("PUBLIC_URL", "http://127.0.0.1:8080".to_owned())
            .trim_end_matches('/')
            .to_owned();
        if reqwest::Url::parse(&public_url).is_err() {
            env.invalid(format!("FHIR_PUBLIC_URL: {public_url:?} is not a URL"));
        }
        let bind = env.parsed("BIND", SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)));
        let api_timeout = env.millis("API_TIMEOUT_MS", Duration::from_secs(10));
        let request_timeout = env.millis("REQUEST_TIMEOUT_MS", Duration::from_secs(30));
        let max_body_bytes = env.parsed("MAX_BODY_BYTES", 64 * 1024);
        let auth = AuthConfig::load(&mut env, tls.clone());
        env.finish()?;
        Ok(Self {
            bind,
            api_url,
            public_url,
            api_timeout,
            max_body_bytes,
            request_timeout,
            auth,
            tls,
        })
    }

    /// The FHIR base URL clients see.
    pub fn base_url(&self) -> String {
        format!("{}{}", self.public_url, crate::BASE_PATH)
    }
}

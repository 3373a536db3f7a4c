//! Carebook identity: accounts with argon2id passwords, EdDSA access tokens,
//! rotating refresh tokens, login throttling, and the JWKS other services verify with.

pub mod accounts;
pub mod config;
pub mod domain;
pub mod error;
pub mod keys;
pub mod passwords;
pub mod routes;
pub mod seed;
pub mod sessions;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;

use std::{sync::Arc, time::Duration};

use axum::extract::FromRef;
use platform::{
    auth::{KeySource, Verifier},
    events::{Broker, OutboxRelay},
    http::{service_router, Readiness, Shell},
    service::Service,
};
use sqlx::{migrate::Migrator, PgPool};
use utoipa::OpenApi;

pub use config::Config;
pub use keys::SigningKeys;

pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Token settings handlers need.
pub struct Settings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub keys: Arc<SigningKeys>,
    pub verifier: Arc<Verifier>,
    pub hasher: passwords::Hasher,
    pub relay: OutboxRelay,
    pub settings: Arc<Settings>,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Connect to the backing services and migrate; the state handlers and tools share.
pub async fn connect(config: &Config, keys: SigningKeys) -> anyhow::Result<(AppState, Broker)> {
    let c = &config.common;
    let db =
        platform::db::prepare(&c.database_url, c.database_max_connections, &MIGRATIONS).await?;
    let broker = Broker::connect(c).await?;
    let relay = OutboxRelay::new(db.clone(), broker.clone(), c.outbox_poll_interval);
    // Identity verifies its own tokens with the keys it holds; no HTTP round trip.
    let verifier = Arc::new(Verifier::new(
        KeySource::Static(keys.jwks().clone()),
        &c.auth.issuer,
        &c.auth.audience,
    ));
    let state = AppState {
        db,
        keys: Arc::new(keys),
        verifier,
        hasher: passwords::Hasher::new(config.hash_concurrency)?,
        relay,
        settings: Arc::new(Settings {
            issuer: c.auth.issuer.clone(),
            audience: c.auth.audience.clone(),
            access_ttl: config.access_ttl,
            refresh_ttl: config.refresh_ttl,
        }),
    };
    Ok((state, broker))
}

/// Build the service with the keys in `config.signing_keys_dir`.
pub async fn build(config: &Config) -> anyhow::Result<Service> {
    let keys = SigningKeys::load_dir(&config.signing_keys_dir)?;
    build_with_keys(config, keys).await
}

/// Build the service (router + outbox relay) with the given keys.
pub async fn build_with_keys(config: &Config, keys: SigningKeys) -> anyhow::Result<Service> {
    let (state, broker) = connect(config, keys).await?;
    let relay = state.relay.clone();
    let readiness = Readiness {
        db: state.db.clone(),
        // Identity keeps nothing in Redis (the gateway holds rate-limit state).
        cache: None,
        broker: Some(broker.clone()),
    };
    let shell = Shell::new("identity", &config.common, routes::ApiDoc::openapi());
    let router = service_router(shell, routes::router(state), readiness);
    Ok(Service::new("identity", router)
        .with_worker(move |cancel| relay.run(cancel))
        .with_broker(broker))
}

//! Carebook identity: accounts with argon2id passwords and verified addresses,
//! EdDSA access tokens, sessions of rotating refresh tokens with an end,
//! TOTP second factor, password reset, a sign-in throttle that never locks an
//! owner out, administrators' account management, and the JWKS other services
//! verify with.

pub mod accounts;
pub mod admin;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod guard;
pub mod keys;
pub mod mfa;
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
    cache::LazyCache,
    events::{Broker, OutboxRelay},
    http::{service_router, Readiness, Shell},
    service::Service,
};
use sqlx::{migrate::Migrator, PgPool};
use utoipa::OpenApi;

pub use clock::Clock;
pub use config::{Config, Policy};
pub use keys::SigningKeys;

pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Token settings handlers need.
pub struct Settings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// The deployment's Redis key prefix (`CAREBOOK_REDIS_PREFIX`).
    pub redis_prefix: String,
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
    pub policy: Arc<Policy>,
    pub clock: Clock,
    /// Redis, for the set of users whose access tokens every service refuses
    /// (`<prefix>identity:revoked`); identity runs without it otherwise.
    pub redis: LazyCache,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Connect to the backing services and migrate, with the default policy and
/// the system clock; the state handlers and tools share.
pub async fn connect(config: &Config, keys: SigningKeys) -> anyhow::Result<(AppState, Broker)> {
    connect_with(config, Policy::default(), keys, Clock::system()).await
}

/// [`connect`] with a policy and a clock.
pub async fn connect_with(
    config: &Config,
    policy: Policy,
    keys: SigningKeys,
    clock: Clock,
) -> anyhow::Result<(AppState, Broker)> {
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
    let redis = LazyCache::connect(c).await;
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
            redis_prefix: c.redis_prefix.clone(),
        }),
        policy: Arc::new(policy),
        clock,
        redis,
    };
    Ok((state, broker))
}

/// Build the service with the keys in `config.signing_keys_dir` and the
/// account policy from the environment (`IDENTITY_SESSION_MAX_DAYS`, …).
pub async fn build(config: &Config) -> anyhow::Result<Service> {
    let keys = SigningKeys::load_dir(&config.signing_keys_dir)?;
    build_with(config, Policy::from_env()?, keys, Clock::system()).await
}

/// Build the service (router + outbox relay) with the given keys and the
/// default account policy.
pub async fn build_with_keys(config: &Config, keys: SigningKeys) -> anyhow::Result<Service> {
    build_with(config, Policy::default(), keys, Clock::system()).await
}

/// Build the service with everything given (tests move `clock`).
pub async fn build_with(
    config: &Config,
    policy: Policy,
    keys: SigningKeys,
    clock: Clock,
) -> anyhow::Result<Service> {
    let (state, broker) = connect_with(config, policy, keys, clock).await?;
    let relay = state.relay.clone();
    let redis = state.redis.clone();
    let readiness = Readiness {
        db: state.db.clone(),
        // Sign-in never needs Redis (only disabling an account does), so an
        // outage of it does not take identity out of rotation.
        cache: None,
        broker: Some(broker.clone()),
    };
    let shell = Shell::new("identity", &config.common, routes::ApiDoc::openapi());
    let router = service_router(shell, routes::router(state), readiness);
    Ok(Service::new("identity", router)
        .with_worker(move |cancel| relay.run(cancel))
        .with_worker(move |cancel| redis.keep_connecting(cancel))
        .with_broker(broker))
}

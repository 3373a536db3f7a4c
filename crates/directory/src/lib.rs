//! Carebook directory: provider profiles (search, specialties, IANA time
//! zones) and patient profiles (contact, insurance, preferred provider; a
//! summary for the providers in the patient's care; the front desk's search).
//! Profiles are created from identity's `user.registered` events, care
//! (each appointment's state, hence its care window) from scheduling's
//! `appointment.*`; changes are published as
//! `provider.updated` / `patient.updated` through the outbox.

pub mod cache;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod error;
pub mod events;
pub mod patients;
pub mod providers;
pub mod routes;
pub mod seed;
pub mod store;

use std::sync::Arc;

use axum::extract::FromRef;
use platform::{
    auth::Verifier,
    care::CarePolicy,
    events::{consumer, Broker, OutboxRelay},
    http::{service_router, Readiness, Shell},
    service::Service,
};
use sqlx::{migrate::Migrator, PgPool};
use utoipa::OpenApi;

pub use cache::ProfileCache;
pub use config::Config;

pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub cache: ProfileCache,
    pub verifier: Arc<Verifier>,
    pub relay: OutboxRelay,
    /// The care windows that open a patient's summary to a provider.
    pub care: CarePolicy,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Connect to the backing services and migrate; the state handlers and tools
/// (`seed::demo`) share, and the broker to close when done. Tokens are checked
/// against identity's JWKS (`CAREBOOK_JWKS_URL`). Redis being down is not an
/// error: profiles are then read from the database.
pub async fn connect(config: &Config) -> anyhow::Result<(AppState, Broker)> {
    connect_with_verifier(config, Verifier::from_config(&config.common.auth)).await
}

/// [`connect`], checking tokens with the given verifier (tests: static keys).
pub async fn connect_with_verifier(
    config: &Config,
    verifier: Arc<Verifier>,
) -> anyhow::Result<(AppState, Broker)> {
    let c = &config.common;
    let db =
        platform::db::prepare(&c.database_url, c.database_max_connections, &MIGRATIONS).await?;
    let broker = Broker::connect(c).await?;
    let relay = OutboxRelay::new(db.clone(), broker.clone(), c.outbox_poll_interval);
    let cache = ProfileCache::connect(c, config.cache_ttl).await;
    let state = AppState {
        db,
        cache,
        verifier,
        relay,
        care: config.care,
    };
    Ok((state, broker))
}

/// Build the service: router, outbox relay, `user.registered` and
/// `appointment.*` consumers.
pub async fn build(config: &Config) -> anyhow::Result<Service> {
    build_with_verifier(config, Verifier::from_config(&config.common.auth)).await
}

/// [`build`], checking tokens with the given verifier.
pub async fn build_with_verifier(
    config: &Config,
    verifier: Arc<Verifier>,
) -> anyhow::Result<Service> {
    let (state, broker) = connect_with_verifier(config, verifier).await?;
    let relay = state.relay.clone();
    let cache = state.cache.clone();
    let (db, consumer_broker) = (state.db.clone(), broker.clone());
    let (care_db, care_broker) = (state.db.clone(), broker.clone());
    let spec = consumers::registrations_spec(&config.common.queue_prefix);
    let care_spec = consumers::care_spec(&config.common.queue_prefix);
    // Redis is left out on purpose: the directory answers correctly without it,
    // so a cache outage must not take every replica out of rotation.
    let readiness = Readiness {
        db: state.db.clone(),
        cache: None,
        broker: Some(broker.clone()),
    };
    let shell = Shell::new("directory", &config.common, routes::ApiDoc::openapi());
    let router = service_router(shell, routes::router(state), readiness);
    Ok(Service::new("directory", router)
        .with_worker(move |cancel| relay.run(cancel))
        .with_worker(move |cancel| {
            consumer::run(
                consumer_broker,
                db,
                spec,
                Arc::new(consumers::Registrations),
                cancel,
            )
        })
        .with_worker(move |cancel| {
            consumer::run(
                care_broker,
                care_db,
                care_spec,
                Arc::new(consumers::CareRelationships),
                cancel,
            )
        })
        .with_worker(move |cancel| cache.keep_connecting(cancel))
        .with_broker(broker))
}

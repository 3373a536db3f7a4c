//! Carebook records (EHR): encounters, clinical notes, diagnoses, allergies,
//! medications and vitals per patient, as append-only versions encrypted at
//! rest (AES-256-GCM envelope, master keys behind a [`keys::KeyProvider`]).
//! Access is decided by one pure function (`domain::access::decide`): patients
//! read their own record, providers need an open care window (`platform::care`
//! over the appointments learned from scheduling's `appointment.*` events) to
//! read and write, or a break-glass grant to read; staff and admins never see
//! clinical content, and admins review every break-glass grant. Every read,
//! write, refusal, break-glass and review is appended to a hash-chained audit
//! log ([`audit::verify`]).

pub mod access;
pub mod audit;
pub mod cache;
pub mod config;
pub mod consumers;
pub mod crypto;
pub mod domain;
pub mod entries;
pub mod error;
pub mod keys;
pub mod routes;
pub mod store;

use std::sync::Arc;

use axum::extract::FromRef;
use platform::{
    auth::Verifier,
    events::{consumer, Broker, OutboxRelay},
    http::{service_router, Readiness, Shell},
    service::Service,
};
use sqlx::{migrate::Migrator, PgPool};
use utoipa::OpenApi;

pub use audit::verify as verify_audit;
pub use cache::RecordCache;
pub use config::Config;
pub use keys::{rotate as rotate_keys, KeyProvider};

pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<Verifier>,
    pub relay: OutboxRelay,
    pub keys: Arc<dyn KeyProvider>,
    pub cache: RecordCache,
    /// Care windows and break-glass settings.
    pub policy: access::AccessPolicy,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Connect to the backing services and migrate. Redis being down is not an
/// error: records are then read from the database.
pub async fn connect(
    config: &Config,
    verifier: Arc<Verifier>,
    keys: Arc<dyn KeyProvider>,
) -> anyhow::Result<(AppState, Broker)> {
    let c = &config.common;
    let db =
        platform::db::prepare(&c.database_url, c.database_max_connections, &MIGRATIONS).await?;
    let broker = Broker::connect(c).await?;
    let relay = OutboxRelay::new(db.clone(), broker.clone(), c.outbox_poll_interval);
    let cache = RecordCache::connect(c, config.cache_ttl, keys.clone()).await;
    let state = AppState {
        db,
        verifier,
        relay,
        keys,
        cache,
        policy: access::AccessPolicy {
            care: config.care,
            break_glass: config.break_glass,
            break_glass_daily_limit: config.break_glass_daily_limit,
        },
    };
    Ok((state, broker))
}

/// Build the service: router, outbox relay, the care-relationship and patient
/// consumers. Tokens are checked against identity's JWKS; master keys come
/// from the configuration.
pub async fn build(config: &Config) -> anyhow::Result<Service> {
    build_with_verifier(config, Verifier::from_config(&config.common.auth)).await
}

/// [`build`], checking tokens with the given verifier (tests: static keys).
pub async fn build_with_verifier(
    config: &Config,
    verifier: Arc<Verifier>,
) -> anyhow::Result<Service> {
    build_with(config, verifier, config.master_keys.provider()).await
}

/// [`build`] with another key provider (a KMS).
pub async fn build_with(
    config: &Config,
    verifier: Arc<Verifier>,
    keys: Arc<dyn KeyProvider>,
) -> anyhow::Result<Service> {
    tracing::info!(
        current_key_id = keys.current_key_id(),
        "records master keys loaded"
    );
    let (state, broker) = connect(config, verifier, keys).await?;
    let relay = state.relay.clone();
    let cache = state.cache.clone();
    let prefix = &config.common.queue_prefix;
    let (care_spec, patients_spec) = (
        consumers::care_spec(prefix),
        consumers::patients_spec(prefix),
    );
    let (care_broker, care_db) = (broker.clone(), state.db.clone());
    let (patients_broker, patients_db) = (broker.clone(), state.db.clone());
    // Redis is left out on purpose: records answer correctly without it.
    let readiness = Readiness {
        db: state.db.clone(),
        cache: None,
        broker: Some(broker.clone()),
    };
    let shell = Shell::new("records", &config.common, routes::ApiDoc::openapi());
    let router = service_router(shell, routes::router(state), readiness);
    Ok(Service::new("records", router)
        .with_worker(move |cancel| relay.run(cancel))
        .with_worker(move |cancel| {
            consumer::run(
                care_broker,
                care_db,
                care_spec,
                Arc::new(consumers::CareHandler),
                cancel,
            )
        })
        .with_worker(move |cancel| {
            consumer::run(
                patients_broker,
                patients_db,
                patients_spec,
                Arc::new(consumers::PatientsHandler),
                cancel,
            )
        })
        .with_worker(move |cancel| cache.keep_connecting(cancel))
        .with_broker(broker))
}

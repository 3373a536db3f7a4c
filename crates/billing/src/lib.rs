//! Carebook billing: invoices issued from appointment events (completed visits,
//! late cancellations and no-shows with a fee), payments through a
//! [`PaymentProvider`](payment_provider::PaymentProvider) seam, credits and
//! refunds that never edit history, patients' insurance details and open
//! balances (cached in Redis). Publishes `invoice.issued|paid|voided`.

pub mod cache;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod error;
pub mod events;
pub mod invoices;
pub mod patients;
pub mod payment_provider;
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

pub use cache::BalanceCache;
pub use config::Config;
use payment_provider::{PaymentProvider, RecordedPayment};

pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<Verifier>,
    pub relay: OutboxRelay,
    pub balances: BalanceCache,
    pub payments: Arc<dyn PaymentProvider>,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Connect to the backing services and migrate; the state handlers and tools
/// share, and the broker to close when done. Redis being down is not an error:
/// balances are then read from the database.
pub async fn connect(
    config: &Config,
    verifier: Arc<Verifier>,
    payments: Arc<dyn PaymentProvider>,
) -> anyhow::Result<(AppState, Broker)> {
    let c = &config.common;
    let db =
        platform::db::prepare(&c.database_url, c.database_max_connections, &MIGRATIONS).await?;
    let broker = Broker::connect(c).await?;
    let relay = OutboxRelay::new(db.clone(), broker.clone(), c.outbox_poll_interval);
    let balances = BalanceCache::connect(c, config.cache_ttl).await;
    Ok((
        AppState {
            db,
            verifier,
            relay,
            balances,
            payments,
        },
        broker,
    ))
}

/// Build the service: router, outbox relay, the appointment consumer. Tokens
/// are checked against identity's JWKS; payments are recorded as staff report them.
pub async fn build(config: &Config) -> anyhow::Result<Service> {
    build_with_verifier(config, Verifier::from_config(&config.common.auth)).await
}

/// [`build`], checking tokens with the given verifier (tests: static keys).
pub async fn build_with_verifier(
    config: &Config,
    verifier: Arc<Verifier>,
) -> anyhow::Result<Service> {
    build_with(config, verifier, Arc::new(RecordedPayment)).await
}

/// [`build`] with a chosen verifier and payment provider.
pub async fn build_with(
    config: &Config,
    verifier: Arc<Verifier>,
    payments: Arc<dyn PaymentProvider>,
) -> anyhow::Result<Service> {
    let (state, broker) = connect(config, verifier, payments).await?;
    // Redis is left out on purpose: billing answers correctly without it, so a
    // cache outage must not take every replica out of rotation.
    let readiness = Readiness {
        db: state.db.clone(),
        cache: None,
        broker: Some(broker.clone()),
    };
    let shell = Shell::new("billing", &config.common, routes::ApiDoc::openapi());
    let relay = state.relay.clone();
    let balances = state.balances.clone();
    let handler = consumers::AppointmentsHandler::new(
        state.balances.clone(),
        state.relay.clone(),
        config.tax_rate_bp,
    );
    let spec = consumers::spec(&config.common.queue_prefix);
    let (consumer_broker, consumer_db) = (broker.clone(), state.db.clone());
    let router = service_router(shell, routes::router(state), readiness);
    Ok(Service::new("billing", router)
        .with_worker(move |cancel| relay.run(cancel))
        .with_worker(move |cancel| {
            consumer::run(consumer_broker, consumer_db, spec, handler, cancel)
        })
        .with_worker(move |cancel| balances.keep_connecting(cancel))
        .with_broker(broker))
}

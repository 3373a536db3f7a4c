//! Carebook scheduling: appointment types, availability, free slots, race-free
//! booking and the appointment lifecycle, holds, the waitlist that refills
//! freed slots by itself, and the self-service links in emails.

pub mod appointments;
pub mod backfill;
pub mod cache;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod error;
pub mod holds;
pub mod links;
pub mod routes;
pub mod seed;
pub mod series;
pub mod store;
pub mod waitlist;

use std::sync::Arc;

use axum::extract::FromRef;
use platform::{
    auth::Verifier,
    cache::LazyCache,
    events::{consumer, Broker, OutboxRelay},
    http::{service_router, Readiness, Shell},
    service::Service,
};
use sqlx::{migrate::Migrator, PgPool};
use utoipa::OpenApi;

use cache::SlotCache;
use clock::{Clock, SystemClock};
pub use config::Config;
use domain::{cancellation::FeeCap, holds::HoldPolicy, links::LinkKey};

pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<Verifier>,
    pub relay: OutboxRelay,
    pub slots: SlotCache,
    /// What "now" is for every rule (tests move it).
    pub clock: Arc<dyn Clock>,
    /// The clinic's cap on late-cancellation and no-show fees.
    pub max_fee: FeeCap,
    /// How long holds and waitlist offers last.
    pub holds: HoldPolicy,
    /// What self-service links are signed with.
    pub links: LinkKey,
    /// Wakes the backfill worker when a change frees time.
    pub backfill: backfill::Wake,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Connect to the backing services and migrate.
pub async fn connect(
    config: &Config,
    verifier: Arc<Verifier>,
) -> anyhow::Result<(AppState, Broker)> {
    connect_with(config, verifier, Arc::new(SystemClock)).await
}

/// [`connect`], reading time from `clock`.
pub async fn connect_with(
    config: &Config,
    verifier: Arc<Verifier>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(AppState, Broker)> {
    let c = &config.common;
    let db =
        platform::db::prepare(&c.database_url, c.database_max_connections, &MIGRATIONS).await?;
    let cache = LazyCache::connect(c).await;
    let broker = Broker::connect(c).await?;
    let relay = OutboxRelay::new(db.clone(), broker.clone(), c.outbox_poll_interval);
    let slots = SlotCache::new(cache, config.cache_ttl.as_secs());
    Ok((
        AppState {
            db,
            verifier,
            relay,
            slots,
            clock,
            max_fee: config.max_fee,
            holds: config.holds,
            links: config.link_key.clone(),
            backfill: Arc::default(),
        },
        broker,
    ))
}

/// Build the service: router, outbox relay, the read-model consumer and the
/// waitlist's backfill worker.
pub async fn build(config: &Config) -> anyhow::Result<Service> {
    build_with_verifier(config, Verifier::from_config(&config.common.auth)).await
}

pub async fn build_with_verifier(
    config: &Config,
    verifier: Arc<Verifier>,
) -> anyhow::Result<Service> {
    build_with(config, verifier, Arc::new(SystemClock)).await
}

/// [`build`] with the token verifier and the clock given (tests move the clock).
pub async fn build_with(
    config: &Config,
    verifier: Arc<Verifier>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Service> {
    let (state, broker) = connect_with(config, verifier, clock).await?;
    // Redis is left out on purpose: slots are computed from the database without
    // it, so a cache outage must not take every replica out of rotation.
    let readiness = Readiness {
        db: state.db.clone(),
        cache: None,
        broker: Some(broker.clone()),
    };
    let shell = Shell::new("scheduling", &config.common, routes::ApiDoc::openapi());
    let relay = state.relay.clone();
    let slots = state.slots.clone();
    let handler = Arc::new(consumers::PeopleHandler {
        slots: state.slots.clone(),
    });
    let spec = consumers::spec(&config.common.queue_prefix);
    let (consumer_broker, consumer_db) = (broker.clone(), state.db.clone());
    let (filler, poll) = (state.clone(), config.backfill_poll);
    let router = service_router(shell, routes::router(state), readiness);
    Ok(Service::new("scheduling", router)
        .with_worker(move |cancel| relay.run(cancel))
        .with_worker(move |cancel| slots.keep_connecting(cancel))
        .with_worker(move |cancel| {
            consumer::run(consumer_broker, consumer_db, spec, handler, cancel)
        })
        .with_worker(move |cancel| backfill::run(filler, poll, cancel))
        .with_broker(broker))
}

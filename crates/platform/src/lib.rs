//! What every Carebook service shares: typed config, problem+json errors and
//! extractors, telemetry and metrics, the HTTP shell, PostgreSQL, Redis, the
//! event outbox/relay/consumer, token verification; with the `testing` and
//! `bench` features, the support tests and benchmarks share.

pub mod auth;
pub mod backup;
#[cfg(feature = "bench")]
pub mod bench;
pub mod cache;
pub mod care;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod events;
pub mod extract;
pub mod http;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod problem;
pub mod service;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

pub use problem::Problem;

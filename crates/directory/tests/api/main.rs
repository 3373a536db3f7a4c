//! The directory's HTTP API and events against real PostgreSQL, Redis and RabbitMQ.

mod cache;
mod care;
mod events;
mod helpers;
mod ops;
mod patient_search;
mod patients;
mod providers;
mod search;
mod seed;

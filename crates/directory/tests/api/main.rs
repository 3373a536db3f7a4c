//! The directory's HTTP API and events against real PostgreSQL, Redis and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

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

//! Identity's HTTP API against real PostgreSQL, Redis and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod accounts;
mod events;
mod helpers;
mod ops;
mod sessions;
mod tokens;

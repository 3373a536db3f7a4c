//! Billing's HTTP API and event consumer against real PostgreSQL, Redis and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod access;
mod balance;
mod helpers;
mod insurance;
mod invoicing;
mod payments;

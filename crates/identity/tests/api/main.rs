//! Identity's HTTP API against real PostgreSQL, Redis and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod accounts;
mod admin;
mod events;
mod helpers;
mod lockout;
mod mfa;
mod ops;
mod passwords;
mod scopes;
mod seed;
mod sessions;
mod tokens;
mod verification;

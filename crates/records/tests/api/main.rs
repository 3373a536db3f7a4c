//! Records' HTTP API against real PostgreSQL, Redis and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod access;
mod audit;
mod break_glass;
mod cache;
mod care;
mod encryption;
mod entries;
mod events;
mod helpers;
mod logs;

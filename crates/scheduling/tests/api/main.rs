//! Scheduling's HTTP API against real PostgreSQL, Redis and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod appointment_types;
mod booking;
mod cache;
mod calendar;
mod calendar_changes;
mod daily_caps;
mod events;
mod helpers;
mod holds;
mod lifecycle;
mod links;
mod series;
mod slots;
mod waitlist;

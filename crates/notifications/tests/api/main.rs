//! Notifications against real PostgreSQL and RabbitMQ, sending to a real SMTP
//! server (a MailDev per test) and reading the mail back through its API.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod accounts;
mod api;
mod break_glass;
mod calendar_feed;
mod delivery;
mod events;
mod helpers;
mod links;
mod reminders;
mod time_zones;
mod waitlist;

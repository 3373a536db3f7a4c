//! The directory's HTTP API and events against real PostgreSQL, Redis and RabbitMQ.

mod cache;
mod events;
mod helpers;
mod ops;
mod patients;
mod providers;
mod search;
mod seed;

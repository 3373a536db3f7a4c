//! Identity's HTTP API against real PostgreSQL, Redis and RabbitMQ.

mod accounts;
mod events;
mod helpers;
mod ops;
mod sessions;
mod tokens;

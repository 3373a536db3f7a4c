//! Records' HTTP API against real PostgreSQL, Redis and RabbitMQ.

mod access;
mod audit;
mod cache;
mod encryption;
mod entries;
mod events;
mod helpers;
mod logs;

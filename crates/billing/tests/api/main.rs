//! Billing's HTTP API and event consumer against real PostgreSQL, Redis and RabbitMQ.

mod access;
mod balance;
mod helpers;
mod insurance;
mod invoicing;
mod payments;

//! Scheduling's HTTP API against real PostgreSQL, Redis and RabbitMQ.

mod booking;
mod events;
mod helpers;
mod lifecycle;
mod slots;

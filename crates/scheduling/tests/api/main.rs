//! Scheduling's HTTP API against real PostgreSQL, Redis and RabbitMQ.

mod booking;
mod cache;
mod calendar;
mod events;
mod helpers;
mod lifecycle;
mod slots;

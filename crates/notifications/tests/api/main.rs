//! Notifications against real PostgreSQL and RabbitMQ, sending to a real SMTP
//! server (a MailDev per test) and reading the mail back through its API.

mod api;
mod delivery;
mod events;
mod helpers;
mod reminders;

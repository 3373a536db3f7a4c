//! Notifications' SQL, one module per table.

pub mod appointments;
pub mod calendar_feeds;
pub mod deliveries;
pub mod links;
pub mod people;
pub mod reminders;

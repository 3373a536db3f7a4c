//! Scheduling's rules as pure functions over plain values: when a provider is
//! available, which slots are free, whether a requested start is bookable, how
//! an appointment may change state, what a cancellation costs, how long a
//! hold lasts, who on the waitlist gets a freed slot, and what a
//! self-service link is.

pub mod access;
pub mod availability;
pub mod cancellation;
pub mod holds;
pub mod lifecycle;
pub mod links;
pub mod series;
pub mod slots;
pub mod types;
pub mod waitlist;

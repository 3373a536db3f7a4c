//! Scheduling's rules as pure functions over plain values: when a provider is
//! available, which slots are free, whether a requested start is bookable, how
//! an appointment may change state, and what a cancellation costs.

pub mod access;
pub mod availability;
pub mod cancellation;
pub mod lifecycle;
pub mod slots;
pub mod types;

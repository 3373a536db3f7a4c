//! Scheduling's SQL, one module per table group.

pub mod appointments;
pub mod availability;
pub mod holds;
pub mod links;
pub mod readmodel;
pub mod replays;
pub mod series;
pub mod types;
pub mod waitlist;

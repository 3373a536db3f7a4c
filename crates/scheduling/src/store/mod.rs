//! Scheduling's SQL, one module per table group.

pub mod appointments;
pub mod availability;
pub mod readmodel;
pub mod types;

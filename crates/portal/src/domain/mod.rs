//! The portal's pure parts: how times, weeks, money, record entries, record
//! access, cancellation policies and API failures are shown, and how the clinic's forms (availability, record
//! entries, payments, recurring series) are read. No I/O; unit-tested.

pub mod access;
pub mod account;
pub mod availability;
pub mod chart;
pub mod feedback;
pub mod hold;
pub mod link_token;
pub mod local_time;
pub mod money;
pub mod policy;
pub mod record;
pub mod schedule;
pub mod series;
pub mod time;
pub mod waitlist;
pub mod week;

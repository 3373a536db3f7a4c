//! Notifications' rules as pure functions over plain values: what an
//! appointment event or a break-glass grant says, which emails it causes and
//! what they contain, when reminders are due, and how failed sends are retried.

pub mod appointment;
pub mod backoff;
pub mod break_glass;
pub mod format;
pub mod ics;
pub mod kinds;
pub mod message;
pub mod reminders;

//! Notifications' rules as pure functions over plain values: what an
//! appointment event, a break-glass grant, an account event or a waitlist
//! offer says, which emails it causes and what they contain, which
//! self-service links an email carries, what a provider's calendar feed
//! lists, when reminders are due, when an email no longer holds, and how
//! failed sends are retried.

pub mod account;
pub mod appointment;
pub mod backoff;
pub mod break_glass;
pub mod feed;
pub mod format;
pub mod freshness;
pub mod ics;
pub mod kinds;
pub mod links;
pub mod message;
pub mod reminders;
pub mod waitlist;

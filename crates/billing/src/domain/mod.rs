//! Billing's rules as pure functions over plain values: money and its sums,
//! an invoice's totals and life, payments in flight, who may see what,
//! insurance details, cursors.

pub mod access;
pub mod attempt;
pub mod charges;
pub mod cursor;
pub mod insurance;
pub mod invoice;
pub mod money;
pub mod totals;

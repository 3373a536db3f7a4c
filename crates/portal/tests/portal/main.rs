//! The portal against the real Redis: its session store, the pages and
//! protections that need no API behind them, and the account pages against a
//! stand-in API.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod accounts;
mod clinic_api;
mod clinical;
mod fake_api;
mod helpers;
mod holds;
mod links;
mod pages;
mod recurring;
mod sessions;
mod waitlist;

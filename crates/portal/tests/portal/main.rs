//! The portal against the real Redis: its session store, and the pages and
//! protections that need no API behind them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod helpers;
mod pages;
mod sessions;

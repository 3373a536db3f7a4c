//! The portal against the real Redis: its session store, and the pages and
//! protections that need no API behind them.

mod helpers;
mod pages;
mod sessions;

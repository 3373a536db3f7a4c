//! Time as scheduling's rules see it (the platform's clock), so "the visit has
//! started" or "inside the cancellation window" is tested by moving the clock.

pub use platform::clock::{Clock, SettableClock, SystemClock};

//! Time as the consumer and the worker see it (the platform's clock), so
//! reminder timing is tested by moving the clock, not by waiting for it.

pub use platform::clock::{Clock, SettableClock, SystemClock};

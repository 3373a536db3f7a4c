//! The portal's pure parts: how times, weeks, money, record entries and API
//! failures are shown. No I/O; unit-tested.

pub mod feedback;
pub mod money;
pub mod record;
pub mod time;
pub mod week;

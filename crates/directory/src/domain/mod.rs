//! The directory's rules as pure functions, no I/O: what valid profile fields
//! are (text bounds, IANA time zones, language tags, dates of birth, phones),
//! who may read or change which profile (and which appointments open a
//! patient's summary to a provider), and how search pages are cut.

pub mod access;
pub mod care;
pub mod cursor;
pub mod language;
pub mod patient;
pub mod provider;
pub mod search;
pub mod text;
pub mod violations;

pub use access::{Actor, Decision};
pub use contracts::time_zone::{self, TimeZone};
pub use cursor::Cursor;
pub use violations::Violations;

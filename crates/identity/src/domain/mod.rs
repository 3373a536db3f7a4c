//! Identity's rules as pure functions: what a valid email, name and password
//! are; when failed sign-ins wait or stop and when they raise an alert; where
//! a client signs in from; TOTP codes and recovery codes; how often a link is
//! emailed; what an administrator's search and reasons may be; which time
//! zone names exist.

pub mod admin;
pub mod client;
pub mod email;
pub mod lockout;
pub mod mail;
pub mod name;
pub mod password;
pub mod totp;

pub use contracts::time_zone::{self, TimeZone};
pub use email::Email;
pub use name::PersonName;
pub use password::{NewPassword, PasswordError};

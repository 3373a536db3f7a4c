//! Identity's rules as pure functions: what a valid email, name and password
//! are, and when repeated login failures lock an email out.

pub mod email;
pub mod lockout;
pub mod name;
pub mod password;

pub use email::Email;
pub use name::PersonName;
pub use password::{NewPassword, PasswordError};

//! The gateway's decisions as pure functions: which upstream a path goes to,
//! which client a request counts against, and whether a rate limit admits it.

pub mod balance;
pub mod client_ip;
pub mod gcra;
pub mod routing;

//! The gateway's decisions as pure functions: which upstream a path goes to,
//! which replicas a name stands for, which replica takes a request and whether
//! it is healthy, which client a request counts against, whether a rate limit
//! admits it, and whether a request is sent again.

pub mod balance;
pub mod client_ip;
pub mod discovery;
pub mod gcra;
pub mod outlier;
pub mod retry;
pub mod routing;

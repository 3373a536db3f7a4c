//! Records' SQL, one module per table group.

pub mod audit;
pub mod care;
pub mod entries;

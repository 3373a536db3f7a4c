//! Records' SQL, one module per table group.

pub mod audit;
pub mod break_glass;
pub mod care;
pub mod entries;

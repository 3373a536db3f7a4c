//! Records' rules as pure functions over plain values: who may read or write a
//! patient's clinical record, what a valid clinical entry is (ICD-10 codes,
//! vitals with units and plausible ranges, dates, note sizes), and how the
//! audit chain is hashed.

pub mod access;
pub mod chain;
pub mod entries;
pub mod icd10;
pub mod vitals;

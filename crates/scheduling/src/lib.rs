//! Carebook scheduling: appointment types, availability, free slots, race-free
//! booking and the appointment lifecycle.

pub mod domain;

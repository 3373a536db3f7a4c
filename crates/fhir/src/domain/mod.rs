//! The FHIR view as pure functions: ids, search parameters, Bundles,
//! OperationOutcomes, the CapabilityStatement, and each resource mapped from
//! the REST API's answers (and a posted Appointment back into a booking).

pub mod bundle;
pub mod capability;
pub mod clinical;
pub mod ids;
pub mod models;
pub mod outcome;
pub mod people;
pub mod scheduling;
pub mod search;

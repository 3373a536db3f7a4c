//! What the directory publishes: `provider.updated` and `patient.updated` (v1)
//! through the outbox, in the transaction of every change — creation included,
//! so scheduling learns a provider's time zone from the start.

use contracts::directory::{PatientUpdated, ProviderUpdated};
use platform::events::Envelope;

use crate::store::{PatientRow, ProviderRow};

pub fn provider_updated(row: &ProviderRow) -> Result<Envelope, serde_json::Error> {
    Envelope::of::<ProviderUpdated>(&ProviderUpdated {
        provider_id: row.id,
        name: row.name.clone(),
        specialty: row.specialty.clone(),
        time_zone: row.time_zone.clone(),
        accepting_new_patients: row.accepting_new_patients,
    })
}

pub fn patient_updated(row: &PatientRow) -> Result<Envelope, serde_json::Error> {
    Envelope::of::<PatientUpdated>(&PatientUpdated {
        patient_id: row.id,
        name: row.name.clone(),
        email: row.email.clone(),
        preferred_provider_id: row.preferred_provider_id,
        time_zone: row.time_zone.clone(),
    })
}

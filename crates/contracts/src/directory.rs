//! What the directory publishes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Event, Service};

/// `provider.updated` v1: what other services keep about a provider; published
/// on creation and on every change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderUpdated {
    pub provider_id: Uuid,
    pub name: String,
    pub specialty: String,
    /// IANA name; scheduling computes availability in it.
    pub time_zone: String,
    pub accepting_new_patients: bool,
}

impl Event for ProviderUpdated {
    type Payload = Self;
    const TYPE: &'static str = "provider.updated";
    const VERSION: u32 = 1;
    const PRODUCER: Service = Service::Directory;
    const SUMMARY: &'static str = "A provider's profile was created or changed.";

    fn example() -> Self {
        Self {
            provider_id: crate::examples::PROVIDER,
            name: "Dr. Grace Provider".into(),
            specialty: "General practice".into(),
            time_zone: "Europe/Berlin".into(),
            accepting_new_patients: true,
        }
    }
}

/// `patient.updated` v1: what other services keep about a patient; published
/// on creation and on every change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PatientUpdated {
    pub patient_id: Uuid,
    pub name: String,
    pub email: String,
    pub preferred_provider_id: Option<Uuid>,
    /// The patient's IANA time zone, when known: emails and reminders show
    /// times in it first, and in the provider's zone too when it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl Event for PatientUpdated {
    type Payload = Self;
    const TYPE: &'static str = "patient.updated";
    const VERSION: u32 = 1;
    const PRODUCER: Service = Service::Directory;
    const SUMMARY: &'static str = "A patient's profile was created or changed.";

    fn example() -> Self {
        Self {
            patient_id: crate::examples::PATIENT,
            name: "Ada Patient".into(),
            email: "ada@example.org".into(),
            preferred_provider_id: Some(crate::examples::PROVIDER),
            time_zone: Some("America/New_York".into()),
        }
    }
}

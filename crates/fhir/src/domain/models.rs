//! The REST API's answers, as far as the FHIR view reads them (other fields
//! are ignored, so the API can grow without breaking this view).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;

/// Any keyset page of the REST API.
#[derive(Debug, Deserialize)]
pub struct RestPage<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Provider {
    pub id: Uuid,
    pub name: String,
    pub specialty: String,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub location: String,
    pub time_zone: String,
    #[serde(default)]
    pub accepting_new_patients: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AppointmentType {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub name: String,
    pub duration_minutes: i32,
    pub horizon_days: i32,
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Appointment {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `booked`, `checked_in`, `completed`, `cancelled`, `no_show`.
    pub status: String,
    #[serde(default)]
    pub cancel_reason: Option<String>,
}

/// Who a patient is (`GET /patients/{id}/summary`, staff's patient search).
#[derive(Clone, Debug, Deserialize)]
pub struct PatientSummary {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// One version of a record entry.
#[derive(Clone, Debug, Deserialize)]
pub struct RecordEntry {
    pub id: Uuid,
    pub version: i32,
    /// `active` or `entered_in_error`.
    pub status: String,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The kind's own fields, which the API sends beside the common ones.
    #[serde(flatten)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// One line of a record's access log.
#[derive(Clone, Debug, Deserialize)]
pub struct AccessLogEntry {
    /// Its place in the hash-chained log: the AuditEvent's id.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Uuid,
    pub role: String,
    pub action: String,
    #[serde(default)]
    pub kind: Option<String>,
    pub outcome: String,
    #[serde(default)]
    pub break_glass: bool,
}

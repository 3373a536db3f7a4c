//! What records publishes: notable accesses to a health record, ids and codes only.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{examples, Event, Service};

/// `record.accessed` v1: a notable access (break-glass), for alerting and
/// notification. Ids and codes only, never record content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecordAccessed {
    /// The audit entry that records it.
    pub audit_seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Uuid,
    pub role: String,
    pub patient_id: Uuid,
    /// `read`, `write`, `break_glass`, …
    pub action: String,
    /// The kind of entry read or written, if one.
    pub kind: Option<String>,
    pub entry_ids: Vec<Uuid>,
    pub break_glass: bool,
}

impl Event for RecordAccessed {
    type Payload = Self;
    const TYPE: &'static str = "record.accessed";
    const VERSION: u32 = 1;
    const PRODUCER: Service = Service::Records;
    const SUMMARY: &'static str =
        "A health record was accessed in a way that must be seen (break-glass).";

    fn example() -> Self {
        Self {
            audit_seq: 17,
            at: examples::at(9, 5),
            actor_id: examples::PROVIDER,
            role: "provider".into(),
            patient_id: examples::PATIENT,
            action: "break_glass".into(),
            kind: None,
            entry_ids: vec![examples::ENTRY],
            break_glass: true,
        }
    }
}

/// `record.break_glass_granted` v1: a provider opened a patient's record in an
/// emergency, without a care relationship. Notifications tells the patient and
/// the clinic's privacy contact at once; the reason is what the provider gave
/// (free text, told to the patient: never logged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BreakGlassGranted {
    pub grant_id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub reason: String,
    pub granted_at: DateTime<Utc>,
    /// Read-only access ends then.
    pub expires_at: DateTime<Utc>,
}

impl Event for BreakGlassGranted {
    type Payload = Self;
    const TYPE: &'static str = "record.break_glass_granted";
    const VERSION: u32 = 1;
    const PRODUCER: Service = Service::Records;
    const SUMMARY: &'static str =
        "A provider opened a patient's record in an emergency (break-glass), read-only for a short time.";
    /// The reason is kept encrypted by records; the outbox must not keep a copy.
    const SENSITIVE: bool = true;

    fn example() -> Self {
        Self {
            grant_id: examples::ENTRY,
            patient_id: examples::PATIENT,
            provider_id: examples::PROVIDER,
            reason: "Unconscious in the emergency room; checking allergies".into(),
            granted_at: examples::at(9, 5),
            expires_at: examples::at(9, 35),
        }
    }
}

//! The one envelope every event travels in; the routing key is its `type`.

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// UUIDv7: unique, and ordered by creation time.
    pub id: Uuid,
    /// `appointment.booked`, `user.registered`, …
    #[serde(rename = "type")]
    pub event_type: String,
    /// Version of `data`'s schema for this type.
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    /// The service that published it.
    pub source: String,
    pub correlation_id: Option<Uuid>,
    pub data: serde_json::Value,
}

impl Envelope {
    pub fn new<T: Serialize>(
        event_type: &str,
        version: u32,
        source: &str,
        data: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: Uuid::now_v7(),
            event_type: event_type.to_owned(),
            version,
            occurred_at: Utc::now(),
            source: source.to_owned(),
            correlation_id: None,
            data: serde_json::to_value(data)?,
        })
    }

    pub fn with_correlation(mut self, id: Option<Uuid>) -> Self {
        self.correlation_id = id;
        self
    }

    /// The payload as a typed value; an error means a malformed event.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_the_documented_field_names() {
        let e = Envelope::new(
            "user.registered",
            1,
            "identity",
            &serde_json::json!({"user_id": "x"}),
        )
        .unwrap();
        let v = serde_json::to_value(&e).unwrap();
        for field in [
            "id",
            "type",
            "version",
            "occurred_at",
            "source",
            "correlation_id",
            "data",
        ] {
            assert!(v.get(field).is_some(), "missing {field}");
        }
        let back: Envelope = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = Envelope::new("a", 1, "s", &()).unwrap();
        let b = Envelope::new("a", 1, "s", &()).unwrap();
        assert!(a.id < b.id);
    }
}

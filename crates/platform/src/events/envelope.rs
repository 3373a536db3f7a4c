//! The one envelope every event travels in; the routing key is its `type`.

use chrono::{DateTime, Utc};
use contracts::Event;
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

    /// `payload` as event `E`: its type, version and producer from the contract.
    pub fn of<E: Event>(payload: &E::Payload) -> Result<Self, serde_json::Error> {
        Self::new(E::TYPE, E::VERSION, E::PRODUCER.as_str(), payload)
    }

    /// Whether this is event `E` (its type and version).
    pub fn is<E: Event>(&self) -> bool {
        self.event_type == E::TYPE && self.version == E::VERSION
    }

    /// The payload of event `E`; another type or version, or data not of its
    /// shape, is an error (the event is malformed for this consumer).
    pub fn decode<E: Event>(&self) -> Result<E::Payload, DecodeError> {
        if !self.is::<E>() {
            return Err(DecodeError::NotThisEvent {
                expected: E::TYPE,
                version: E::VERSION,
            });
        }
        Ok(self.data_as()?)
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

/// Why an envelope's data could not be read as the event asked for.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not {expected} v{version}")]
    NotThisEvent {
        expected: &'static str,
        version: u32,
    },
    /// serde's message can quote values: shown only as its category.
    #[error("data does not match the payload ({:?})", .0.classify())]
    Data(#[from] serde_json::Error),
}

/// Why an event breaks the contract of its type, if it does: such an event is
/// never handed to a handler. `publisher` is the broker user that really
/// published it (the AMQP `user-id` RabbitMQ validated; `None` if unset), and
/// `publisher_of` names the user each service publishes as.
pub fn contract_violation(
    event: &Envelope,
    publisher: Option<&str>,
    publisher_of: impl Fn(contracts::Service) -> String,
) -> Option<&'static str> {
    let spec = match contracts::find(&event.event_type, event.version) {
        None if contracts::producer_of(&event.event_type).is_some() => {
            return Some("unknown-version")
        }
        None => return Some("unknown-type"),
        Some(spec) => spec,
    };
    if spec.producer.as_str() != event.source {
        return Some("wrong-producer");
    }
    match publisher {
        None => Some("no-publisher"),
        Some(user) if user != publisher_of(spec.producer) => Some("forged-publisher"),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::{identity::UserRegistered, scheduling::AppointmentBooked, Role};

    fn registered() -> UserRegistered {
        UserRegistered {
            user_id: Uuid::now_v7(),
            role: Role::Patient,
            name: "Ada".into(),
            email: "ada@example.org".into(),
            time_zone: None,
        }
    }

    #[test]
    fn an_event_carries_its_contract_and_decodes_as_itself_only() {
        let user = registered();
        let e = Envelope::of::<UserRegistered>(&user).unwrap();
        assert_eq!(
            (e.event_type.as_str(), e.version, e.source.as_str()),
            ("user.registered", 1, "identity")
        );
        assert_eq!(e.decode::<UserRegistered>().unwrap(), user);
        assert!(matches!(
            e.decode::<AppointmentBooked>(),
            Err(DecodeError::NotThisEvent { .. })
        ));
        let mut v2 = e.clone();
        v2.version = 2;
        assert!(v2.decode::<UserRegistered>().is_err());
        let mut broken = e;
        broken.data = serde_json::json!({"user_id": "not a uuid"});
        assert!(matches!(
            broken.decode::<UserRegistered>(),
            Err(DecodeError::Data(_))
        ));
    }

    fn per_service(s: contracts::Service) -> String {
        format!("carebook_{}", s.as_str())
    }

    #[test]
    fn events_outside_their_contract_are_named() {
        let ok = Envelope::of::<UserRegistered>(&registered()).unwrap();
        let check = |e: &Envelope, user| contract_violation(e, user, per_service);
        assert_eq!(check(&ok, Some("carebook_identity")), None);
        let mut forged = ok.clone();
        forged.source = "scheduling".into();
        assert_eq!(
            check(&forged, Some("carebook_identity")),
            Some("wrong-producer")
        );
        let mut future = ok.clone();
        future.version = 9;
        assert_eq!(
            check(&future, Some("carebook_identity")),
            Some("unknown-version")
        );
        let mut unknown = ok.clone();
        unknown.event_type = "user.teleported".into();
        assert_eq!(
            check(&unknown, Some("carebook_identity")),
            Some("unknown-type")
        );
        // The envelope claims identity; the broker says scheduling's user sent it.
        assert_eq!(
            check(&ok, Some("carebook_scheduling")),
            Some("forged-publisher")
        );
        assert_eq!(check(&ok, None), Some("no-publisher"));
    }

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

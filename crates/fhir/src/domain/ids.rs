//! FHIR ids and references for what the REST API names by UUID.
//!
//! Most resources keep the REST id. A slot is not stored anywhere, so its id
//! says what it is: the appointment type (its Schedule) and the start, short
//! enough for FHIR's 64-character id (`{type uuid, no dashes}.{unix seconds}`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A computed slot: one appointment type's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SlotId {
    pub start: DateTime<Utc>,
    pub type_id: Uuid,
}

impl SlotId {
    pub fn parse(id: &str) -> Option<Self> {
        let (type_part, start_part) = id.split_once('.')?;
        if type_part.len() != 32 || start_part.is_empty() || start_part.len() > 12 {
            return None;
        }
        let type_id = Uuid::try_parse(type_part).ok()?;
        if !start_part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let start = DateTime::from_timestamp(start_part.parse().ok()?, 0)?;
        Some(Self { start, type_id })
    }
}

impl std::fmt::Display for SlotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.type_id.simple(), self.start.timestamp())
    }
}

/// The id a reference names, when it names a `resource`: `Practitioner/{id}`,
/// a full URL ending so, or (for search parameters) the bare id.
pub fn referenced(value: &str, resource: &str) -> Option<Uuid> {
    let value = value.trim();
    let id = match value.rsplit_once('/') {
        Some((before, id)) => {
            let kind = before.rsplit('/').next()?;
            if kind != resource {
                return None;
            }
            id
        }
        None => value,
    };
    Uuid::try_parse(id).ok()
}

/// A FHIR id as the REST API's UUID (anything else names nothing here).
pub fn uuid_of(id: &str) -> Option<Uuid> {
    Uuid::try_parse(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn references_name_their_resource() {
        let id = Uuid::now_v7();
        assert_eq!(
            referenced(&format!("Practitioner/{id}"), "Practitioner"),
            Some(id)
        );
        assert_eq!(referenced(&id.to_string(), "Practitioner"), Some(id));
        assert_eq!(
            referenced(
                &format!("https://x.test/fhir/R4/Practitioner/{id}"),
                "Practitioner"
            ),
            Some(id)
        );
        assert_eq!(referenced(&format!("Patient/{id}"), "Practitioner"), None);
        assert_eq!(referenced("Practitioner/not-a-uuid", "Practitioner"), None);
    }

    #[test]
    fn slot_ids_refuse_what_is_not_one() {
        for bad in [
            "",
            ".",
            "abc.123",
            "0190abcdef0123456789abcdef012345.",
            "0190abcdef0123456789abcdef012345.-5",
            "0190abcdef0123456789abcdef012345.12a",
            "0190abcd-ef01-2345-6789-abcdef012345.1",
        ] {
            assert_eq!(SlotId::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn slot_ids_round_trip_within_fhirs_id_rules(bytes in any::<[u8; 16]>(), secs in 0i64..4_102_444_800) {
            let id = SlotId {
                type_id: Uuid::from_bytes(bytes),
                start: DateTime::from_timestamp(secs, 0).unwrap(),
            };
            let text = id.to_string();
            prop_assert!(text.len() <= 64);
            prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
            prop_assert_eq!(SlotId::parse(&text), Some(id));
        }
    }
}

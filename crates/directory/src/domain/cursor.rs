//! The opaque page cursor of the provider listing: the sort key `(name, id)`
//! of the last item shown. Clients pass it back unchanged; its encoding may
//! change at any time.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longer cursors are refused before decoding.
const MAX_ENCODED_LEN: usize = 1024;

/// Where the next page starts: strictly after `(name, id)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "n")]
    pub name: String,
    #[serde(rename = "i")]
    pub id: Uuid,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a cursor from a previous page")]
pub struct InvalidCursor;

impl Cursor {
    pub fn encode(&self) -> String {
        // Serializing a string and a UUID cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(raw: &str) -> Result<Self, InvalidCursor> {
        if raw.is_empty() || raw.len() > MAX_ENCODED_LEN {
            return Err(InvalidCursor);
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| InvalidCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| InvalidCursor)
    }
}

/// Cut a page fetched with one row more than `limit` (see the store's
/// searches) down to `limit`; the cursor of the next page, if there is one.
pub fn next_page<R>(rows: &mut Vec<R>, limit: u32, key: impl Fn(&R) -> Cursor) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    platform::page::next_page(rows, limit, |last| key(last).encode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cursors_round_trip_and_are_url_safe() {
        let c = Cursor {
            name: "Dr. Zoë O'Brien/+?&".into(),
            id: Uuid::now_v7(),
        };
        let encoded = c.encode();
        assert!(encoded
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
        assert_eq!(Cursor::decode(&encoded), Ok(c));
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        for bad in ["", "!!!", "bm90IGpzb24", &"A".repeat(2000)] {
            assert_eq!(Cursor::decode(bad), Err(InvalidCursor), "{bad}");
        }
        let wrong_shape = URL_SAFE_NO_PAD.encode(br#"{"n":"x"}"#);
        assert_eq!(Cursor::decode(&wrong_shape), Err(InvalidCursor));
    }

    #[test]
    fn a_page_with_one_row_more_has_a_next_page_after_its_last_row() {
        let key = |n: &u128| Cursor {
            name: n.to_string(),
            id: Uuid::from_u128(*n),
        };
        let mut rows: Vec<u128> = vec![1, 2, 3];
        let next = next_page(&mut rows, 2, key);
        assert_eq!(rows, [1, 2]);
        assert_eq!(next.as_deref().map(Cursor::decode), Some(Ok(key(&2))));
        let mut last: Vec<u128> = vec![1, 2];
        assert_eq!(next_page(&mut last, 2, key), None);
        assert_eq!(last, [1, 2]);
    }

    proptest! {
        #[test]
        fn any_name_round_trips(name in ".{0,200}", id in any::<u128>()) {
            let c = Cursor { name, id: Uuid::from_u128(id) };
            prop_assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        }

        #[test]
        fn decoding_never_panics(raw in ".{0,300}") {
            let _ = Cursor::decode(&raw);
        }
    }
}

//! The opaque page cursor of invoice lists: the id of the last invoice shown.
//! Lists run newest first by id (UUIDv7, so by creation time); clients pass
//! `next_cursor` back unchanged, and its encoding may change at any time.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use uuid::Uuid;

/// Longer cursors are refused before decoding.
const MAX_ENCODED_LEN: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The next page starts strictly after (below) this id.
    pub after: Uuid,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a cursor from a previous page")]
pub struct InvalidCursor;

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.after.as_bytes())
    }

    pub fn decode(raw: &str) -> Result<Self, InvalidCursor> {
        if raw.is_empty() || raw.len() > MAX_ENCODED_LEN {
            return Err(InvalidCursor);
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| InvalidCursor)?;
        let after = Uuid::from_slice(&bytes).map_err(|_| InvalidCursor)?;
        Ok(Self { after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn garbage_is_not_a_cursor() {
        for bad in ["", "!!!", "bm90IGEgdXVpZA", &"A".repeat(100)] {
            assert_eq!(Cursor::decode(bad), Err(InvalidCursor), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn cursors_round_trip_and_are_url_safe(id in any::<u128>()) {
            let c = Cursor { after: Uuid::from_u128(id) };
            let encoded = c.encode();
            prop_assert!(encoded.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
            prop_assert_eq!(Cursor::decode(&encoded), Ok(c));
        }

        #[test]
        fn decoding_never_panics(raw in ".{0,100}") {
            let _ = Cursor::decode(&raw);
        }
    }
}

//! Self-service links: the signed tokens in confirmation and reminder emails
//! that cancel or reschedule one appointment without signing in.
//!
//! A token is `base64url(payload ‖ HMAC-SHA256(key, context ‖ payload))` with
//! the payload naming the appointment, the one action, the appointment's
//! version and the expiry (its start). Only scheduling holds the key
//! (`SCHEDULING_LINK_KEY`), so only scheduling can mint one; nothing is
//! stored per token. A link stops working at the start time, once the
//! appointment changes (its version moves on, which also makes every link
//! single use: using one changes the appointment) and once used (recorded, for
//! the action that leaves the version alone). It authorizes its action on its
//! appointment only and never signs anyone in.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use uuid::Uuid;

/// Separates these MACs from any other use of the key.
const CONTEXT: &[u8] = b"carebook.scheduling.appointment-link.v1";
/// The token layout's version (first payload byte).
const FORMAT: u8 = 1;
/// format (1) + appointment id (16) + action (1) + version (4) + expiry (8).
const PAYLOAD_LEN: usize = 30;
const MAC_LEN: usize = 32;

/// The 32-byte key links are signed with. Never printed.
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(…)")
    }
}

/// `SCHEDULING_LINK_KEY` is not base64 of exactly 32 bytes.
#[derive(Debug, thiserror::Error)]
#[error("not base64 of exactly 32 bytes")]
pub struct InvalidLinkKey;

impl LinkKey {
    /// A key from its standard base64 form (what `openssl rand -base64 32` prints).
    pub fn parse(base64: &str) -> Result<Self, InvalidLinkKey> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(base64.trim())
            .map_err(|_| InvalidLinkKey)?;
        Ok(Self(bytes.try_into().map_err(|_| InvalidLinkKey)?))
    }

    /// A fresh random key (tests, and development without TLS).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    fn mac(&self) -> Hmac<Sha256> {
        let mut mac = keyed(&self.0);
        mac.update(CONTEXT);
        mac
    }
}

/// HMAC-SHA256 keyed with `key`. HMAC pads a key shorter than the hash's
/// block with zeros (RFC 2104), so keying with the padded block is keying with
/// the 32 bytes themselves, through the constructor that cannot fail.
fn keyed(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut block = hmac::digest::Key::<Hmac<Sha256>>::default();
    block[..key.len()].copy_from_slice(key);
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block)
}

/// What a link does.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LinkAction {
    Cancel,
    Reschedule,
}

impl LinkAction {
    fn code(self) -> u8 {
        match self {
            LinkAction::Cancel => 1,
            LinkAction::Reschedule => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(LinkAction::Cancel),
            2 => Some(LinkAction::Reschedule),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkAction::Cancel => "cancel",
            LinkAction::Reschedule => "reschedule",
        }
    }
}

/// What a token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub appointment_id: Uuid,
    pub action: LinkAction,
    /// The appointment's version the link was issued for.
    pub version: i32,
    pub expires_at: DateTime<Utc>,
}

fn payload(link: &Link) -> [u8; PAYLOAD_LEN] {
    let mut p = [0u8; PAYLOAD_LEN];
    p[0] = FORMAT;
    p[1..17].copy_from_slice(link.appointment_id.as_bytes());
    p[17] = link.action.code();
    p[18..22].copy_from_slice(&link.version.to_be_bytes());
    p[22..30].copy_from_slice(&link.expires_at.timestamp().to_be_bytes());
    p
}

/// The token for `link`.
pub fn sign(key: &LinkKey, link: &Link) -> String {
    let p = payload(link);
    let mut mac = key.mac();
    mac.update(&p);
    let tag = mac.finalize().into_bytes();
    let mut token = Vec::with_capacity(PAYLOAD_LEN + MAC_LEN);
    token.extend_from_slice(&p);
    token.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(token)
}

/// Not a token scheduling signed (malformed, altered, or another key's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a valid link")]
pub struct Forged;

/// What `token` says, if scheduling signed it (in constant time over the MAC).
pub fn open(key: &LinkKey, token: &str) -> Result<Link, Forged> {
    if token.len() > 128 {
        return Err(Forged);
    }
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| Forged)?;
    if raw.len() != PAYLOAD_LEN + MAC_LEN {
        return Err(Forged);
    }
    let (p, tag) = raw.split_at(PAYLOAD_LEN);
    let mut mac = key.mac();
    mac.update(p);
    mac.verify_slice(tag).map_err(|_| Forged)?;
    if p[0] != FORMAT {
        return Err(Forged);
    }
    let id = Uuid::from_slice(&p[1..17]).map_err(|_| Forged)?;
    let action = LinkAction::from_code(p[17]).ok_or(Forged)?;
    let version = i32::from_be_bytes(p[18..22].try_into().map_err(|_| Forged)?);
    let seconds = i64::from_be_bytes(p[22..30].try_into().map_err(|_| Forged)?);
    Ok(Link {
        appointment_id: id,
        action,
        version,
        expires_at: DateTime::from_timestamp(seconds, 0).ok_or(Forged)?,
    })
}

/// Why a genuine link no longer works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Spent {
    #[error("the link expired at the appointment's start")]
    Expired,
    #[error("the appointment changed since the link was sent")]
    Superseded,
}

/// Whether a genuine `link` still works at `now` for the appointment at
/// `current_version`. (Whether it was used is the store's to say.)
pub fn still_valid(link: &Link, current_version: i32, now: DateTime<Utc>) -> Result<(), Spent> {
    if now >= link.expires_at {
        return Err(Spent::Expired);
    }
    if link.version != current_version {
        return Err(Spent::Superseded);
    }
    Ok(())
}

/// Both links of one appointment version, expiring at its start.
pub fn issue(
    key: &LinkKey,
    appointment_id: Uuid,
    version: i32,
    start: DateTime<Utc>,
) -> (String, String) {
    let link = |action| Link {
        appointment_id,
        action,
        version,
        expires_at: start,
    };
    (
        sign(key, &link(LinkAction::Cancel)),
        sign(key, &link(LinkAction::Reschedule)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn link() -> Link {
        Link {
            appointment_id: Uuid::from_u128(0xc1),
            action: LinkAction::Cancel,
            version: 3,
            expires_at: "2026-05-04T10:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_signed_link_opens_with_its_key_only() {
        let key = LinkKey::generate();
        let token = sign(&key, &link());
        assert_eq!(open(&key, &token), Ok(link()));
        assert_eq!(open(&LinkKey::generate(), &token), Err(Forged));
        assert_eq!(open(&key, "not a token"), Err(Forged));
        assert_eq!(open(&key, &token[..token.len() - 2]), Err(Forged));
        assert!(token.len() < 90, "fits in an email link: {}", token.len());
        let (cancel, reschedule) = issue(&key, link().appointment_id, 3, link().expires_at);
        assert_eq!(cancel, token);
        assert_eq!(
            open(&key, &reschedule).map(|l| l.action),
            Ok(LinkAction::Reschedule)
        );
    }

    #[test]
    fn a_link_works_until_the_start_and_for_its_version_only() {
        let l = link();
        let before = l.expires_at - chrono::Duration::seconds(1);
        assert_eq!(still_valid(&l, 3, before), Ok(()));
        assert_eq!(still_valid(&l, 3, l.expires_at), Err(Spent::Expired));
        assert_eq!(still_valid(&l, 4, before), Err(Spent::Superseded));
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes_and_never_print() {
        let key = LinkKey::parse("INQXEZLCN5XWWRDFNVXUCZDNNFXCCMRWAAAAAAAAAAA=").unwrap();
        assert_eq!(format!("{key:?}"), "LinkKey(…)");
        assert!(LinkKey::parse("c2hvcnQ=").is_err());
        assert!(LinkKey::parse("not base64!").is_err());
    }

    #[test]
    fn the_padded_key_is_the_key() {
        let key = [42u8; 32];
        let mut a = keyed(&key);
        let mut b = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        a.update(b"x");
        b.update(b"x");
        assert_eq!(a.finalize().into_bytes(), b.finalize().into_bytes());
    }

    proptest! {
        /// Changing any byte of a token, or any field of the link, breaks it.
        #[test]
        fn any_alteration_is_refused(
            id in any::<u128>(),
            version in 1i32..1000,
            secs in 0i64..4_000_000_000,
            reschedule in any::<bool>(),
            at in 0usize..83,
            flip in 1u8..=255,
        ) {
            let key = LinkKey([7u8; 32]);
            let l = Link {
                appointment_id: Uuid::from_u128(id),
                action: if reschedule { LinkAction::Reschedule } else { LinkAction::Cancel },
                version,
                expires_at: DateTime::from_timestamp(secs, 0).unwrap(),
            };
            let token = sign(&key, &l);
            prop_assert_eq!(open(&key, &token), Ok(l));
            let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
            let i = at % raw.len();
            raw[i] ^= flip;
            prop_assert_eq!(open(&key, &URL_SAFE_NO_PAD.encode(&raw)), Err(Forged));
            let other = Link { version: version + 1, ..l };
            prop_assert_ne!(sign(&key, &other), token);
        }
    }
}

//! Session values at rest: AES-256-GCM under the portal's session key, so
//! whoever can read Redis (a dump, a replica, a shared instance) learns nothing
//! and can take over no session.
//!
//! Stored format, version 1: `0x01 ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`,
//! raw bytes. The nonce is random per write. The associated data is the version
//! byte and the Redis key the value is stored under, so a value copied to
//! another session's key (or a header altered) does not open.
//!
//! Rotation: the current key seals and opens; old keys only open, and the
//! store rewrites a value opened with one under the current key. To rotate
//! with several replicas, first give every replica the new key as an old one
//! (`PORTAL_SESSION_KEYS_OLD`), then make it current and move the previous
//! key to the old ones; once every replica runs that and
//! `PORTAL_SESSION_IDLE_MINUTES` have passed (untouched sessions have
//! expired, touched ones were rewritten), drop the previous key. Dropping a
//! key at once (it leaked) signs out everyone it sealed.

use std::fmt;

use aes_gcm::{
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
    Aes256Gcm, Nonce,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use rand::RngCore;

/// The first byte of every value this version writes.
pub const VERSION: u8 = 1;
/// AES-GCM's 96-bit nonce.
pub const NONCE_LEN: usize = 12;
/// AES-GCM's 128-bit tag, at the end of the ciphertext.
const TAG_LEN: usize = 16;

/// The portal's session keys: one current, any number of old ones kept for
/// reading during a rotation. Debug output never shows key material.
#[derive(Clone)]
pub struct SessionKeys {
    current: Aes256Gcm,
    old: Vec<Aes256Gcm>,
}

/// Why a key setting was refused. Never carries the material.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    #[error("the current key is not base64 of exactly 32 bytes")]
    Current,
    /// 1-based position in the comma-separated list of old keys.
    #[error("old key {0} is not base64 of exactly 32 bytes")]
    Old(usize),
}

/// Why a stored value did not open. Carries nothing of the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not a format this version reads: empty, too short, or another version
    /// byte (also every plain-JSON value from before encryption).
    #[error("unknown session value format")]
    Format,
    /// No key authenticates it: tampered, sealed under a key we no longer
    /// hold, or copied from another session's key.
    #[error("session value failed its integrity check")]
    Integrity,
}

impl OpenError {
    /// A label value for metrics and logs.
    pub fn reason(self) -> &'static str {
        match self {
            OpenError::Format => "format",
            OpenError::Integrity => "integrity",
        }
    }
}

/// Sealing failed (AES-GCM refuses only absurdly long plaintexts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("session value could not be encrypted")]
pub struct SealError;

/// What an opened value held.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
    pub plaintext: Vec<u8>,
    /// Opened with an old key: should be sealed again under the current one.
    pub stale: bool,
}

fn cipher(b64: &str) -> Option<Aes256Gcm> {
    let bytes = STANDARD.decode(b64.trim()).ok()?;
    (bytes.len() == 32)
        .then(|| Aes256Gcm::new_from_slice(&bytes).ok())
        .flatten()
}

impl SessionKeys {
    /// `current` (base64 of 32 bytes) seals and opens; `old` is a
    /// comma-separated list of such keys that only open (empty entries are skipped).
    pub fn parse(current: &str, old: &str) -> Result<Self, InvalidKey> {
        let current = cipher(current).ok_or(InvalidKey::Current)?;
        let old = old
            .split(',')
            .map(str::trim)
            .enumerate()
            .filter(|(_, k)| !k.is_empty())
            .map(|(i, k)| cipher(k).ok_or(InvalidKey::Old(i + 1)))
            .collect::<Result<_, _>>()?;
        Ok(Self { current, old })
    }

    /// A new random key, base64 as `PORTAL_SESSION_KEY` takes it (what
    /// `head -c32 /dev/urandom | base64` prints).
    pub fn generate() -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        STANDARD.encode(bytes)
    }

    /// How many old keys are held (for logs: counts, never material).
    pub fn old_count(&self) -> usize {
        self.old.len()
    }

    /// Encrypt `plaintext` under the current key and a fresh nonce, bound to
    /// `aad` (the Redis key it is stored under).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .current
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &associated(VERSION, aad),
                },
            )
            .map_err(|_| SealError)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Decrypt and authenticate a stored value under the current key, then
    /// the old ones; any mismatch is an error, never garbage.
    pub fn open(&self, aad: &[u8], stored: &[u8]) -> Result<Opened, OpenError> {
        let (&version, rest) = stored.split_first().ok_or(OpenError::Format)?;
        if version != VERSION || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Format);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let aad = associated(version, aad);
        let payload = || Payload {
            msg: ciphertext,
            aad: &aad,
        };
        let nonce = Nonce::from_slice(nonce);
        if let Ok(plaintext) = self.current.decrypt(nonce, payload()) {
            return Ok(Opened {
                plaintext,
                stale: false,
            });
        }
        self.old
            .iter()
            .find_map(|key| key.decrypt(nonce, payload()).ok())
            .map(|plaintext| Opened {
                plaintext,
                stale: true,
            })
            .ok_or(OpenError::Integrity)
    }
}

/// The header byte and the Redis key, so neither can change unnoticed.
fn associated(version: u8, aad: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(1 + aad.len());
    a.push(version);
    a.extend_from_slice(aad);
    a
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("old", &self.old.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"carebook-test:portal:session:0123abcd";
    const JSON: &[u8] =
        br#"{"csrf":"csrf-secret","user":{"tokens":{"access":"acc","refresh":"ref"}}}"#;

    fn keys(current: &str, old: &[&str]) -> SessionKeys {
        SessionKeys::parse(current, &old.join(",")).unwrap()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_sealed_value_opens_under_the_same_key_and_redis_key() {
        let k = keys(&SessionKeys::generate(), &[]);
        let sealed = k.seal(KEY, JSON).unwrap();
        assert_eq!(sealed[0], VERSION);
        assert_eq!(sealed.len(), 1 + NONCE_LEN + JSON.len() + TAG_LEN);
        for secret in [&b"csrf-secret"[..], b"acc", b"ref", b"tokens"] {
            assert!(!contains(&sealed, secret));
        }
        assert_eq!(
            k.open(KEY, &sealed).unwrap(),
            Opened {
                plaintext: JSON.to_vec(),
                stale: false
            }
        );
    }

    #[test]
    fn every_write_uses_a_fresh_nonce() {
        let k = keys(&SessionKeys::generate(), &[]);
        let a = k.seal(KEY, JSON).unwrap();
        let b = k.seal(KEY, JSON).unwrap();
        assert_ne!(a[1..1 + NONCE_LEN], b[1..1 + NONCE_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn a_value_copied_to_another_sessions_key_does_not_open() {
        let k = keys(&SessionKeys::generate(), &[]);
        let sealed = k.seal(KEY, JSON).unwrap();
        assert_eq!(
            k.open(b"carebook-test:portal:session:ffff", &sealed),
            Err(OpenError::Integrity)
        );
        assert_eq!(k.open(b"", &sealed), Err(OpenError::Integrity));
    }

    #[test]
    fn a_flipped_bit_anywhere_fails() {
        let k = keys(&SessionKeys::generate(), &[]);
        let sealed = k.seal(KEY, JSON).unwrap();
        for i in 1..sealed.len() {
            let mut s = sealed.clone();
            s[i] ^= 0x01;
            assert_eq!(k.open(KEY, &s), Err(OpenError::Integrity), "byte {i}");
        }
        let mut truncated = sealed.clone();
        truncated.pop();
        assert_eq!(k.open(KEY, &truncated), Err(OpenError::Integrity));
    }

    #[test]
    fn another_key_does_not_open_it() {
        let sealed = keys(&SessionKeys::generate(), &[]).seal(KEY, JSON).unwrap();
        let other = keys(&SessionKeys::generate(), &[&SessionKeys::generate()]);
        assert_eq!(other.open(KEY, &sealed), Err(OpenError::Integrity));
    }

    #[test]
    fn old_keys_open_and_mark_the_value_stale_but_never_seal() {
        let (old, new) = (SessionKeys::generate(), SessionKeys::generate());
        let before = keys(&old, &[]).seal(KEY, JSON).unwrap();
        let rotated = keys(&new, &[&SessionKeys::generate(), &old]);
        assert_eq!(rotated.old_count(), 2);
        assert_eq!(
            rotated.open(KEY, &before).unwrap(),
            Opened {
                plaintext: JSON.to_vec(),
                stale: true
            }
        );
        let after = rotated.seal(KEY, JSON).unwrap();
        assert!(!rotated.open(KEY, &after).unwrap().stale);
        assert_eq!(
            keys(&old, &[]).open(KEY, &after),
            Err(OpenError::Integrity),
            "new writes use the current key"
        );
        assert!(!keys(&new, &[]).open(KEY, &after).unwrap().stale);
    }

    #[test]
    fn unknown_versions_and_plain_json_are_another_format() {
        let k = keys(&SessionKeys::generate(), &[]);
        let mut sealed = k.seal(KEY, JSON).unwrap();
        sealed[0] = 2;
        assert_eq!(k.open(KEY, &sealed), Err(OpenError::Format));
        sealed[0] = 0;
        assert_eq!(k.open(KEY, &sealed), Err(OpenError::Format));
        assert_eq!(k.open(KEY, JSON), Err(OpenError::Format));
        assert_eq!(k.open(KEY, b""), Err(OpenError::Format));
        assert_eq!(k.open(KEY, &[VERSION; 28]), Err(OpenError::Format));
        assert_eq!(OpenError::Format.reason(), "format");
        assert_eq!(OpenError::Integrity.reason(), "integrity");
    }

    #[test]
    fn keys_must_be_base64_of_32_bytes_and_are_never_shown() {
        let good = SessionKeys::generate();
        assert_eq!(STANDARD.decode(&good).unwrap().len(), 32);
        assert_ne!(good, SessionKeys::generate());
        // As `head -c32 /dev/urandom | base64` prints it, newline included.
        assert!(SessionKeys::parse(&format!("{good}\n"), "").is_ok());
        for bad in ["", "c2hvcnQ=", "not base64!", &STANDARD.encode([1u8; 33])] {
            assert_eq!(
                SessionKeys::parse(bad, "").unwrap_err(),
                InvalidKey::Current,
                "{bad}"
            );
        }
        assert_eq!(
            SessionKeys::parse(&good, &format!("{good}, ,c2hvcnQ=")).unwrap_err(),
            InvalidKey::Old(3)
        );
        let k = SessionKeys::parse(&good, &format!(" {good} ,")).unwrap();
        assert_eq!(k.old_count(), 1);
        let shown = format!("{k:?}");
        assert_eq!(shown, "SessionKeys { old: 1, .. }");
        assert!(!InvalidKey::Old(1).to_string().contains(&good));
    }
}

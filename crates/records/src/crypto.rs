//! Envelope encryption of clinical content with AES-256-GCM.
//!
//! Every sealed object (an entry version, a break-glass reason) gets a fresh
//! random 256-bit data key; the content is encrypted under it with a random
//! 96-bit nonce and associated data naming the row it belongs to (patient,
//! entry, version, …), so a ciphertext moved to another row fails to decrypt.
//! The data key is then wrapped (AES-256-GCM again) by a master key from the
//! [`KeyProvider`](crate::keys::KeyProvider), with the data key's own id as
//! associated data. Only the wrapped key, its master `key_id`, the nonces and
//! the ciphertext are stored; rotating master keys re-wraps data keys without
//! touching the content.

use aes_gcm::{
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
    Aes256Gcm, Key, Nonce,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::keys::{KeyError, KeyProvider, WrappedKey};

/// Length of every AES-GCM nonce we use.
pub const NONCE_LEN: usize = 12;

/// A data key: used for one sealed object only. Never logged, never stored unwrapped.
pub struct DataKey(Key<Aes256Gcm>);

impl DataKey {
    pub fn generate() -> Self {
        Self(Aes256Gcm::generate_key(OsRng))
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (bytes.len() == 32).then(|| Self(*Key::<Aes256Gcm>::from_slice(bytes)))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// Encrypt under a fresh random nonce; returns (nonce, ciphertext with tag).
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        encrypt(&Aes256Gcm::new(&self.0), plaintext, aad)
    }

    pub fn decrypt(
        &self,
        nonce: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        decrypt(&Aes256Gcm::new(&self.0), nonce, ciphertext, aad)
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// AES-256-GCM under a fresh random nonce: (nonce, ciphertext with tag).
pub(crate) fn encrypt(
    cipher: &Aes256Gcm,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    Ok((nonce.to_vec(), ciphertext))
}

/// Decrypt and authenticate; any mismatch (key, nonce, tag, associated data) is
/// [`CryptoError::Integrity`].
pub(crate) fn decrypt(
    cipher: &Aes256Gcm,
    nonce: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if nonce.len() != NONCE_LEN {
        return Err(CryptoError::Integrity);
    }
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Integrity)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// Authentication failed: wrong key, altered ciphertext, nonce or associated data.
    #[error("integrity check failed")]
    Integrity,
    /// The row names a master key the provider does not have.
    #[error("unknown master key {0:?}")]
    UnknownKey(String),
    /// The key provider cannot be reached (a KMS outage).
    #[error("key provider unavailable: {0}")]
    Unavailable(String),
    #[error("encryption failed")]
    Encrypt,
}

impl From<KeyError> for CryptoError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Integrity => CryptoError::Integrity,
            KeyError::UnknownKey(id) => CryptoError::UnknownKey(id),
            KeyError::Unavailable(why) => CryptoError::Unavailable(why),
            KeyError::Encrypt => CryptoError::Encrypt,
        }
    }
}

/// What is stored for one sealed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// Names the data key (its row in `data_keys`); bound into the wrapping.
    pub data_key_id: Uuid,
    pub key: WrappedKey,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Associated data of a data key's wrapping: its id, so a wrapped key cannot be
/// moved to another `data_keys` row.
pub fn wrap_aad(data_key_id: Uuid) -> Vec<u8> {
    let mut aad = b"carebook.records.data-key.v1:".to_vec();
    aad.extend_from_slice(data_key_id.as_bytes());
    aad
}

/// Encrypt `plaintext` under a fresh data key, wrapped by the current master key.
pub async fn seal(
    keys: &dyn KeyProvider,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Sealed, CryptoError> {
    let data_key_id = Uuid::now_v7();
    let data_key = DataKey::generate();
    let (nonce, ciphertext) = data_key.encrypt(plaintext, aad)?;
    let key = keys.wrap(&data_key, &wrap_aad(data_key_id)).await?;
    Ok(Sealed {
        data_key_id,
        key,
        nonce,
        ciphertext,
    })
}

/// Unwrap the data key and decrypt; every mismatch is an error, never garbage.
pub async fn open(
    keys: &dyn KeyProvider,
    sealed: &Sealed,
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let data_key = keys
        .unwrap(&sealed.key, &wrap_aad(sealed.data_key_id))
        .await?;
    data_key.decrypt(&sealed.nonce, &sealed.ciphertext, aad)
}

/// Length-prefixed, fixed-order associated data (no two field lists encode alike).
struct Aad(Vec<u8>);

impl Aad {
    fn new(domain: &str) -> Self {
        let mut a = Self(Vec::with_capacity(128));
        a.bytes(domain.as_bytes());
        a
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }

    fn id(&mut self, id: Uuid) -> &mut Self {
        self.bytes(id.as_bytes())
    }

    fn int(&mut self, n: i64) -> &mut Self {
        self.bytes(&n.to_be_bytes())
    }

    fn time(&mut self, t: DateTime<Utc>) -> &mut Self {
        self.int(t.timestamp_micros())
    }
}

/// Where an entry version's content belongs; all of it is bound into the ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionBinding<'a> {
    pub patient_id: Uuid,
    pub entry_id: Uuid,
    pub version: i32,
    pub kind: &'a str,
    pub status: &'a str,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl VersionBinding<'_> {
    pub fn aad(&self) -> Vec<u8> {
        let mut a = Aad::new("carebook.records.entry.v1");
        a.id(self.patient_id)
            .id(self.entry_id)
            .int(i64::from(self.version))
            .bytes(self.kind.as_bytes())
            .bytes(self.status.as_bytes())
            .id(self.author_id)
            .time(self.created_at);
        a.0
    }
}

/// Where a break-glass reason belongs.
pub fn break_glass_aad(
    grant_id: Uuid,
    provider_id: Uuid,
    patient_id: Uuid,
    granted_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Vec<u8> {
    let mut a = Aad::new("carebook.records.break-glass.v1");
    a.id(grant_id)
        .id(provider_id)
        .id(patient_id)
        .time(granted_at)
        .time(expires_at);
    a.0
}

/// Where a break-glass review's note belongs: the grant it judges, who judged,
/// the verdict and when (a note moved to another review, or a verdict changed
/// under it, fails to decrypt).
pub fn break_glass_review_aad(
    grant_id: Uuid,
    reviewed_by: Uuid,
    outcome: &str,
    reviewed_at: DateTime<Utc>,
) -> Vec<u8> {
    let mut a = Aad::new("carebook.records.break-glass-review.v1");
    a.id(grant_id)
        .id(reviewed_by)
        .bytes(outcome.as_bytes())
        .time(reviewed_at);
    a.0
}

/// `now` at the database's precision (microseconds), so the timestamps bound
/// into ciphertexts and hashes read back identically.
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKeys;

    fn keys(spec: &str) -> MasterKeys {
        MasterKeys::parse(spec).unwrap()
    }

    fn spec(id: &str, byte: u8) -> String {
        use base64::Engine;
        format!(
            "{id}:{}",
            base64::engine::general_purpose::STANDARD.encode([byte; 32])
        )
    }

    fn binding(version: i32) -> VersionBinding<'static> {
        VersionBinding {
            patient_id: Uuid::from_u128(1),
            entry_id: Uuid::from_u128(2),
            version,
            kind: "note",
            status: "active",
            author_id: Uuid::from_u128(3),
            created_at: DateTime::from_timestamp_micros(1_780_000_000_123_456).unwrap(),
        }
    }

    #[tokio::test]
    async fn sealed_content_opens_with_the_same_key_and_binding() {
        let k = keys(&spec("a", 1));
        let aad = binding(1).aad();
        let sealed = seal(&k, b"Patient reports chest pain.", &aad)
            .await
            .unwrap();
        assert_eq!(sealed.key.key_id, "a");
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert!(!sealed.ciphertext.windows(5).any(|w| w == b"chest"));
        assert_eq!(
            open(&k, &sealed, &aad).await.unwrap(),
            b"Patient reports chest pain."
        );
    }

    #[tokio::test]
    async fn every_seal_uses_a_fresh_data_key_and_nonce() {
        let k = keys(&spec("a", 1));
        let aad = binding(1).aad();
        let a = seal(&k, b"same", &aad).await.unwrap();
        let b = seal(&k, b"same", &aad).await.unwrap();
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.key.wrapped, b.key.wrapped);
        assert_ne!(a.data_key_id, b.data_key_id);
    }

    #[tokio::test]
    async fn other_associated_data_fails() {
        let k = keys(&spec("a", 1));
        let sealed = seal(&k, b"x", &binding(1).aad()).await.unwrap();
        assert_eq!(
            open(&k, &sealed, &binding(2).aad()).await,
            Err(CryptoError::Integrity)
        );
        let moved = VersionBinding {
            patient_id: Uuid::from_u128(99),
            ..binding(1)
        };
        assert_eq!(
            open(&k, &sealed, &moved.aad()).await,
            Err(CryptoError::Integrity)
        );
        let flagged = VersionBinding {
            status: "entered_in_error",
            ..binding(1)
        };
        assert_eq!(
            open(&k, &sealed, &flagged.aad()).await,
            Err(CryptoError::Integrity)
        );
        // A wrapped key moved to another data-key row does not unwrap.
        let swapped = Sealed {
            data_key_id: Uuid::now_v7(),
            ..sealed
        };
        assert_eq!(
            open(&k, &swapped, &binding(1).aad()).await,
            Err(CryptoError::Integrity)
        );
    }

    #[tokio::test]
    async fn a_wrong_or_missing_master_key_fails() {
        let a = keys(&spec("a", 1));
        let sealed = seal(&a, b"x", b"aad").await.unwrap();
        // Same id, other key material.
        let impostor = keys(&spec("a", 2));
        assert_eq!(
            open(&impostor, &sealed, b"aad").await,
            Err(CryptoError::Integrity)
        );
        let without = keys(&spec("b", 1));
        assert_eq!(
            open(&without, &sealed, b"aad").await,
            Err(CryptoError::UnknownKey("a".into()))
        );
    }

    #[tokio::test]
    async fn a_flipped_bit_anywhere_fails() {
        let k = keys(&spec("a", 1));
        let sealed = seal(&k, b"some clinical text", b"aad").await.unwrap();
        for i in 0..sealed.ciphertext.len() {
            let mut s = sealed.clone();
            s.ciphertext[i] ^= 0x01;
            assert_eq!(
                open(&k, &s, b"aad").await,
                Err(CryptoError::Integrity),
                "byte {i}"
            );
        }
        let mut s = sealed.clone();
        s.nonce[0] ^= 1;
        assert_eq!(open(&k, &s, b"aad").await, Err(CryptoError::Integrity));
        let mut s = sealed.clone();
        s.key.wrapped[0] ^= 1;
        assert_eq!(open(&k, &s, b"aad").await, Err(CryptoError::Integrity));
        let mut s = sealed;
        s.key.nonce.truncate(5);
        assert_eq!(open(&k, &s, b"aad").await, Err(CryptoError::Integrity));
    }

    #[test]
    fn bindings_encode_unambiguously() {
        let a = VersionBinding {
            kind: "note",
            status: "active",
            ..binding(1)
        };
        let b = VersionBinding {
            kind: "notea",
            status: "ctive",
            ..binding(1)
        };
        assert_ne!(a.aad(), b.aad());
        let t = Utc::now();
        assert_ne!(
            break_glass_aad(
                Uuid::from_u128(1),
                Uuid::from_u128(2),
                Uuid::from_u128(3),
                t,
                t
            ),
            break_glass_aad(
                Uuid::from_u128(1),
                Uuid::from_u128(3),
                Uuid::from_u128(2),
                t,
                t
            )
        );
        let review =
            |outcome| break_glass_review_aad(Uuid::from_u128(1), Uuid::from_u128(2), outcome, t);
        assert_ne!(review("justified"), review("unjustified"));
        assert_ne!(
            review("justified"),
            break_glass_aad(Uuid::from_u128(1), Uuid::from_u128(2), Uuid::nil(), t, t)
        );
    }
}

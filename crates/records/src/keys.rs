//! Master keys: the [`KeyProvider`] seam (a KMS later), the environment/file
//! implementation used now, and key rotation.
//!
//! `RECORDS_MASTER_KEYS` is a comma-separated list `key_id:base64(32 bytes)`;
//! the first key wraps new data keys, all of them unwrap. Alternatively
//! `RECORDS_MASTER_KEYS_DIR` holds one `<key_id>.key` file per key (base64 of
//! 32 bytes); the file name sorting last is current, so name keys by date.
//!
//! Rotation: put the new key first (keeping the old ones), restart, run
//! [`rotate`] (`carebook keys rotate-records`), then check [`usage`] shows no
//! data key left under the old id before removing it. Rows stay readable
//! throughout: each data key is re-wrapped in place, atomically, and readers see
//! either the old or the new wrapping, both of which the provider can open.

use std::{collections::HashMap, fmt, path::Path, sync::Arc};

use aes_gcm::{aead::KeyInit, Aes256Gcm};
use async_trait::async_trait;
use base64::{engine::general_purpose::STANDARD, Engine};
use hkdf::Hkdf;
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

use crate::crypto::{self, wrap_aad, DataKey};

/// A data key encrypted under a master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    /// Which master key wrapped it.
    pub key_id: String,
    pub nonce: Vec<u8>,
    /// The data key encrypted, with its tag.
    pub wrapped: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("unknown master key {0:?}")]
    UnknownKey(String),
    /// The wrapped key did not authenticate under the named master key.
    #[error("wrapped key failed its integrity check")]
    Integrity,
    #[error("key provider unavailable: {0}")]
    Unavailable(String),
    #[error("wrapping failed")]
    Encrypt,
}

/// HKDF `info` of the records cache's MAC key: names its one purpose, so the
/// derived key is unrelated to any other key derived from the same master key.
pub const CACHE_MAC_INFO: &[u8] = b"carebook records cache v1";

/// The key that authenticates records' Redis cache entries (HMAC-SHA256),
/// derived from a master key. Single-purpose: it opens nothing and wraps
/// nothing; knowing it lets one forge a cache entry, never read a record.
#[derive(Clone)]
pub struct CacheMacKey([u8; 32]);

impl CacheMacKey {
    /// HKDF-SHA256 (no salt: the input is a uniformly random key) of
    /// `master_material`, with [`CACHE_MAC_INFO`] as `info`.
    pub fn derive(master_material: &[u8]) -> Self {
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit (255 × 32): this cannot fail.
        let _ = Hkdf::<Sha256>::new(None, master_material).expand(CACHE_MAC_INFO, &mut okm);
        Self(okm)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CacheMacKey {
    /// Key material never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheMacKey(..)")
    }
}

/// Wraps and unwraps data keys under master keys that never leave it. A KMS
/// implements the same two calls remotely (encrypt/decrypt with an encryption
/// context equal to the associated data).
#[async_trait]
pub trait KeyProvider: Send + Sync + 'static {
    /// The master key new data keys are wrapped under.
    fn current_key_id(&self) -> &str;
    async fn wrap(&self, key: &DataKey, aad: &[u8]) -> Result<WrappedKey, KeyError>;
    async fn unwrap(&self, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey, KeyError>;

    /// The key authenticating cache entries filled under master key `key_id`
    /// (HKDF-SHA256 of it, see [`CacheMacKey::derive`]); `None` for a key this
    /// provider does not hold.
    ///
    /// Why the provider hands out a key at all: the cache is checked on every
    /// read, so its MAC must be computed here, not by a remote call, and the
    /// master keys never leave the provider (it only wraps and unwraps). So
    /// the provider derives the one key the cache needs and gives out only
    /// that derived, single-purpose key, never master key bytes. Entries name
    /// the master key they were filled under, so during a rotation replicas
    /// with another current key still verify each other's entries. A KMS
    /// provider derives its keys once at start (e.g. from a dedicated secret
    /// or a KMS-computed MAC of a constant) and keeps them in memory.
    fn cache_mac_key(&self, key_id: &str) -> Option<&CacheMacKey>;
}

/// One master key, as a cipher (wrapping) and the cache MAC key derived from it.
#[derive(Clone)]
struct MasterKey {
    cipher: Aes256Gcm,
    cache_mac: CacheMacKey,
}

/// Master keys held in memory, from the environment or a directory.
#[derive(Clone)]
pub struct MasterKeys {
    current: String,
    keys: HashMap<String, MasterKey>,
}

/// Why a master key setting was refused. Never includes key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidKeys {
    #[error("no master key given")]
    Empty,
    #[error("entry {0}: expected `key_id:base64-of-32-bytes`")]
    Shape(usize),
    #[error("key id {0:?}: use 1–64 of A–Z, a–z, 0–9, `.`, `_`, `-`")]
    Id(String),
    #[error("key {0:?}: not base64 of exactly 32 bytes")]
    Material(String),
    #[error("key id {0:?} given twice")]
    Duplicate(String),
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl MasterKeys {
    /// Keys in order, the first current.
    pub fn from_pairs<I>(pairs: I) -> Result<Self, InvalidKeys>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut current = None;
        let mut keys = HashMap::new();
        for (id, material) in pairs {
            if !valid_id(&id) {
                return Err(InvalidKeys::Id(id));
            }
            let bytes = STANDARD
                .decode(material.trim())
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| InvalidKeys::Material(id.clone()))?;
            let cipher =
                Aes256Gcm::new_from_slice(&bytes).map_err(|_| InvalidKeys::Material(id.clone()))?;
            let key = MasterKey {
                cipher,
                cache_mac: CacheMacKey::derive(&bytes),
            };
            if keys.insert(id.clone(), key).is_some() {
                return Err(InvalidKeys::Duplicate(id));
            }
            current.get_or_insert(id);
        }
        Ok(Self {
            current: current.ok_or(InvalidKeys::Empty)?,
            keys,
        })
    }

    /// `key_id:base64,key_id:base64,…` (`RECORDS_MASTER_KEYS`), the first current.
    pub fn parse(spec: &str) -> Result<Self, InvalidKeys> {
        let mut pairs = Vec::new();
        for (i, item) in spec.split(',').map(str::trim).enumerate() {
            if item.is_empty() {
                continue;
            }
            let (id, material) = item.split_once(':').ok_or(InvalidKeys::Shape(i + 1))?;
            pairs.push((id.trim().to_owned(), material.to_owned()));
        }
        Self::from_pairs(pairs)
    }

    /// Every `<key_id>.key` in `dir`; the name sorting last is current.
    pub fn from_dir(dir: &Path) -> Result<Self, InvalidKeys> {
        let io = |e: std::io::Error| InvalidKeys::Io {
            path: dir.display().to_string(),
            reason: e.to_string(),
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "key"))
            .collect();
        files.sort();
        files.reverse();
        let mut pairs = Vec::new();
        for f in files {
            let id = f
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let material = std::fs::read_to_string(&f).map_err(io)?;
            pairs.push((id, material));
        }
        Self::from_pairs(pairs)
    }

    /// Ids of every key held, current first.
    pub fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        ids.sort_by_key(|id| (*id != self.current, *id));
        ids
    }

    /// Share as a provider.
    pub fn provider(&self) -> Arc<dyn KeyProvider> {
        Arc::new(self.clone())
    }
}

impl fmt::Debug for MasterKeys {
    /// Ids only: key material never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys")
            .field("current", &self.current)
            .field("ids", &self.ids())
            .finish()
    }
}

#[async_trait]
impl KeyProvider for MasterKeys {
    fn current_key_id(&self) -> &str {
        &self.current
    }

    async fn wrap(&self, key: &DataKey, aad: &[u8]) -> Result<WrappedKey, KeyError> {
        let master = self
            .keys
            .get(&self.current)
            .ok_or_else(|| KeyError::UnknownKey(self.current.clone()))?;
        let (nonce, wrapped) =
            crypto::encrypt(&master.cipher, key.as_bytes(), aad).map_err(|_| KeyError::Encrypt)?;
        Ok(WrappedKey {
            key_id: self.current.clone(),
            nonce,
            wrapped,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey, KeyError> {
        let master = self
            .keys
            .get(&wrapped.key_id)
            .ok_or_else(|| KeyError::UnknownKey(wrapped.key_id.clone()))?;
        let bytes = crypto::decrypt(&master.cipher, &wrapped.nonce, &wrapped.wrapped, aad)
            .map_err(|_| KeyError::Integrity)?;
        DataKey::from_bytes(&bytes).ok_or(KeyError::Integrity)
    }

    fn cache_mac_key(&self, key_id: &str) -> Option<&CacheMacKey> {
        self.keys.get(key_id).map(|k| &k.cache_mac)
    }
}

/// A new random master key as a `key_id:base64` entry for `RECORDS_MASTER_KEYS`
/// (or, without the `key_id:` part, the content of `<key_id>.key`).
pub fn generate(key_id: &str) -> Result<String, InvalidKeys> {
    if !valid_id(key_id) {
        return Err(InvalidKeys::Id(key_id.to_owned()));
    }
    Ok(format!(
        "{key_id}:{}",
        STANDARD.encode(DataKey::generate().as_bytes())
    ))
}

/// What a rotation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// The master key everything is now wrapped under.
    pub current_key_id: String,
    /// Data keys re-wrapped by this run.
    pub rewrapped: u64,
    /// Data keys that could not be unwrapped (missing master key or tampered
    /// row), left as they are; their ids, for investigation.
    pub failed: Vec<Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("key provider: {0}")]
    Keys(KeyError),
}

/// Re-wrap every data key not under the current master key, `batch_size` per
/// transaction. Content is never decrypted or rewritten; rows locked by a
/// concurrent rotation are skipped (that one handles them). Safe to re-run.
pub async fn rotate(
    pool: &PgPool,
    keys: &dyn KeyProvider,
    batch_size: i64,
) -> Result<Rotation, RotateError> {
    let current = keys.current_key_id().to_owned();
    let mut report = Rotation {
        current_key_id: current.clone(),
        ..Rotation::default()
    };
    let mut after = Uuid::nil();
    loop {
        let mut tx = pool.begin().await?;
        let rows: Vec<(Uuid, String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT id, key_id, nonce, wrapped FROM data_keys
             WHERE key_id <> $1 AND id > $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED",
        )
        .bind(&current)
        .bind(after)
        .bind(batch_size.max(1))
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        let (mut ids, mut nonces, mut wrapped_keys) = (Vec::new(), Vec::new(), Vec::new());
        for (id, key_id, nonce, wrapped) in rows {
            let old = WrappedKey {
                key_id,
                nonce,
                wrapped,
            };
            let aad = wrap_aad(id);
            let data_key = match keys.unwrap(&old, &aad).await {
                Ok(k) => k,
                Err(KeyError::Unavailable(why)) => {
                    return Err(RotateError::Keys(KeyError::Unavailable(why)))
                }
                Err(e) => {
                    tracing::error!(data_key_id = %id, key_id = %old.key_id, error = %e, "data key not re-wrapped");
                    report.failed.push(id);
                    continue;
                }
            };
            let new = keys
                .wrap(&data_key, &aad)
                .await
                .map_err(RotateError::Keys)?;
            ids.push(id);
            nonces.push(new.nonce);
            wrapped_keys.push(new.wrapped);
        }
        let n = sqlx::query(
            "UPDATE data_keys d SET key_id = $1, nonce = u.nonce, wrapped = u.wrapped, rewrapped_at = now()
             FROM UNNEST($2::uuid[], $3::bytea[], $4::bytea[]) AS u(id, nonce, wrapped)
             WHERE d.id = u.id",
        )
        .bind(&current)
        .bind(&ids)
        .bind(&nonces)
        .bind(&wrapped_keys)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        report.rewrapped += n;
        tracing::info!(rewrapped = report.rewrapped, key_id = %current, "re-wrapping data keys");
    }
    Ok(report)
}

/// How many data keys each master key wraps (an old key may go once it has none).
pub async fn usage(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT key_id, count(*) FROM data_keys GROUP BY key_id ORDER BY key_id")
        .fetch_all(pool)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn material(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    #[test]
    fn the_first_key_is_current_and_all_are_kept() {
        let k = MasterKeys::parse(&format!("new:{}, old:{}", material(1), material(2))).unwrap();
        assert_eq!(k.current_key_id(), "new");
        assert_eq!(k.ids(), ["new", "old"]);
        let debug = format!("{k:?}");
        assert!(!debug.contains(&material(1)), "{debug}");
    }

    #[test]
    fn bad_key_settings_are_refused_without_echoing_material() {
        assert_eq!(MasterKeys::parse("").unwrap_err(), InvalidKeys::Empty);
        assert_eq!(
            MasterKeys::parse("nocolon").unwrap_err(),
            InvalidKeys::Shape(1)
        );
        assert_eq!(
            MasterKeys::parse("a:c2hvcnQ=").unwrap_err(),
            InvalidKeys::Material("a".into())
        );
        assert_eq!(
            MasterKeys::parse(&format!("bad id:{}", material(1))).unwrap_err(),
            InvalidKeys::Id("bad id".into())
        );
        assert_eq!(
            MasterKeys::parse(&format!("a:{},a:{}", material(1), material(2))).unwrap_err(),
            InvalidKeys::Duplicate("a".into())
        );
        let e = MasterKeys::parse("a:not-base64!!").unwrap_err().to_string();
        assert!(!e.contains("not-base64"), "{e}");
    }

    #[test]
    fn a_key_directory_makes_the_last_name_current() {
        let dir = std::env::temp_dir().join(format!("records-keys-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("2026-01.key"), material(1)).unwrap();
        std::fs::write(dir.join("2026-06.key"), format!("{}\n", material(2))).unwrap();
        std::fs::write(dir.join("README"), "not a key").unwrap();
        let k = MasterKeys::from_dir(&dir).unwrap();
        assert_eq!(k.current_key_id(), "2026-06");
        assert_eq!(k.ids(), ["2026-06", "2026-01"]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            MasterKeys::from_dir(&dir),
            Err(InvalidKeys::Io { .. })
        ));
    }

    #[test]
    fn each_master_key_has_its_own_cache_mac_key_unlike_the_master_key() {
        let k = MasterKeys::parse(&format!("a:{},b:{}", material(1), material(2))).unwrap();
        let a = k.cache_mac_key("a").unwrap().as_bytes();
        let b = k.cache_mac_key("b").unwrap().as_bytes();
        assert_ne!(a, b);
        assert_ne!(a, [1u8; 32], "derived, not the master key itself");
        assert!(k.cache_mac_key("c").is_none());
        // Deterministic: every replica with the same master key derives the same key.
        let again = MasterKeys::parse(&format!("a:{}", material(1))).unwrap();
        assert_eq!(again.cache_mac_key("a").unwrap().as_bytes(), a);
        assert_eq!(
            format!("{:?}", k.cache_mac_key("a").unwrap()),
            "CacheMacKey(..)"
        );
    }

    #[test]
    fn the_cache_mac_key_is_hkdf_sha256_with_the_cache_info() {
        let mut expected = [0u8; 32];
        Hkdf::<Sha256>::new(None, &[9u8; 32])
            .expand(b"carebook records cache v1", &mut expected)
            .unwrap();
        assert_eq!(CacheMacKey::derive(&[9u8; 32]).as_bytes(), expected);
    }

    #[test]
    fn generated_keys_parse() {
        let spec = generate("k-2026").unwrap();
        assert_eq!(MasterKeys::parse(&spec).unwrap().current_key_id(), "k-2026");
        assert!(generate("no spaces").is_err());
    }
}

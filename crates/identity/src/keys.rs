//! Ed25519 signing keys for access tokens, and the JWKS that publishes them.
//!
//! Keys live as PKCS#8 PEM files in one directory; the newest file (by name,
//! which is its creation time) signs, and every file's public key stays in the
//! JWKS, so tokens signed before a rotation verify until the old file is removed.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ed25519_dalek::{
    pkcs8::{DecodePrivateKey, EncodePrivateKey},
    SigningKey,
};
use jsonwebtoken::{
    jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
        OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
    },
    Algorithm, EncodingKey, Header,
};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read signing keys in {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("no signing key (*.pem) in {0}; run `carebook keys generate`")]
    None(String),
    #[error("{0} is not an Ed25519 PKCS#8 PEM key")]
    Invalid(String),
    #[error("cannot encode key: {0}")]
    Encode(String),
}

struct Active {
    kid: String,
    encoding: EncodingKey,
}

/// The key that signs new tokens, and the public keys of all current ones.
pub struct SigningKeys {
    active: Active,
    jwks: JwkSet,
}

impl SigningKeys {
    /// Keys from PEM texts, oldest first; the last one signs.
    pub fn from_pems<'a>(
        pems: impl IntoIterator<Item = (&'a str, String)>,
    ) -> Result<Self, KeyError> {
        let mut active = None;
        let mut keys = Vec::new();
        for (label, pem) in pems {
            let key = SigningKey::from_pkcs8_pem(&pem)
                .map_err(|_| KeyError::Invalid(label.to_owned()))?;
            let (kid, jwk) = public_jwk(&key);
            let der = key
                .to_pkcs8_der()
                .map_err(|e| KeyError::Encode(e.to_string()))?;
            active = Some(Active {
                kid,
                encoding: EncodingKey::from_ed_der(der.as_bytes()),
            });
            keys.push(jwk);
        }
        let active = active.ok_or_else(|| KeyError::None("the given keys".to_owned()))?;
        Ok(Self {
            active,
            jwks: JwkSet { keys },
        })
    }

    /// Load every `*.pem` in `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: dir.display().to_string(),
            source,
        };
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pem"))
            .collect();
        if files.is_empty() {
            return Err(KeyError::None(dir.display().to_string()));
        }
        files.sort();
        let mut pems = Vec::new();
        for f in &files {
            pems.push((f.display().to_string(), fs::read_to_string(f).map_err(io)?));
        }
        Self::from_pems(pems.iter().map(|(l, p)| (l.as_str(), p.clone())))
    }

    /// A fresh random key, PEM-encoded (tests, `carebook keys generate`).
    pub fn generate_pem() -> Result<String, KeyError> {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        key.to_pkcs8_pem(Default::default())
            .map(|p| p.to_string())
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// Write a new key into `dir` (created if missing, file mode 0600); it signs
    /// from the next start on. Returns its path.
    pub fn generate_into(dir: &Path) -> Result<PathBuf, KeyError> {
        let io = |source| KeyError::Io {
            path: dir.display().to_string(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let name = format!("{}.pem", chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"));
        let path = dir.join(name);
        let pem = Self::generate_pem()?;
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(io)?;
        file.write_all(pem.as_bytes()).map_err(io)?;
        Ok(path)
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    pub fn active_kid(&self) -> &str {
        &self.active.kid
    }

    /// Sign `claims` with the active key, naming it in `kid`.
    pub fn sign<T: serde::Serialize>(
        &self,
        claims: &T,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.active.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.active.encoding)
    }
}

/// The public JWK of `key`; its `kid` is derived from the public key, so it is
/// stable across restarts and replicas.
fn public_jwk(key: &SigningKey) -> (String, Jwk) {
    let public = key.verifying_key().to_bytes();
    let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12]);
    let jwk = Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            key_id: Some(kid.clone()),
            ..Default::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: URL_SAFE_NO_PAD.encode(public),
        }),
    };
    (kid, jwk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_key_signs_and_all_are_published() {
        let (a, b) = (
            SigningKeys::generate_pem().unwrap(),
            SigningKeys::generate_pem().unwrap(),
        );
        let old = SigningKeys::from_pems([("a", a.clone())]).unwrap();
        let both = SigningKeys::from_pems([("a", a), ("b", b)]).unwrap();
        assert_eq!(both.jwks().keys.len(), 2);
        assert_ne!(both.active_kid(), old.active_kid());
        assert_eq!(
            both.jwks().keys[0].common.key_id.as_deref(),
            Some(old.active_kid())
        );
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(matches!(
            SigningKeys::from_pems([("x", "not a pem".to_owned())]),
            Err(KeyError::Invalid(_))
        ));
    }

    #[test]
    fn keys_round_trip_through_a_directory() {
        let dir = std::env::temp_dir().join(format!("carebook-keys-{}", uuid::Uuid::new_v4()));
        SigningKeys::generate_into(&dir).unwrap();
        let loaded = SigningKeys::load_dir(&dir).unwrap();
        assert_eq!(loaded.jwks().keys.len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}

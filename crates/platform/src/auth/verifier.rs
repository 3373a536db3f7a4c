//! Access-token verification against the identity service's JWKS, whose keys
//! [`super::jwks`] keeps fresh: a token check never waits on a fetch longer
//! than the policy's deadline, and a key withdrawn from the JWKS stops
//! verifying (also for tokens already remembered as verified).

use std::{collections::HashMap, sync::Arc, time::Duration};

use jsonwebtoken::{decode, decode_header, Algorithm, Validation};

use super::{
    jwks::{Key, KeyRing},
    Claims, JwksPolicy, KeySource,
};
use crate::config::AuthConfig;

/// Verified tokens remembered at most, so memory stays bounded (only valid,
/// signed tokens ever get in, so an attacker cannot fill it with junk).
const VERIFIED_CAPACITY: usize = 10_000;
/// Same as the validation's leeway.
const LEEWAY_SECONDS: i64 = 5;

/// Why a token was refused. Clients only ever learn "invalid or expired".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("no bearer token")]
    Missing,
    #[error("token is malformed")]
    Malformed,
    #[error("algorithm not accepted")]
    Algorithm,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("token is expired")]
    Expired,
    #[error("token is invalid: {0}")]
    Invalid(String),
    #[error("signing keys unavailable")]
    KeysUnavailable,
    /// The account was disabled after the token was issued.
    #[error("the account's tokens are revoked")]
    Revoked,
}

/// A verified token as remembered: its claims and the key that checked it.
struct Remembered {
    claims: Claims,
    key: Arc<Key>,
}

/// Verifies access tokens; cheap to share behind an `Arc`.
pub struct Verifier {
    keys: Arc<KeyRing>,
    validation: Validation,
    /// Tokens whose signature, issuer and audience were checked, with their
    /// claims: a client sends the same token for ten minutes, and an Ed25519
    /// check costs far more than a lookup. Expiry is checked on every hit, and
    /// so is that the key which checked it is still published.
    verified: std::sync::RwLock<HashMap<String, Remembered>>,
    /// Disabled accounts whose tokens are refused before they expire.
    revocations: Arc<super::Revocations>,
}

impl Verifier {
    /// A verifier of tokens signed by `source`'s keys, fetched (if over HTTP)
    /// as [`JwksPolicy::default`] says.
    pub fn new(source: KeySource, issuer: &str, audience: &str) -> Self {
        Self::with_policy(source, JwksPolicy::default(), issuer, audience)
    }

    /// [`Self::new`] with the key set fetched as `policy` says. Over HTTP, the
    /// refresh schedule starts with the first token checked (or
    /// [`Self::keep_keys_fresh`]).
    pub fn with_policy(
        source: KeySource,
        policy: JwksPolicy,
        issuer: &str,
        audience: &str,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = LEEWAY_SECONDS as u64;
        Self {
            keys: KeyRing::new(source, policy),
            validation,
            verified: std::sync::RwLock::new(HashMap::new()),
            revocations: Arc::new(super::Revocations::default()),
        }
    }

    /// Refuse the tokens of the accounts listed at `source` (read every few
    /// seconds in the background while this verifier lives).
    pub fn with_revocations(self, source: super::RevocationSource) -> Self {
        super::Revocations::keep_fresh(Arc::downgrade(&self.revocations), source);
        self
    }

    /// Fetch the key set now and then on its schedule, while this verifier
    /// lives (nothing to do for static keys, or outside a Tokio runtime).
    pub fn keep_keys_fresh(&self) {
        self.keys.keep_fresh();
    }

    /// A verifier fetching keys from `config.jwks_url` as `config.jwks` says:
    /// over TLS verified against the internal CA, presenting this process's
    /// certificate, when `config.tls` is set. Whoever could answer the JWKS
    /// request could mint admin tokens, so a client that cannot be built
    /// trusts nobody. The first fetch starts at once when called in a runtime.
    pub fn from_config(config: &AuthConfig) -> Arc<Self> {
        let client = crate::tls::http_client(config.tls.as_ref(), Duration::from_secs(3))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "no usable TLS client for the JWKS; no key will be fetched");
                crate::tls::trusting_nobody()
            });
        let verifier = Self::with_policy(
            KeySource::Http {
                client,
                url: config.jwks_url.clone(),
            },
            config.jwks.clone(),
            &config.issuer,
            &config.audience,
        );
        verifier.keep_keys_fresh();
        Arc::new(match &config.revocations {
            Some(source) => verifier.with_revocations(source.clone()),
            None => verifier,
        })
    }

    /// Whether tokens can be checked at all: false until the first key set
    /// arrives (a process reporting ready before then would answer 503 to
    /// every signed-in request).
    pub fn holds_keys(&self) -> bool {
        self.keys.holds_keys()
    }

    /// Check signature, algorithm, issuer, audience and expiry; return the claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let claims = match self.remembered(token) {
            Some(claims) if claims.exp >= now - LEEWAY_SECONDS => claims,
            Some(_) => {
                self.forget_all_expired(now);
                return Err(TokenError::Expired);
            }
            None => {
                let (claims, key) = self.verify_signature(token).await?;
                self.remember(token, &claims, key);
                claims
            }
        };
        if self.revocations.contains(claims.sub) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// Fetch the key set now (joining a fetch in flight), waiting at most the
    /// policy's deadline. Static keys need none.
    pub async fn refresh(&self) -> Result<(), TokenError> {
        self.keys.refresh().await
    }

    /// The claims of `token` if it was verified with a key still published.
    fn remembered(&self, token: &str) -> Option<Claims> {
        let map = self.verified.read().ok()?;
        let entry = map.get(token)?;
        self.keys
            .is_current(&entry.key)
            .then(|| entry.claims.clone())
    }

    fn remember(&self, token: &str, claims: &Claims, key: Arc<Key>) {
        if let Ok(mut map) = self.verified.write() {
            if map.len() >= VERIFIED_CAPACITY {
                map.clear();
            }
            map.insert(
                token.to_owned(),
                Remembered {
                    claims: claims.clone(),
                    key,
                },
            );
        }
    }

    fn forget_all_expired(&self, now: i64) {
        if let Ok(mut map) = self.verified.write() {
            map.retain(|_, r| r.claims.exp >= now - LEEWAY_SECONDS && self.keys.is_current(&r.key));
        }
    }

    async fn verify_signature(&self, token: &str) -> Result<(Claims, Arc<Key>), TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keys.key(&kid).await?;
        let claims = decode::<Claims>(token, &key.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                other => TokenError::Invalid(format!("{other:?}")),
            })?;
        Ok((claims, key))
    }
}

//! Access-token verification against a JWKS, cached and refreshed when a token
//! names a key we have not seen (the identity service rotated its key).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{decode, decode_header, jwk::JwkSet, Algorithm, DecodingKey, Validation};
use tokio::sync::{Mutex, RwLock};

use super::Claims;
use crate::config::AuthConfig;

/// A refresh on an unknown `kid` happens at most this often, so forged `kid`s
/// cannot make us hammer the identity service.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

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

/// Where the public keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// The identity service's `/.well-known/jwks.json`.
    Http {
        client: reqwest::Client,
        url: String,
    },
    /// Keys already in hand (the identity service itself, tests).
    Static(JwkSet),
}

/// Verifies access tokens; cheap to share behind an `Arc`.
pub struct Verifier {
    source: KeySource,
    validation: Validation,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_refresh: Mutex<Option<Instant>>,
    /// Tokens whose signature, issuer and audience were checked, with their
    /// claims: a client sends the same token for ten minutes, and an Ed25519
    /// check costs far more than a lookup. Expiry is checked on every hit; the
    /// map is cleared whenever the key set changes.
    verified: std::sync::RwLock<HashMap<String, Claims>>,
    /// Disabled accounts whose tokens are refused before they expire.
    revocations: Arc<super::Revocations>,
}

impl Verifier {
    pub fn new(source: KeySource, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = 5;
        Self {
            source,
            validation,
            keys: RwLock::new(HashMap::new()),
            last_refresh: Mutex::new(None),
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

    /// A verifier fetching keys from `config.jwks_url`: over TLS verified
    /// against the internal CA, presenting this process's certificate, when
    /// `config.tls` is set. Whoever could answer the JWKS request could mint
    /// admin tokens, so a client that cannot be built trusts nobody.
    pub fn from_config(config: &AuthConfig) -> Arc<Self> {
        let client = crate::tls::http_client(config.tls.as_ref(), Duration::from_secs(3))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "no usable TLS client for the JWKS; no key will be fetched");
                crate::tls::trusting_nobody()
            });
        let verifier = Self::new(
            KeySource::Http {
                client,
                url: config.jwks_url.clone(),
            },
            &config.issuer,
            &config.audience,
        );
        Arc::new(match &config.revocations {
            Some(source) => verifier.with_revocations(source.clone()),
            None => verifier,
        })
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
                let claims = self.verify_signature(token).await?;
                self.remember(token, &claims);
                claims
            }
        };
        if self.revocations.contains(claims.sub) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    fn remembered(&self, token: &str) -> Option<Claims> {
        self.verified.read().ok()?.get(token).cloned()
    }

    fn remember(&self, token: &str, claims: &Claims) {
        if let Ok(mut map) = self.verified.write() {
            if map.len() >= VERIFIED_CAPACITY {
                map.clear();
            }
            map.insert(token.to_owned(), claims.clone());
        }
    }

    fn forget_all_expired(&self, now: i64) {
        if let Ok(mut map) = self.verified.write() {
            map.retain(|_, c| c.exp >= now - LEEWAY_SECONDS);
        }
    }

    async fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = match self.key(&kid).await {
            Some(k) => k,
            None => {
                self.refresh(false).await?;
                self.key(&kid).await.ok_or(TokenError::UnknownKey)?
            }
        };
        decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                other => TokenError::Invalid(format!("{other:?}")),
            })
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().await.get(kid).cloned()
    }

    /// Reload the key set. Unless `force`d, at most once per [`MIN_REFRESH_INTERVAL`].
    pub async fn refresh(&self, force: bool) -> Result<(), TokenError> {
        let mut last = self.last_refresh.lock().await;
        if !force && last.is_some_and(|t| t.elapsed() < MIN_REFRESH_INTERVAL) {
            return Ok(());
        }
        let set = match &self.source {
            KeySource::Static(set) => set.clone(),
            KeySource::Http { client, url } => {
                let fetched = async {
                    client
                        .get(url)
                        .send()
                        .await?
                        .error_for_status()?
                        .json::<JwkSet>()
                        .await
                };
                fetched.await.map_err(|e| {
                    tracing::warn!(error = %e, "JWKS fetch failed");
                    TokenError::KeysUnavailable
                })?
            }
        };
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|k| (kid, k))
            })
            .collect();
        *self.keys.write().await = keys;
        // A key may have been withdrawn: tokens it signed must be checked again.
        if let Ok(mut map) = self.verified.write() {
            map.clear();
        }
        *last = Some(Instant::now());
        Ok(())
    }
}

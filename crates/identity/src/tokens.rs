//! Issuing access tokens and opaque refresh tokens.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use platform::auth::{Claims, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A refresh token as handed to the client (never stored) and its stored hash.
pub struct RefreshSecret {
    pub token: String,
    pub hash: Vec<u8>,
}

/// 256 random bits, URL-safe; only the SHA-256 hash is kept server-side.
pub fn new_refresh_token() -> RefreshSecret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    RefreshSecret { token, hash }
}

pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The claims of a user's access token; patients and providers carry their id
/// under the name other services key on.
pub fn access_claims(
    user_id: Uuid,
    role: Role,
    issuer: &str,
    audience: &str,
    now: DateTime<Utc>,
    ttl_seconds: i64,
) -> Claims {
    Claims {
        sub: user_id,
        role,
        iss: issuer.to_owned(),
        aud: audience.to_owned(),
        iat: now.timestamp(),
        exp: now.timestamp() + ttl_seconds,
        jti: Uuid::now_v7(),
        patient_id: (role == Role::Patient).then_some(user_id),
        provider_id: (role == Role::Provider).then_some(user_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 43);
        assert_eq!(hash_refresh_token(&a.token), a.hash);
    }

    #[test]
    fn only_patients_and_providers_carry_their_ids() {
        let id = Uuid::now_v7();
        let now = Utc::now();
        let p = access_claims(id, Role::Patient, "i", "a", now, 600);
        assert_eq!((p.patient_id, p.provider_id), (Some(id), None));
        assert_eq!(p.exp - p.iat, 600);
        let d = access_claims(id, Role::Provider, "i", "a", now, 600);
        assert_eq!((d.patient_id, d.provider_id), (None, Some(id)));
        let s = access_claims(id, Role::Staff, "i", "a", now, 600);
        assert_eq!((s.patient_id, s.provider_id), (None, None));
    }
}

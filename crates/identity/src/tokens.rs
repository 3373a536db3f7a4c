//! Issuing access tokens, opaque refresh tokens and the other single-use
//! secrets identity hands out (email links, the second step of a login).

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use platform::auth::{smart, Claims, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A secret as handed to the client (never stored) and its stored hash.
pub struct RefreshSecret {
    pub token: String,
    pub hash: Vec<u8>,
}

/// 256 random bits, URL-safe; only the SHA-256 hash is kept server-side.
pub fn new_refresh_token() -> RefreshSecret {
    new_secret_token()
}

/// A single-use secret (refresh token, email link, MFA step): 256 random bits,
/// URL-safe base64; only its SHA-256 is stored.
pub fn new_secret_token() -> RefreshSecret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    RefreshSecret { token, hash }
}

pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The hash a secret token is stored under (the same SHA-256 for every kind).
pub fn hash_secret(token: &str) -> Vec<u8> {
    hash_refresh_token(token)
}

/// An access token's claims as identity signs them after a login: the shared
/// [`Claims`] and `sid`, the session (refresh family) it belongs to. Other
/// services read the shared claims and ignore `sid`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SessionClaims {
    #[serde(flatten)]
    pub claims: Claims,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

/// [`access_claims`] of a login's session `sid`.
pub fn session_claims(
    user_id: Uuid,
    role: Role,
    issuer: &str,
    audience: &str,
    now: DateTime<Utc>,
    ttl_seconds: i64,
    sid: Uuid,
) -> SessionClaims {
    SessionClaims {
        claims: access_claims(user_id, role, issuer, audience, now, ttl_seconds),
        sid: Some(sid),
    }
}

/// The `sid` of an access token whose signature was already verified (the
/// payload is read, not checked again).
pub fn session_of(verified_token: &str) -> Option<Uuid> {
    #[derive(serde::Deserialize)]
    struct Sid {
        sid: Option<Uuid>,
    }
    let payload = verified_token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Sid>(&bytes).ok()?.sid
}

/// The claims of a user's access token; patients and providers carry their id
/// under the name other services key on, and every token carries its role's
/// SMART scopes ([`smart::scopes_for`]).
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
        scope: Some(smart::scopes_for(role)),
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
    fn session_tokens_carry_their_sid_beside_the_shared_claims() {
        let keys =
            crate::SigningKeys::from_pems([("t", crate::SigningKeys::generate_pem().unwrap())])
                .unwrap();
        let (id, sid) = (Uuid::now_v7(), Uuid::now_v7());
        let claims = session_claims(id, Role::Patient, "i", "a", Utc::now(), 600, sid);
        let token = keys.sign(&claims).unwrap();
        assert_eq!(session_of(&token), Some(sid));
        let payload = token.split('.').nth(1).unwrap();
        let shared: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(shared.sub, id);
        assert_eq!(shared.patient_id, Some(id));
        let plain = keys
            .sign(&access_claims(id, Role::Patient, "i", "a", Utc::now(), 600))
            .unwrap();
        assert_eq!(session_of(&plain), None);
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

    #[test]
    fn tokens_carry_their_roles_scopes() {
        let now = Utc::now();
        for role in Role::ALL {
            let c = access_claims(Uuid::now_v7(), role, "i", "a", now, 600);
            assert_eq!(c.scope, Some(smart::scopes_for(role)));
        }
        let p = access_claims(Uuid::now_v7(), Role::Patient, "i", "a", now, 600);
        assert!(p.scopes().patient_context());
        assert!(p
            .scopes()
            .permits("Observation", smart::Interaction::Search));
    }
}

//! Access tokens for other services' tests and benchmarks: a throwaway signing
//! key, the verifier that trusts it, and tokens for any user and role, signed
//! exactly as identity signs them. Only with the `testing` feature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::Utc;
use platform::{
    auth::{KeySource, Role, Verifier},
    config::{DEFAULT_AUDIENCE, DEFAULT_ISSUER},
};
use uuid::Uuid;

use crate::{tokens::access_claims, SigningKeys};

pub struct TestIssuer {
    keys: SigningKeys,
}

impl Default for TestIssuer {
    fn default() -> Self {
        Self::new()
    }
}

impl TestIssuer {
    /// Tokens signed with `pem` (a key the service under test signs with too).
    pub fn from_pem(pem: &str) -> Self {
        Self {
            keys: SigningKeys::from_pems([("test", pem.to_owned())]).expect("load the key"),
        }
    }

    /// A fresh random Ed25519 key.
    pub fn new() -> Self {
        let pem = SigningKeys::generate_pem().expect("generate an Ed25519 key");
        Self {
            keys: SigningKeys::from_pems([("test", pem)]).expect("load the generated key"),
        }
    }

    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    /// A verifier that trusts this key (and nothing else).
    pub fn verifier(&self) -> Arc<Verifier> {
        Arc::new(Verifier::new(
            KeySource::Static(self.keys.jwks().clone()),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        ))
    }

    /// A 10-minute access token for `user_id` in `role`.
    pub fn token(&self, user_id: Uuid, role: Role) -> String {
        let claims = access_claims(
            user_id,
            role,
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
            Utc::now(),
            600,
        );
        self.keys.sign(&claims).expect("sign an access token")
    }
}

impl platform::testing::IssueTokens for TestIssuer {
    fn token(&self, user_id: Uuid, role: Role) -> String {
        TestIssuer::token(self, user_id, role)
    }
}

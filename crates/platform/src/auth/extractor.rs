//! `AuthUser`: the verified caller, so handlers never parse headers.

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header::AUTHORIZATION, request::Parts},
};

use super::{Claims, Role, TokenError, Verifier};
use crate::problem::Problem;

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct AuthUser(pub Claims);

impl AuthUser {
    pub fn claims(&self) -> &Claims {
        &self.0
    }

    pub fn role(&self) -> Role {
        self.0.role
    }

    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Problem> {
        if roles.contains(&self.0.role) {
            Ok(())
        } else {
            Err(Problem::forbidden())
        }
    }
}

/// The token in `Authorization: Bearer <token>`, if any.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)
            .ok_or(TokenError::Missing)
            .map_err(reject)?;
        let verifier = Arc::<Verifier>::from_ref(state);
        verifier.verify(token).await.map(AuthUser).map_err(reject)
    }
}

fn reject(e: TokenError) -> Problem {
    match e {
        TokenError::Missing => {
            Problem::unauthorized("Send an access token: `Authorization: Bearer <token>`.")
        }
        TokenError::KeysUnavailable => Problem::unavailable("Tokens cannot be checked right now."),
        TokenError::Expired => Problem::unauthorized("The access token has expired; refresh it."),
        other => {
            tracing::info!(reason = %other, "access token refused");
            Problem::unauthorized("The access token is invalid.")
        }
    }
}

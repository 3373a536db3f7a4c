//! Who is calling: their verified token, its SMART scopes, and what the API
//! should see of them. Every FHIR route but the public two needs one.

use std::sync::Arc;

use axum::{extract::FromRequestParts, http::request::Parts};
use platform::auth::{extractor::bearer_token, Claims, Role, Scopes, TokenError, Verifier};
use uuid::Uuid;

pub use platform::auth::Interaction;

use crate::{api::Origin, domain::outcome::Outcome, AppState};

pub struct Caller {
    pub claims: Claims,
    scopes: Scopes,
    pub origin: Origin,
}

impl Caller {
    pub fn role(&self) -> Role {
        self.claims.role
    }

    /// The patient this caller is, when they are one.
    pub fn patient_id(&self) -> Option<Uuid> {
        self.claims.patient_id
    }

    /// Refuse what the token's scopes do not grant (403, before any lookup).
    pub fn may(&self, resource: &str, interaction: Interaction) -> Result<(), Outcome> {
        if self.scopes.permits(resource, interaction) {
            Ok(())
        } else {
            Err(Outcome::forbidden(format!(
                "the access token's scopes do not allow {} on {resource}",
                match interaction {
                    Interaction::Create => "create",
                    Interaction::Read => "read",
                    Interaction::Update => "update",
                    Interaction::Delete => "delete",
                    Interaction::Search => "search",
                }
            )))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Outcome;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Outcome> {
        let token = bearer_token(parts).ok_or_else(|| {
            Outcome::new(
                401,
                "Send an access token: `Authorization: Bearer <token>`.",
            )
        })?;
        let verifier: &Arc<Verifier> = &state.verifier;
        let claims = verifier.verify(token).await.map_err(|e| match e {
            TokenError::KeysUnavailable => Outcome::new(503, "Tokens cannot be checked right now."),
            TokenError::Expired => Outcome::new(401, "The access token has expired; refresh it."),
            other => {
                tracing::info!(reason = %other, "access token refused");
                Outcome::new(401, "The access token is invalid.")
            }
        })?;
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Self {
            scopes: claims.scopes(),
            origin: Origin {
                token: token.to_owned(),
                forwarded_for: header("x-forwarded-for"),
                request_id: header("x-request-id"),
            },
            claims,
        })
    }
}

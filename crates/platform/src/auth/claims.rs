//! What an access token says about its holder.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::smart::Scopes;

/// A user's role: the contract's, so tokens and `user.registered` agree.
pub use contracts::Role;

/// Claims of a Carebook access token (EdDSA JWT, 10 minutes).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    /// Unique token id, for audit trails.
    pub jti: Uuid,
    /// Set when the user is a patient: the patient id other services key on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<Uuid>,
    /// Set when the user is a provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Uuid>,
    /// OAuth's `scope` claim: the SMART scopes granted (space-separated, see
    /// [`super::smart::scopes_for`]). Absent from tokens issued before scopes
    /// existed, which then grant no FHIR access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl Claims {
    /// The parsed `scope` claim; empty (granting nothing) when absent.
    pub fn scopes(&self) -> Scopes {
        self.scope.as_deref().map(Scopes::parse).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::smart::Interaction;

    fn claims(scope: Option<&str>) -> serde_json::Value {
        let mut c = serde_json::json!({
            "sub": Uuid::nil(), "role": "patient", "iss": "i", "aud": "a",
            "exp": 0, "iat": 0, "jti": Uuid::nil(),
        });
        if let Some(s) = scope {
            c["scope"] = s.into();
        }
        c
    }

    #[test]
    fn tokens_without_a_scope_claim_grant_no_scopes() {
        let c: Claims = serde_json::from_value(claims(None)).unwrap();
        assert_eq!(c.scope, None);
        assert_eq!(c.scopes(), crate::auth::smart::Scopes::default());
        assert!(!serde_json::to_value(&c)
            .unwrap()
            .as_object()
            .unwrap()
            .contains_key("scope"));
    }

    #[test]
    fn the_scope_claim_is_read_as_smart_scopes() {
        let c: Claims = serde_json::from_value(claims(Some("openid patient/*.rs"))).unwrap();
        assert!(c.scopes().permits("Observation", Interaction::Read));
        assert!(!c.scopes().permits("Observation", Interaction::Create));
        assert_eq!(
            serde_json::to_value(&c).unwrap()["scope"],
            "openid patient/*.rs"
        );
    }
}

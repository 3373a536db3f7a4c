//! What an access token says about its holder.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
}

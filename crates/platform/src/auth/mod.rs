//! Zero-trust authentication: every service verifies the access token itself,
//! against the identity service's published keys, and decides access itself.

pub mod actor;
pub mod claims;
pub mod extractor;
pub mod jwks;
pub mod revocation;
pub mod smart;
pub mod verifier;

pub use actor::{Actor, Decision};
pub use claims::{Claims, Role};
pub use extractor::AuthUser;
pub use jwks::{JwksPolicy, KeySource};
pub use revocation::{RevocationSource, Revocations};
pub use smart::{scopes_for, Interaction, Scope, Scopes};
pub use verifier::{TokenError, Verifier};

//! What identity publishes. It consumes nothing.

use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const USER_REGISTERED: &str = "user.registered";

/// `user.registered` v1: a new account. Carries name and email so directory and
/// notifications can keep their own read models (event-carried state transfer).
#[derive(Debug, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub role: Role,
    pub name: String,
    pub email: String,
}

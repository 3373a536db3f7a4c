//! What identity publishes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Event, Role, Service};

/// `user.registered` v1: a new account. Carries the name and email so the
/// directory and notifications keep their own read models (event-carried state
/// transfer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub role: Role,
    pub name: String,
    pub email: String,
}

impl Event for UserRegistered {
    type Payload = Self;
    const TYPE: &'static str = "user.registered";
    const VERSION: u32 = 1;
    const PRODUCER: Service = Service::Identity;
    const SUMMARY: &'static str = "An account was created (a patient registered, or an admin created a provider or staff account).";

    fn example() -> Self {
        Self {
            user_id: crate::examples::PATIENT,
            role: Role::Patient,
            name: "Ada Patient".into(),
            email: "ada@example.org".into(),
        }
    }
}

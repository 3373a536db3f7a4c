//! The caller as access decisions see it, and the yes/no those decisions give.

use uuid::Uuid;

use super::{AuthUser, Claims, Role};

/// Who is asking: the user, their role, and the patient or provider id they act as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Uuid,
    pub role: Role,
    /// Set for patients: the patient id they act as.
    pub patient_id: Option<Uuid>,
    /// Set for providers: the provider id they act as.
    pub provider_id: Option<Uuid>,
}

impl Actor {
    /// An actor whose patient or provider id is its user id (as identity issues them).
    pub fn new(user_id: Uuid, role: Role) -> Self {
        Self {
            user_id,
            role,
            patient_id: (role == Role::Patient).then_some(user_id),
            provider_id: (role == Role::Provider).then_some(user_id),
        }
    }
}

impl From<&Claims> for Actor {
    fn from(c: &Claims) -> Self {
        Self {
            user_id: c.sub,
            role: c.role,
            // An id claimed for another role never grants anything.
            patient_id: c.patient_id.filter(|_| c.role == Role::Patient),
            provider_id: c.provider_id.filter(|_| c.role == Role::Provider),
        }
    }
}

impl From<&AuthUser> for Actor {
    fn from(user: &AuthUser) -> Self {
        Self::from(user.claims())
    }
}

/// The outcome of an access decision without a reason to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn from_bool(allowed: bool) -> Self {
        if allowed {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }

    pub fn allowed(self) -> bool {
        self == Decision::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_role() {
        let id = Uuid::now_v7();
        assert_eq!(Actor::new(id, Role::Patient).patient_id, Some(id));
        assert_eq!(Actor::new(id, Role::Patient).provider_id, None);
        assert_eq!(Actor::new(id, Role::Provider).provider_id, Some(id));
        assert_eq!(Actor::new(id, Role::Staff).patient_id, None);
        assert!(Decision::from_bool(true).allowed());
        assert!(!Decision::from_bool(false).allowed());
    }
}

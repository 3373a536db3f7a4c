//! The append-only log of administrators' decisions on accounts.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// What an administrator did to an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    Disable,
    Enable,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Disable => "disable",
            AuditAction::Enable => "enable",
        }
    }
}

pub async fn append_audit(
    conn: &mut PgConnection,
    actor_id: Uuid,
    user_id: Uuid,
    action: AuditAction,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO account_audit (at, actor_id, user_id, action, reason) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(at)
    .bind(actor_id)
    .bind(user_id)
    .bind(action.as_str())
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

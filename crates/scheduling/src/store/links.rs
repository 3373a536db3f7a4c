//! Self-service links used: each works once.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::links::LinkAction;

/// Record that the `action` link of `appointment_id` at `version` was used;
/// `false` if it had been already.
pub async fn record_use(
    conn: &mut PgConnection,
    appointment_id: Uuid,
    version: i32,
    action: LinkAction,
) -> Result<bool, sqlx::Error> {
    let fresh = sqlx::query(
        "INSERT INTO appointment_link_uses (appointment_id, version, action) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(appointment_id)
    .bind(version)
    .bind(action.as_str())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(fresh == 1)
}

/// Whether the link was used already.
pub async fn used(
    db: impl sqlx::PgExecutor<'_>,
    appointment_id: Uuid,
    version: i32,
    action: LinkAction,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM appointment_link_uses
                        WHERE appointment_id = $1 AND version = $2 AND action = $3)",
    )
    .bind(appointment_id)
    .bind(version)
    .bind(action.as_str())
    .fetch_one(db)
    .await
}

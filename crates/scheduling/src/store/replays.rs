//! Looking up an `Idempotency-Key` before anything else, so a retry gets the
//! first answer even when the rules would refuse the request now (the minimum
//! notice has run out, the horizon or time off moved). Claiming and saving
//! stay `platform::idempotency`'s, in the transaction of the effect.

use sqlx::PgConnection;
use uuid::Uuid;

/// What was stored under a key: the request's digest and, once the first
/// request committed, its answer.
#[derive(Debug, sqlx::FromRow)]
pub struct Stored {
    pub request_hash: Vec<u8>,
    pub response_status: Option<i16>,
    pub response_body: Option<serde_json::Value>,
}

pub async fn lookup(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys
         WHERE user_id = $1 AND key = $2",
    )
    .bind(user)
    .bind(key)
    .fetch_optional(conn)
    .await
}

//! `Idempotency-Key`: the first response to a (user, key) is stored in the same
//! transaction as its effect; a retry of the same request gets it back.

use sqlx::PgConnection;
use uuid::Uuid;

pub enum Claim {
    /// First use: go ahead, and save the response before committing.
    Fresh,
    /// Seen before with this request: answer with the stored response.
    Replay {
        status: u16,
        body: serde_json::Value,
    },
    /// Seen before with a different request.
    Mismatch,
}

/// Claim `key` for `user`. A concurrent request with the same key waits on the
/// row's lock until the first one commits or rolls back.
pub async fn claim(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
    request_hash: &[u8],
) -> Result<Claim, sqlx::Error> {
    let fresh = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(user)
    .bind(key)
    .bind(request_hash)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if fresh {
        return Ok(Claim::Fresh);
    }
    let (hash, status, body): (Vec<u8>, Option<i16>, Option<serde_json::Value>) = sqlx::query_as(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(user)
    .bind(key)
    .fetch_one(conn)
    .await?;
    Ok(match (hash == request_hash, status, body) {
        (true, Some(status), Some(body)) => Claim::Replay {
            status: status as u16,
            body,
        },
        _ => Claim::Mismatch,
    })
}

pub async fn save(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
    status: u16,
    body: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE idempotency_keys SET response_status = $3, response_body = $4 WHERE user_id = $1 AND key = $2")
        .bind(user)
        .bind(key)
        .bind(status as i16)
        .bind(body)
        .execute(conn)
        .await?;
    Ok(())
}

//! `Idempotency-Key`: the first response to a (user, key) is stored in the same
//! transaction as its effect; a retry of the same request gets it back, and the
//! same key on a different request is refused. A service using it creates the
//! `idempotency_keys` table in its own migrations:
//!
//! ```sql
//! CREATE TABLE idempotency_keys (
//!     user_id uuid NOT NULL, key text NOT NULL, request_hash bytea NOT NULL,
//!     response_status smallint, response_body jsonb,
//!     created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (user_id, key));
//! ```
//!
//! A key lives `EventSettings::idempotency_ttl` (`IDEMPOTENCY_KEY_TTL_HOURS`,
//! default 24 h): the service's outbox relay deletes older ones on its
//! housekeeping timer ([`prune`]), after which the same key is a new request.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A client's `Idempotency-Key` with a digest of the request it came with.
#[derive(Clone, Debug)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: Vec<u8>,
}

/// The header is present but not 1 to 200 visible ASCII characters.
#[derive(Debug, thiserror::Error)]
#[error("Idempotency-Key must be 1 to 200 visible ASCII characters")]
pub struct InvalidKey;

impl IdempotencyKey {
    /// The key sent with a request, if any; `canonical_request` names everything
    /// that makes two requests the same (target, body fields, on whose behalf).
    pub fn from_headers(
        headers: &HeaderMap,
        canonical_request: &str,
    ) -> Result<Option<Self>, InvalidKey> {
        let Some(value) = headers.get("idempotency-key") else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 200 && k.chars().all(|c| c.is_ascii_graphic()))
            .ok_or(InvalidKey)?;
        Ok(Some(Self {
            key: key.to_owned(),
            request_hash: Sha256::digest(canonical_request.as_bytes()).to_vec(),
        }))
    }
}

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
    claim_with(conn, user, key, request_hash, None).await
}

/// Claim `key` and store its response in the same statement, for an effect
/// whose response is known before it is applied (a booking's: the appointment
/// it is about to insert). One round trip instead of [`claim`] then [`save`];
/// if the effect fails, the rollback takes the key with it, exactly as it would
/// take a claimed and saved one.
pub async fn claim_answered(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
    request_hash: &[u8],
    status: u16,
    body: &serde_json::Value,
) -> Result<Claim, sqlx::Error> {
    claim_with(conn, user, key, request_hash, Some((status, body))).await
}

async fn claim_with(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
    request_hash: &[u8],
    response: Option<(u16, &serde_json::Value)>,
) -> Result<Claim, sqlx::Error> {
    let fresh = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(user)
    .bind(key)
    .bind(request_hash)
    .bind(response.map(|(status, _)| status as i16))
    .bind(response.map(|(_, body)| body))
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

/// Store the response to a [`Claim::Fresh`] key, in the transaction of its effect.
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

/// Rows deleted per statement, so pruning never holds many locks for long.
const PRUNE_BATCH: i64 = 5_000;

/// Delete the keys created longer than `ttl` ago, with their stored answers;
/// returns how many. A database without `idempotency_keys` (a service that
/// takes no keys) has nothing to prune.
pub async fn prune(pool: &PgPool, ttl: std::time::Duration) -> Result<u64, sqlx::Error> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('idempotency_keys') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(0);
    }
    let mut deleted = 0;
    loop {
        let n = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (user_id, key) IN (
                 SELECT user_id, key FROM idempotency_keys
                 WHERE created_at < now() - make_interval(secs => $1) LIMIT $2)",
        )
        .bind(ttl.as_secs_f64())
        .bind(PRUNE_BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        deleted += n;
        if n < PRUNE_BATCH as u64 {
            return Ok(deleted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("idempotency-key", value.parse().unwrap());
        h
    }

    #[test]
    fn no_header_means_no_key() {
        assert!(IdempotencyKey::from_headers(&HeaderMap::new(), "x")
            .unwrap()
            .is_none());
    }

    #[test]
    fn the_same_request_hashes_alike_and_a_different_one_does_not() {
        let a = IdempotencyKey::from_headers(&headers("k-1"), "pay|1|EUR")
            .unwrap()
            .unwrap();
        let b = IdempotencyKey::from_headers(&headers("k-1"), "pay|1|EUR")
            .unwrap()
            .unwrap();
        let c = IdempotencyKey::from_headers(&headers("k-1"), "pay|2|EUR")
            .unwrap()
            .unwrap();
        assert_eq!(a.key, "k-1");
        assert_eq!(a.request_hash, b.request_hash);
        assert_ne!(a.request_hash, c.request_hash);
    }

    #[test]
    fn empty_long_or_invisible_keys_are_refused() {
        for bad in ["", &"k".repeat(201), "has space"] {
            assert!(
                IdempotencyKey::from_headers(&headers(bad), "x").is_err(),
                "{bad:?}"
            );
        }
        assert!(IdempotencyKey::from_headers(&headers(&"k".repeat(200)), "x").is_ok());
    }
}

//! Payment attempts: a payment or refund recorded before billing asks the
//! payment provider, so a retry of the request finds it (`domain::attempt`).

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::{
    domain::{
        attempt::{AttemptStatus, Failure},
        money::{Currency, Money},
        totals::{PaymentAmount, PaymentKind},
    },
    payment_provider::PaymentMethod,
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub kind: PaymentKind,
    pub amount_minor: i64,
    pub currency: Currency,
    pub method: PaymentMethod,
    pub reference: Option<String>,
    pub requested_by: Uuid,
    pub request_hash: Option<Vec<u8>>,
    pub status: AttemptStatus,
}

impl AttemptRow {
    pub fn amount(&self) -> Money {
        Money::new(self.amount_minor, self.currency)
    }
}

const ATTEMPT_COLUMNS: &str = "id, invoice_id, kind, amount_minor, currency, method, reference, \
     requested_by, request_hash, status";

/// The attempt `user` recorded under `Idempotency-Key` `key`, if any.
pub async fn by_key(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
) -> Result<Option<AttemptRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ATTEMPT_COLUMNS} FROM payment_attempts WHERE requested_by = $1 AND idempotency_key = $2"
    ))
    .bind(user)
    .bind(key)
    .fetch_optional(conn)
    .await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<AttemptRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ATTEMPT_COLUMNS} FROM payment_attempts WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The digest of the request `user` sent with `key` and was answered, from
/// before payments kept their idempotency in attempts (`idempotency_keys`).
pub async fn answered_before(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT request_hash FROM idempotency_keys
         WHERE user_id = $1 AND key = $2 AND response_status IS NOT NULL",
    )
    .bind(user)
    .bind(key)
    .fetch_optional(conn)
    .await
}

/// Money in flight on the invoice: its pending attempts.
pub async fn in_flight(
    conn: &mut PgConnection,
    invoice_id: Uuid,
) -> Result<Vec<PaymentAmount>, sqlx::Error> {
    let rows: Vec<(PaymentKind, i64)> = sqlx::query_as(
        "SELECT kind, amount_minor FROM payment_attempts WHERE invoice_id = $1 AND status = 'pending'",
    )
    .bind(invoice_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(kind, amount_minor)| PaymentAmount { kind, amount_minor })
        .collect())
}

/// An attempt to record before asking the provider.
pub struct NewAttempt<'a> {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub kind: PaymentKind,
    pub amount: Money,
    pub method: PaymentMethod,
    pub reference: Option<&'a str>,
    pub processor: &'a str,
    pub requested_by: Uuid,
    /// The client's `Idempotency-Key` and the digest of its request.
    pub key: Option<(&'a str, &'a [u8])>,
}

/// Record a pending attempt. `false`: the user's key is taken by another
/// request (one on another invoice that committed first); nothing was written.
pub async fn insert(conn: &mut PgConnection, a: &NewAttempt<'_>) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO payment_attempts (id, invoice_id, kind, amount_minor, currency, method, reference,
                                       processor, requested_by, idempotency_key, request_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT DO NOTHING",
    )
    .bind(a.id)
    .bind(a.invoice_id)
    .bind(a.kind)
    .bind(a.amount.amount_minor)
    .bind(a.amount.currency)
    .bind(a.method)
    .bind(a.reference)
    .bind(a.processor)
    .bind(a.requested_by)
    .bind(a.key.map(|(key, _)| key))
    .bind(a.key.map(|(_, hash)| hash))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Try a failed attempt again: pending once more.
pub async fn retry(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payment_attempts SET status = 'pending', failure = NULL, tries = tries + 1, updated_at = now()
         WHERE id = $1 AND status = 'failed'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The provider declined or could not be reached: nothing moved, nothing is
/// held back. Only a pending attempt fails (a concurrent try may have recorded it).
pub async fn fail<'e>(
    ex: impl PgExecutor<'e>,
    id: Uuid,
    failure: Failure,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payment_attempts SET status = 'failed', failure = $2, updated_at = now()
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(failure.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

/// The payments row with this attempt's id is recorded (same transaction).
pub async fn complete(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payment_attempts SET status = 'completed', failure = NULL, updated_at = now()
         WHERE id = $1 AND status <> 'completed'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

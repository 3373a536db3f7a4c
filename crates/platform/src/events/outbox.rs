//! Writing events: in the caller's transaction, next to the change they describe.

use sqlx::PgConnection;

use super::Envelope;

/// Add `event` to the outbox inside the caller's transaction. If the transaction
/// rolls back, the event never existed; if it commits, the relay will publish it.
pub async fn enqueue(conn: &mut PgConnection, event: &Envelope) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_value(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("INSERT INTO outbox (id, event_type, payload) VALUES ($1, $2, $3)")
        .bind(event.id)
        .bind(&event.event_type)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}

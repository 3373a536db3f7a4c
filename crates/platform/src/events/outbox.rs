//! Writing events: in the caller's transaction, next to the change they describe.

use sqlx::PgConnection;

use super::Envelope;

/// Add `event` to the outbox inside the caller's transaction. If the transaction
/// rolls back, the event never existed; if it commits, the relay will publish it.
pub async fn enqueue(conn: &mut PgConnection, event: &Envelope) -> Result<(), sqlx::Error> {
    enqueue_all(conn, &[event]).await
}

/// [`enqueue`] several events in one statement (one round trip).
pub async fn enqueue_all(conn: &mut PgConnection, events: &[&Envelope]) -> Result<(), sqlx::Error> {
    let mut ids = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    for event in events {
        ids.push(event.id);
        types.push(event.event_type.as_str());
        payloads.push(serde_json::to_value(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?);
    }
    sqlx::query(
        "INSERT INTO outbox (id, event_type, payload)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[])",
    )
    .bind(&ids)
    .bind(&types)
    .bind(&payloads)
    .execute(conn)
    .await?;
    Ok(())
}

//! What identity publishes goes through its outbox, in the transaction of the
//! change it announces.

use contracts::Event;
use platform::events::{outbox, Envelope};
use sqlx::PgConnection;

use crate::error::Error;

/// Enqueue `payload` as event `E` in the caller's transaction.
pub async fn publish<E: Event>(conn: &mut PgConnection, payload: &E::Payload) -> Result<(), Error> {
    let event = Envelope::of::<E>(payload)?;
    outbox::enqueue(conn, &event).await?;
    Ok(())
}

//! The outbox relay: publishes committed events with publisher confirms and marks
//! them sent, without holding a transaction while it waits for the broker.
//!
//! A round claims a batch of pending rows with a lease (`claimed_by`,
//! `claimed_until`; `FOR UPDATE SKIP LOCKED` in one short statement), publishes
//! them, waits for the confirms at most `EventSettings::confirm_timeout`, then
//! marks the confirmed rows published and releases the others. Any number of
//! replicas relay at once: none publishes a row another holds a lease on, and
//! the rows of a relay that died are claimed again once its lease ran out. A
//! crash between publish and mark republishes the row later: delivery is
//! at-least-once, and consumers are idempotent by event id.
//!
//! The relay also keeps its database tidy on a timer: published rows after 7
//! days, and `Idempotency-Key`s past their lifetime (where the service has them).

use std::{sync::Arc, time::Duration};

use lapin::{
    options::BasicPublishOptions, options::ConfirmSelectOptions, BasicProperties, Channel,
};
use sqlx::PgPool;
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Broker;

const BATCH: i64 = 100;
/// Published rows are kept this long for inspection, then deleted.
const RETENTION_DAYS: i32 = 7;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
}

/// Publishes one service's outbox.
#[derive(Clone)]
pub struct OutboxRelay {
    pool: PgPool,
    broker: Broker,
    interval: Duration,
    wake: Arc<Notify>,
    channel: Arc<Mutex<Option<Channel>>>,
    /// Names this relay's claims (`outbox.claimed_by`).
    id: Uuid,
    lease: Duration,
    confirm_timeout: Duration,
}

/// A claimed outbox row.
type Row = (Uuid, String, serde_json::Value);

/// What one round did: rows claimed, and of those, confirmed by the broker.
#[derive(Debug, Default, Clone, Copy)]
struct Relayed {
    claimed: usize,
    confirmed: usize,
}

impl OutboxRelay {
    /// A relay with the lease and confirm timeout of the broker's settings.
    pub fn new(pool: PgPool, broker: Broker, interval: Duration) -> Self {
        let settings = broker.settings();
        let (lease, confirm_timeout) = (settings.outbox_lease, settings.confirm_timeout);
        Self {
            pool,
            broker,
            interval,
            wake: Arc::new(Notify::new()),
            channel: Arc::new(Mutex::new(None)),
            id: Uuid::new_v4(),
            lease,
            confirm_timeout,
        }
    }

    /// The same relay with another lease length (tests of lease expiry).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Call after committing an event to publish it now instead of at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A publishing channel in confirm mode, reopened after a broker outage.
    async fn channel(&self) -> Result<Channel, lapin::Error> {
        let mut guard = self.channel.lock().await;
        if let Some(ch) = guard.as_ref() {
            if ch.status().connected() {
                return Ok(ch.clone());
            }
        }
        let ch = self.broker.channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        *guard = Some(ch.clone());
        Ok(ch)
    }

    /// Claim up to a batch of pending rows no live lease holds, oldest first,
    /// for this relay until the lease runs out. One statement: its transaction
    /// ends before anything is published.
    async fn claim(&self) -> Result<Vec<Row>, sqlx::Error> {
        let mut rows: Vec<Row> = sqlx::query_as(
            "UPDATE outbox SET claimed_by = $2, claimed_until = now() + make_interval(secs => $3)
             WHERE id IN (
                 SELECT id FROM outbox
                 WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING id, event_type, payload",
        )
        .bind(BATCH)
        .bind(self.id)
        .bind(self.lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        // UUIDv7: publish in the order the events were written.
        rows.sort_by_key(|(id, _, _)| *id);
        Ok(rows)
    }

    /// Give rows back unpublished, for the next round or another relay.
    async fn release(&self, ids: &[Uuid], error: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $3,
                 claimed_by = NULL, claimed_until = NULL
             WHERE id = ANY($1) AND claimed_by = $2 AND published_at IS NULL",
        )
        .bind(ids)
        .bind(self.id)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Publish one batch of pending events; returns how many the broker confirmed.
    pub async fn relay_once(&self) -> Result<usize, RelayError> {
        Ok(self.relay_batch().await?.confirmed)
    }

    async fn relay_batch(&self) -> Result<Relayed, RelayError> {
        let rows = self.claim().await?;
        if rows.is_empty() {
            return Ok(Relayed::default());
        }
        let ids: Vec<Uuid> = rows.iter().map(|(id, _, _)| *id).collect();
        let channel = match self.channel().await {
            Ok(ch) => ch,
            Err(e) => {
                *self.channel.lock().await = None;
                self.release(&ids, "broker unavailable").await?;
                return Err(e.into());
            }
        };
        let (confirmed, failed) = self.publish(&channel, &rows).await;
        if !failed.is_empty() {
            *self.channel.lock().await = None;
        }
        // One statement, so atomic without a transaction's two extra round
        // trips. Even if our lease ran out meanwhile: the broker has these.
        // Tokens and free text meant for one reader are not kept once
        // delivered: those rows are deleted, the others marked published.
        sqlx::query(
            "WITH sensitive AS (
                 DELETE FROM outbox WHERE id = ANY($1) AND event_type = ANY($2))
             UPDATE outbox SET published_at = now(), attempts = attempts + 1,
                 claimed_by = NULL, claimed_until = NULL
             WHERE id = ANY($1) AND published_at IS NULL AND event_type <> ALL($2)",
        )
        .bind(&confirmed)
        .bind(contracts::sensitive_types())
        .execute(&self.pool)
        .await?;
        if !failed.is_empty() {
            self.release(&failed, "not confirmed by broker").await?;
        }
        metrics::counter!("outbox_published_total").increment(confirmed.len() as u64);
        Ok(Relayed {
            claimed: rows.len(),
            confirmed: confirmed.len(),
        })
    }

    /// Publish the whole batch, then wait for all confirms (one round trip, not
    /// N), until the confirm timeout: the ids confirmed and the ids not.
    async fn publish(&self, channel: &Channel, rows: &[Row]) -> (Vec<Uuid>, Vec<Uuid>) {
        let mut pending = Vec::with_capacity(rows.len());
        for (id, event_type, payload) in rows {
            let body = serde_json::to_vec(payload).unwrap_or_default();
            let properties = BasicProperties::default()
                .with_message_id(id.to_string().into())
                .with_type(event_type.as_str().into())
                .with_content_type("application/json".into())
                .with_delivery_mode(2)
                // RabbitMQ checks it is this connection's user: consumers
                // learn who really published the event.
                .with_user_id(self.broker.user().into());
            let publish = channel
                .basic_publish(
                    self.broker.exchange(),
                    event_type,
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await;
            pending.push((*id, publish));
        }
        let deadline = tokio::time::Instant::now() + self.confirm_timeout;
        let mut confirmed = Vec::new();
        let mut failed = Vec::new();
        for (id, publish) in pending {
            match publish {
                Ok(confirm) => match tokio::time::timeout_at(deadline, confirm).await {
                    Ok(Ok(c)) if c.is_ack() => confirmed.push(id),
                    Ok(Ok(_)) => failed.push(id),
                    Ok(Err(e)) => {
                        tracing::warn!(event_id = %id, error = %e, "publish not confirmed");
                        failed.push(id)
                    }
                    Err(_) => {
                        tracing::warn!(event_id = %id, "no confirm from the broker in time");
                        failed.push(id)
                    }
                },
                Err(e) => {
                    tracing::warn!(event_id = %id, error = %e, "publish failed");
                    failed.push(id)
                }
            }
        }
        (confirmed, failed)
    }

    /// Record how far behind the relay is (`outbox_pending`, `outbox_lag_seconds`).
    async fn record_lag(&self) -> Result<(), sqlx::Error> {
        let (pending, lag): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at))::float8
             FROM outbox WHERE published_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        metrics::gauge!("outbox_pending").set(pending as f64);
        metrics::gauge!("outbox_lag_seconds").set(lag.unwrap_or(0.0));
        Ok(())
    }

    /// Delete published rows older than the retention, and idempotency keys
    /// past their lifetime.
    pub async fn prune(&self) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM outbox WHERE published_at < now() - make_interval(days => $1)")
            .bind(RETENTION_DAYS)
            .execute(&self.pool)
            .await?;
        let keys =
            crate::idempotency::prune(&self.pool, self.broker.settings().idempotency_ttl).await?;
        if keys > 0 {
            tracing::info!(deleted = keys, "expired idempotency keys deleted");
        }
        Ok(())
    }

    /// Relay until cancelled: drain whenever woken or every poll interval; back off
    /// while the broker or database is down.
    pub async fn run(self, cancel: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        let mut rounds: u64 = 0;
        let prune_every = self.broker.settings().prune_interval;
        let mut next_prune = tokio::time::Instant::now();
        loop {
            match self.relay_batch().await {
                // A full batch may have left more behind. A shorter one took
                // everything there was; what commits later wakes us again
                // (the permit waits in `wake`), so no empty claim follows.
                // Nothing confirmed: wait for the next poll, do not spin.
                Ok(r) if r.confirmed > 0 && r.claimed as i64 >= BATCH => {
                    backoff = Duration::from_millis(100);
                    continue;
                }
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox relay failed");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
            rounds += 1;
            if rounds.is_multiple_of(4) {
                if let Err(e) = self.record_lag().await {
                    tracing::warn!(error = %e, "outbox lag not measured");
                }
            }
            if tokio::time::Instant::now() >= next_prune {
                next_prune = tokio::time::Instant::now() + prune_every;
                if let Err(e) = self.prune().await {
                    tracing::warn!(error = %e, "outbox not pruned");
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
        tracing::info!("outbox relay stopped");
    }
}

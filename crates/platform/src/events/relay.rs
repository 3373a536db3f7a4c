//! The outbox relay: publishes committed events with publisher confirms and marks
//! them sent. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so any number of
//! replicas can relay at once without publishing a row twice concurrently. A crash
//! between publish and mark republishes the row later: delivery is at-least-once,
//! and consumers are idempotent by event id.

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
}

impl OutboxRelay {
    pub fn new(pool: PgPool, broker: Broker, interval: Duration) -> Self {
        Self {
            pool,
            broker,
            interval,
            wake: Arc::new(Notify::new()),
            channel: Arc::new(Mutex::new(None)),
        }
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

    /// Publish one batch of pending events; returns how many the broker confirmed.
    pub async fn relay_once(&self) -> Result<usize, RelayError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(Uuid, String, serde_json::Value)> = sqlx::query_as(
            "SELECT id, event_type, payload FROM outbox
             WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let channel = match self.channel().await {
            Ok(ch) => ch,
            Err(e) => {
                *self.channel.lock().await = None;
                return Err(e.into());
            }
        };

        // Publish the whole batch, then wait for all confirms: one round trip, not N.
        let mut pending = Vec::with_capacity(rows.len());
        for (id, event_type, payload) in &rows {
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
        let mut confirmed = Vec::new();
        let mut failed = Vec::new();
        for (id, publish) in pending {
            match publish {
                Ok(confirm) => match confirm.await {
                    Ok(c) if c.is_ack() => confirmed.push(id),
                    Ok(_) => failed.push(id),
                    Err(e) => {
                        tracing::warn!(event_id = %id, error = %e, "publish not confirmed");
                        failed.push(id)
                    }
                },
                Err(e) => {
                    tracing::warn!(event_id = %id, error = %e, "publish failed");
                    failed.push(id)
                }
            }
        }
        sqlx::query(
            "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1)",
        )
        .bind(&confirmed)
        .execute(&mut *tx)
        .await?;
        // Tokens and free text meant for one reader are not kept once delivered.
        sqlx::query("DELETE FROM outbox WHERE id = ANY($1) AND event_type = ANY($2)")
            .bind(&confirmed)
            .bind(contracts::sensitive_types())
            .execute(&mut *tx)
            .await?;
        if !failed.is_empty() {
            *self.channel.lock().await = None;
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = 'not confirmed by broker'
                 WHERE id = ANY($1)",
            )
            .bind(&failed)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        metrics::counter!("outbox_published_total").increment(confirmed.len() as u64);
        Ok(confirmed.len())
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

    async fn prune(&self) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM outbox WHERE published_at < now() - make_interval(days => $1)")
            .bind(RETENTION_DAYS)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Relay until cancelled: drain whenever woken or every poll interval; back off
    /// while the broker or database is down.
    pub async fn run(self, cancel: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        let mut rounds: u64 = 0;
        loop {
            match self.relay_once().await {
                Ok(n) if n > 0 => {
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
            if rounds.is_multiple_of(10_000) {
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

//! The idempotent consumer: one durable quorum queue per (service, purpose).
//!
//! Each delivery runs its handler in a transaction that also records the event id
//! in `processed_events`; the message is acknowledged only after that commit. A
//! redelivered event finds its id and is acknowledged without a second effect. A
//! malformed event is dead-lettered at once; a failing one is retried until the
//! queue's delivery limit, then dead-lettered: a poison message never blocks the queue.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::{
    message::Delivery,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
    },
    types::{AMQPValue, FieldTable},
};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::{broker::QueueTopology, Broker, Envelope};

/// Why a handler could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The event can never be applied (bad data, unknown version): dead-letter it now.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// Something that may work later (database hiccup): retry, up to the delivery limit.
    #[error("transient failure: {0}")]
    Transient(String),
}

impl HandleError {
    /// An event this consumer is not bound to (its bindings changed under it).
    pub fn unsupported(event_type: &str, version: u32) -> Self {
        HandleError::Malformed(format!("unsupported event {event_type} v{version}"))
    }
}

impl From<sqlx::Error> for HandleError {
    fn from(e: sqlx::Error) -> Self {
        HandleError::Transient(e.to_string())
    }
}

impl From<serde_json::Error> for HandleError {
    fn from(e: serde_json::Error) -> Self {
        HandleError::Malformed(e.to_string())
    }
}

impl From<super::DecodeError> for HandleError {
    fn from(e: super::DecodeError) -> Self {
        HandleError::Malformed(e.to_string())
    }
}

/// Applies events to a service's own state, inside the consumer's transaction.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError>;

    /// Work that must follow the commit of the event's effect — invalidating a
    /// cache, waking the outbox relay. Runs only once the transaction committed,
    /// so a concurrent reader cannot re-cache the state from before it.
    async fn after_commit(&self, _event: &Envelope) {}
}

/// One consumer: its name (`notifications.appointments`), queue and bindings.
#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    /// Stable name; keys `processed_events`, so never reuse it for another purpose.
    pub name: String,
    pub queue: String,
    /// Routing keys (`appointment.*`, `user.registered`).
    pub bindings: Vec<String>,
    /// Redeliveries (returns after a failure) before dead-lettering: the handler
    /// sees at most `delivery_limit + 1` attempts (quorum `x-delivery-limit`).
    pub delivery_limit: u32,
    pub prefetch: u16,
}

impl ConsumerSpec {
    pub fn new(queue_prefix: &str, name: &str, bindings: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            queue: format!("{queue_prefix}.{name}"),
            bindings: bindings.iter().map(|s| s.to_string()).collect(),
            delivery_limit: 5,
            prefetch: 16,
        }
    }

    /// The queue of one of the contract's subscriptions, bound to exactly its events.
    pub fn of(queue_prefix: &str, subscription: &contracts::Subscription) -> Self {
        Self::new(queue_prefix, subscription.name, subscription.events)
    }

    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dlq", self.queue)
    }
}

/// What happened to one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
}

/// Apply `event` once: record its id and run the handler in one transaction.
pub async fn apply_once(
    pool: &PgPool,
    consumer: &str,
    handler: &dyn EventHandler,
    event: &Envelope,
) -> Result<Outcome, HandleError> {
    let mut tx = pool.begin().await?;
    let fresh = sqlx::query(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(event.id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        return Ok(Outcome::Duplicate);
    }
    handler.handle(&mut tx, event).await?;
    tx.commit().await?;
    handler.after_commit(event).await;
    Ok(Outcome::Applied)
}

/// Consume until cancelled, reconnecting with backoff whenever the broker goes away.
pub async fn run(
    broker: Broker,
    pool: PgPool,
    spec: ConsumerSpec,
    handler: Arc<dyn EventHandler>,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    while !cancel.is_cancelled() {
        match consume(&broker, &pool, &spec, handler.as_ref(), &cancel).await {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(e) => {
                tracing::warn!(consumer = %spec.name, error = %e, retry_in_ms = backoff.as_millis() as u64, "consumer disconnected");
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracing::info!(consumer = %spec.name, "consumer stopped");
}

/// Declare a consumer's queue, dead-letter queue and bindings. `carebook migrate`
/// calls this for every consumer, so events published before a service first
/// runs (the demo seed's, a new deployment's) wait in its queue.
pub async fn declare(broker: &Broker, spec: &ConsumerSpec) -> lapin::Result<()> {
    let channel = broker.channel().await?;
    declare_on(broker, &channel, spec).await?;
    channel.close(200, "declared").await
}

async fn declare_on(
    broker: &Broker,
    channel: &lapin::Channel,
    spec: &ConsumerSpec,
) -> lapin::Result<()> {
    broker
        .declare_queue(
            channel,
            &QueueTopology {
                queue: &spec.queue,
                bindings: &spec.bindings,
                delivery_limit: spec.delivery_limit,
            },
        )
        .await
}

/// Declare the queue and process deliveries until the stream ends or we are cancelled.
pub async fn consume(
    broker: &Broker,
    pool: &PgPool,
    spec: &ConsumerSpec,
    handler: &dyn EventHandler,
    cancel: &CancellationToken,
) -> lapin::Result<()> {
    let channel = broker.channel().await?;
    declare_on(broker, &channel, spec).await?;
    channel
        .basic_qos(spec.prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("{}-{}", spec.name, Uuid::new_v4().simple());
    let mut deliveries = channel
        .basic_consume(
            &spec.queue,
            &tag,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(consumer = %spec.name, queue = %spec.queue, "consuming");
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => {
                let _ = channel.close(200, "shutdown").await;
                return Ok(());
            }
            next = deliveries.next() => next,
        };
        match next {
            // The message in hand is finished before cancellation is looked at again.
            Some(Ok(delivery)) => settle(broker, pool, spec, handler, delivery).await?,
            Some(Err(e)) => return Err(e),
            None => {
                return Err(lapin::Error::InvalidChannelState(
                    lapin::ChannelState::Closed,
                ))
            }
        }
    }
}

async fn settle(
    broker: &Broker,
    pool: &PgPool,
    spec: &ConsumerSpec,
    handler: &dyn EventHandler,
    delivery: Delivery,
) -> lapin::Result<()> {
    let event: Envelope = match serde_json::from_slice(&delivery.data) {
        Ok(e) => e,
        Err(e) => {
            // serde's message can quote field values (personal data): log where, not what.
            tracing::warn!(consumer = %spec.name, kind = ?e.classify(), line = e.line(), column = e.column(), "undecodable message dead-lettered");
            metrics::counter!("events_dead_lettered_total", "consumer" => spec.name.clone())
                .increment(1);
            return delivery.reject(BasicRejectOptions { requeue: false }).await;
        }
    };
    let publisher = delivery.properties.user_id().as_ref().map(|u| u.as_str());
    if let Some(violation) =
        super::contract_violation(&event, publisher, |s| broker.publisher_of(s))
    {
        // Only the producer the contract names may publish a type — as the
        // broker saw it publish, not as the envelope claims — in a version the
        // contract knows: anything else never reaches a handler.
        tracing::warn!(consumer = %spec.name, event_id = %event.id, event_type = %event.event_type,
            version = event.version, source = %event.source, publisher = publisher.unwrap_or("none"),
            violation, "event outside its contract dead-lettered");
        metrics::counter!("events_rejected_total", "consumer" => spec.name.clone(), "violation" => violation)
            .increment(1);
        metrics::counter!("events_dead_lettered_total", "consumer" => spec.name.clone())
            .increment(1);
        return delivery.reject(BasicRejectOptions { requeue: false }).await;
    }
    // `instrument`, not `span.enter()`: a guard held across `.await` leaves the
    // span entered on whichever thread the task moves from, which corrupted
    // tracing's registry under load and panicked the consumer.
    let span = tracing::info_span!("event", consumer = %spec.name, event_id = %event.id, event_type = %event.event_type);
    apply_and_answer(pool, spec, handler, &event, &delivery)
        .instrument(span)
        .await
}

/// Apply the event once and ack, reject or requeue the delivery by the outcome.
async fn apply_and_answer(
    pool: &PgPool,
    spec: &ConsumerSpec,
    handler: &dyn EventHandler,
    event: &Envelope,
    delivery: &Delivery,
) -> lapin::Result<()> {
    match apply_once(pool, &spec.name, handler, event).await {
        Ok(outcome) => {
            metrics::counter!("events_consumed_total", "consumer" => spec.name.clone(), "outcome" => format!("{outcome:?}")).increment(1);
            delivery.ack(BasicAckOptions::default()).await
        }
        Err(HandleError::Malformed(_)) => {
            // The reason may quote event data (personal data); the event id in the
            // span is enough to find the message in the dead-letter queue.
            tracing::warn!("malformed event dead-lettered");
            metrics::counter!("events_dead_lettered_total", "consumer" => spec.name.clone())
                .increment(1);
            delivery.reject(BasicRejectOptions { requeue: false }).await
        }
        Err(HandleError::Transient(reason)) => {
            let attempt = delivery_count(delivery) + 1;
            tracing::warn!(%reason, attempt, "event failed; will be redelivered");
            metrics::counter!("events_retried_total", "consumer" => spec.name.clone()).increment(1);
            // A short, growing pause so a failing dependency is not hammered.
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(20)))).await;
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    multiple: false,
                })
                .await
        }
    }
}

/// How many times a quorum queue has delivered this message before.
fn delivery_count(delivery: &Delivery) -> u32 {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-delivery-count").cloned())
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongUInt(n) => Some(n),
            AMQPValue::ShortInt(n) => u32::try_from(n).ok(),
            _ => None,
        })
        .unwrap_or(0)
}

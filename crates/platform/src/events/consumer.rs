//! The idempotent consumer: one durable quorum queue per (service, purpose).
//!
//! Each delivery runs its handler in a transaction that also records the event id
//! in `processed_events`; the message is acknowledged only after that commit. A
//! redelivered event finds its id and is acknowledged without a second effect.
//! The deliveries the broker has already sent when one is taken (up to the
//! prefetch) share that transaction: one BEGIN, one insert of their ids and
//! one COMMIT for the batch. If any of them fails, the batch is rolled back
//! and each is applied alone, so a failure only ever holds back its own event.
//!
//! A delivery that fails for a reason that may pass (`HandleError::Transient`:
//! the database is down) is published to the next retry queue with publisher
//! confirms and only then acknowledged, so it comes back after 1 s, 10 s, 1 min,
//! 10 min and 1 h (`EventSettings::retry_delays`), then goes to `<queue>.dlq`;
//! its history travels in `x-carebook-*` headers (`events::retry`). One that can
//! never be applied (undecodable, outside its contract, malformed) goes to the
//! dead-letter queue at once: a poison message never blocks the queue.
//!
//! Each consumer also forgets, on a timer, the events it applied longer ago than
//! `EventSettings::processed_retention`.

use std::{collections::HashSet, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures_util::{FutureExt, StreamExt};
use lapin::{
    message::Delivery,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
        BasicRejectOptions, ConfirmSelectOptions,
    },
    types::FieldTable,
    Channel,
};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::{
    broker::{publish_confirmed, Published, QueueTopology},
    retry::{self, Failure, Next},
    Broker, Envelope,
};

/// Why a handler could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The event can never be applied (bad data, unknown version): dead-letter it now.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// Something that may work later (database hiccup): retried after each of
    /// the retry delays, then dead-lettered.
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
    /// Redeliveries of one copy (quorum `x-delivery-limit`) before the broker
    /// dead-letters it: only a backstop for a consumer that dies holding a
    /// message (failures go through the retry queues). Part of the queue's
    /// arguments: changing it for an existing queue makes its redeclaration fail.
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
        retry::dead_letter_queue(&self.queue)
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
    let mut outcomes = apply_all(pool, consumer, handler, &[event]).await?;
    Ok(outcomes.pop().unwrap_or(Outcome::Duplicate))
}

/// Apply each of `events` once, in order, in one transaction: their ids are
/// recorded in one statement, and one BEGIN and COMMIT serve them all (a
/// round trip each is most of what an event costs the database). Any
/// handler's failure rolls back the whole batch; the caller then applies
/// the events one by one, so only the failing one is retried.
pub async fn apply_all(
    pool: &PgPool,
    consumer: &str,
    handler: &dyn EventHandler,
    events: &[&Envelope],
) -> Result<Vec<Outcome>, HandleError> {
    let mut tx = pool.begin().await?;
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let mut fresh: HashSet<Uuid> = sqlx::query_scalar(
        "INSERT INTO processed_events (consumer, event_id)
         SELECT $1, id FROM unnest($2::uuid[]) AS id
         ON CONFLICT DO NOTHING RETURNING event_id",
    )
    .bind(consumer)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        // `remove`: the same event twice in a batch is applied once.
        if fresh.remove(&event.id) {
            handler
                .handle(&mut tx, event)
                .instrument(event_span(consumer, event))
                .await?;
            outcomes.push(Outcome::Applied);
        } else {
            outcomes.push(Outcome::Duplicate);
        }
    }
    tx.commit().await?;
    for (event, outcome) in events.iter().zip(&outcomes) {
        if *outcome == Outcome::Applied {
            handler.after_commit(event).await;
        }
    }
    Ok(outcomes)
}

/// `instrument`, not `span.enter()`: a guard held across `.await` leaves the
/// span entered on whichever thread the task moves from, which corrupted
/// tracing's registry under load and panicked the consumer.
fn event_span(consumer: &str, event: &Envelope) -> tracing::Span {
    tracing::info_span!("event", consumer = %consumer, event_id = %event.id, event_type = %event.event_type)
}

/// Consume until cancelled, reconnecting with backoff whenever the broker goes
/// away; meanwhile forget old processed events on a timer.
pub async fn run(
    broker: Broker,
    pool: PgPool,
    spec: ConsumerSpec,
    handler: Arc<dyn EventHandler>,
    cancel: CancellationToken,
) {
    let consuming = async {
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
    };
    let settings = broker.settings();
    tokio::join!(
        consuming,
        prune_on_timer(
            &pool,
            &spec.name,
            settings.processed_retention,
            settings.prune_interval,
            &cancel
        )
    );
    tracing::info!(consumer = %spec.name, "consumer stopped");
}

/// Rows deleted per statement, so pruning never holds many locks for long.
const PRUNE_BATCH: i64 = 5_000;

/// Delete what `consumer` recorded in `processed_events` longer than `retention`
/// ago; returns how many rows went. An event redelivered after that would be
/// applied again, so the retention outlasts every retry delay together.
pub async fn prune_processed(
    pool: &PgPool,
    consumer: &str,
    retention: Duration,
) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let n = sqlx::query(
            "DELETE FROM processed_events WHERE consumer = $1 AND event_id IN (
                 SELECT event_id FROM processed_events
                 WHERE consumer = $1 AND processed_at < now() - make_interval(secs => $2)
                 LIMIT $3)",
        )
        .bind(consumer)
        .bind(retention.as_secs_f64())
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

async fn prune_on_timer(
    pool: &PgPool,
    consumer: &str,
    retention: Duration,
    every: Duration,
    cancel: &CancellationToken,
) {
    loop {
        match prune_processed(pool, consumer, retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(consumer, deleted = n, "old processed events forgotten"),
            Err(e) => tracing::warn!(consumer, error = %e, "processed events not pruned"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Declare a consumer's queue, retry queues, dead-letter queue and bindings. `carebook migrate`
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
    // Failed deliveries are published to their next queue on a channel of
    // their own, in confirm mode: the original is acknowledged only after the
    // broker confirmed the copy.
    let publisher = broker.channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
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
                let _ = publisher.close(200, "shutdown").await;
                return Ok(());
            }
            next = deliveries.next() => next,
        };
        let closed = || lapin::Error::InvalidChannelState(lapin::ChannelState::Closed);
        let mut batch = match next {
            Some(Ok(delivery)) => vec![delivery],
            Some(Err(e)) => return Err(e),
            None => return Err(closed()),
        };
        // With the same transaction, whatever else the broker has already sent
        // (up to the prefetch): under load the batch grows and each event
        // costs the database less; when idle it is the one message.
        let mut ended = None;
        while batch.len() < usize::from(spec.prefetch) {
            match deliveries.next().now_or_never() {
                Some(Some(Ok(delivery))) => batch.push(delivery),
                Some(Some(Err(e))) => {
                    ended = Some(e);
                    break;
                }
                Some(None) => {
                    ended = Some(closed());
                    break;
                }
                None => break,
            }
        }
        // The messages in hand are finished before cancellation is looked at again.
        settle(broker, &publisher, pool, spec, handler, batch).await?;
        if let Some(e) = ended {
            return Err(e);
        }
    }
}

/// Settle a batch of deliveries: those that cannot reach a handler go to
/// the dead-letter queue; the others are applied in one transaction and
/// acknowledged. If that fails, each is applied on its own, so one failing
/// event is retried or dead-lettered alone and the rest still apply.
async fn settle(
    broker: &Broker,
    publisher: &Channel,
    pool: &PgPool,
    spec: &ConsumerSpec,
    handler: &dyn EventHandler,
    batch: Vec<Delivery>,
) -> lapin::Result<()> {
    let mut admitted = Vec::with_capacity(batch.len());
    for delivery in batch {
        if let Some(a) = admit(broker, publisher, spec, delivery).await? {
            admitted.push(a);
        }
    }
    if admitted.len() > 1 {
        let events: Vec<&Envelope> = admitted.iter().map(|a| &a.event).collect();
        if let Ok(outcomes) = apply_all(pool, &spec.name, handler, &events).await {
            for outcome in outcomes {
                consumed(spec, outcome);
            }
            // One acknowledgement for the batch: the consumer's channel is its
            // own and every earlier delivery on it is settled (batches are
            // settled in order, and the rejected ones of this batch were
            // acknowledged when forwarded), so "this tag and all before it"
            // names exactly this batch.
            if let Some(last) = admitted.last() {
                last.delivery
                    .ack(BasicAckOptions { multiple: true })
                    .await?;
            }
            return Ok(());
        }
    }
    for a in admitted {
        let span = event_span(&spec.name, &a.event);
        async {
            let result = apply_once(pool, &spec.name, handler, &a.event).await;
            finish(broker, publisher, spec, a, result).await
        }
        .instrument(span)
        .await?;
    }
    Ok(())
}

/// A delivery whose event may reach the handler.
struct Admitted {
    delivery: Delivery,
    event: Envelope,
    /// Who published it, as the broker saw it (or as our own earlier copy says).
    published_by: Option<String>,
}

/// Decode a delivery and check it against its contract; one that fails is
/// dead-lettered here (`None`).
async fn admit(
    broker: &Broker,
    publisher: &Channel,
    spec: &ConsumerSpec,
    delivery: Delivery,
) -> lapin::Result<Option<Admitted>> {
    let headers = delivery.properties.headers().as_ref();
    let published_by = retry::trusted_publisher(
        delivery.properties.user_id().as_ref().map(|u| u.as_str()),
        headers,
        broker.user(),
    );
    let event: Envelope = match serde_json::from_slice(&delivery.data) {
        Ok(e) => e,
        Err(e) => {
            // serde's message can quote field values (personal data): log where, not what.
            tracing::warn!(consumer = %spec.name, kind = ?e.classify(), line = e.line(), column = e.column(), "undecodable message dead-lettered");
            let failure = Failure::Undecodable;
            forward(
                broker,
                publisher,
                spec,
                &delivery,
                published_by.as_deref(),
                failure,
            )
            .await?;
            return Ok(None);
        }
    };
    if let Some(violation) =
        super::contract_violation(&event, published_by.as_deref(), |s| broker.publisher_of(s))
    {
        // Only the producer the contract names may publish a type — as the
        // broker saw it publish, not as the envelope claims — in a version the
        // contract knows: anything else never reaches a handler.
        tracing::warn!(consumer = %spec.name, event_id = %event.id, event_type = %event.event_type,
            version = event.version, source = %event.source, publisher = published_by.as_deref().unwrap_or("none"),
            violation, "event outside its contract dead-lettered");
        metrics::counter!("events_rejected_total", "consumer" => spec.name.clone(), "violation" => violation)
            .increment(1);
        let failure = Failure::Contract(violation);
        forward(
            broker,
            publisher,
            spec,
            &delivery,
            published_by.as_deref(),
            failure,
        )
        .await?;
        return Ok(None);
    }
    Ok(Some(Admitted {
        delivery,
        event,
        published_by,
    }))
}

fn consumed(spec: &ConsumerSpec, outcome: Outcome) {
    let outcome = match outcome {
        Outcome::Applied => "Applied",
        Outcome::Duplicate => "Duplicate",
    };
    metrics::counter!("events_consumed_total", "consumer" => spec.name.clone(), "outcome" => outcome).increment(1);
}

/// Acknowledge an applied (or duplicate) event; send a failed one on.
async fn finish(
    broker: &Broker,
    publisher: &Channel,
    spec: &ConsumerSpec,
    a: Admitted,
    result: Result<Outcome, HandleError>,
) -> lapin::Result<()> {
    let by = a.published_by.as_deref();
    match result {
        Ok(outcome) => {
            consumed(spec, outcome);
            a.delivery.ack(BasicAckOptions::default()).await
        }
        // The reason may quote event data (personal data); the event id in the
        // span is enough to find the message in the dead-letter queue.
        Err(HandleError::Malformed(_)) => {
            forward(broker, publisher, spec, &a.delivery, by, Failure::Malformed).await
        }
        Err(HandleError::Transient(reason)) => {
            let failure = Failure::Transient(reason);
            forward(broker, publisher, spec, &a.delivery, by, failure).await
        }
    }
}

/// Send a failed delivery on to its next queue — the next retry queue for a
/// transient failure with a delay left, else the dead-letter queue — and
/// acknowledge it once the broker confirmed the copy.
async fn forward(
    broker: &Broker,
    publisher: &Channel,
    spec: &ConsumerSpec,
    delivery: &Delivery,
    published_by: Option<&str>,
    failure: Failure,
) -> lapin::Result<()> {
    let headers = delivery.properties.headers().as_ref();
    let attempts = retry::attempts(headers);
    let next = if failure.is_transient() {
        retry::next_step(attempts, &broker.settings().retry_delays)
    } else {
        Next::DeadLetter
    };
    let (exchange, routing_key) = match next {
        Next::Retry(delay) => (
            broker.retry_exchange(),
            retry::retry_queue(&spec.queue, delay),
        ),
        // `<queue>.dlq` is bound to the dead-letter exchange by the queue's name.
        Next::DeadLetter => (broker.dead_letter_exchange(), spec.queue.clone()),
    };
    let properties = delivery
        .properties
        .clone()
        .with_headers(retry::failure_headers(
            headers,
            published_by,
            &failure,
            chrono::Utc::now(),
        ))
        .with_delivery_mode(2)
        // Our user, as RabbitMQ requires; who published first is in the headers.
        .with_user_id(broker.user().into());
    let published = publish_confirmed(
        publisher,
        &exchange,
        &routing_key,
        &delivery.data,
        properties,
        broker.settings().confirm_timeout,
    )
    .await?;
    let consumer = spec.name.clone();
    match (published, next) {
        (Published::Confirmed, Next::Retry(delay)) => {
            if let Failure::Transient(reason) = &failure {
                tracing::warn!(%reason, attempt = attempts + 1, retry_in = %retry::format_delay(delay), "event failed; retrying later");
            }
            metrics::counter!("events_retried_total", "consumer" => consumer).increment(1);
            delivery.ack(BasicAckOptions::default()).await
        }
        (Published::Confirmed, Next::DeadLetter) => {
            tracing::warn!(%failure, attempts = attempts + 1, "event dead-lettered");
            metrics::counter!("events_dead_lettered_total", "consumer" => consumer).increment(1);
            delivery.ack(BasicAckOptions::default()).await
        }
        (Published::Unroutable, _) => {
            // Its queue is gone (deleted by hand): the broker's own dead-lettering
            // still keeps the message, in `<queue>.dlq`.
            tracing::error!(queue = %routing_key, "no queue for a failed event; rejected to the dead-letter queue");
            metrics::counter!("events_dead_lettered_total", "consumer" => consumer).increment(1);
            delivery.reject(BasicRejectOptions { requeue: false }).await
        }
        (Published::Refused, _) => {
            // Back to the queue, after a pause so a refusing broker is not hammered.
            tracing::warn!(queue = %routing_key, "the broker refused a failed event's copy; requeued");
            tokio::time::sleep(Duration::from_secs(1)).await;
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    multiple: false,
                })
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_follow_the_documented_scheme() {
        let spec = ConsumerSpec::of("carebook", &contracts::subscriptions::BILLING_APPOINTMENTS);
        assert_eq!(spec.queue, "carebook.billing.appointments");
        assert_eq!(
            spec.dead_letter_queue(),
            "carebook.billing.appointments.dlq"
        );
        assert_eq!(spec.name, "billing.appointments");
    }
}

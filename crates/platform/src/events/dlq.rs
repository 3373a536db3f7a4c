//! The dead-letter queues, for operators (`carebook events dlq`): what is in
//! one, a message's envelope and headers, and sending messages back to their
//! queue. Connect as the service that owns the queue: a replayed copy is then
//! published under the consumer's own broker user, the one whose
//! `x-carebook-publisher` header the consumer believes.
//!
//! Reading never removes anything: messages are taken without acknowledgement
//! and given back when the channel closes. A replay is safe to repeat: the
//! consumer recognises an event it applied (`processed_events`) and acknowledges
//! it without a second effect.

use lapin::{
    message::BasicGetMessage,
    options::{BasicAckOptions, BasicGetOptions, ConfirmSelectOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
    Channel,
};

use super::{
    broker::{publish_confirmed, Published},
    retry, Broker, Envelope,
};

/// What went wrong reading or replaying a dead-letter queue.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("{0} does not exist (has its service run, or `carebook migrate`?)")]
    NoQueue(String),
    #[error(
        "the broker did not take the copy for {0}; the message stays in the dead-letter queue"
    )]
    NotRepublished(String),
}

/// One dead letter as an operator sees it: everything but the event's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The event id (the message id the relay set, else the envelope's).
    pub id: Option<String>,
    pub event_type: Option<String>,
    pub version: Option<u32>,
    pub source: Option<String>,
    pub occurred_at: Option<String>,
    pub correlation_id: Option<String>,
    /// The broker user that published it (`user-id`, or the original
    /// publisher a consumer's copy names).
    pub publisher: Option<String>,
    /// Failed deliveries on its last run through the retry queues.
    pub attempts: u32,
    pub replays: u32,
    /// Why and when it first failed (`x-carebook-first-failure`), else the
    /// broker's own dead-lettering reason (`x-death`: `rejected`, `delivery_limit`).
    pub first_failure: Option<String>,
    pub first_failed_at: Option<String>,
    pub last_failure: Option<String>,
    pub last_failed_at: Option<String>,
    /// Every header, rendered as text.
    pub headers: Vec<(String, String)>,
    /// The body as received (the whole envelope, data included): shown only
    /// when asked for.
    pub body: Vec<u8>,
}

impl DeadLetter {
    fn read(message: &BasicGetMessage) -> Self {
        let properties = &message.delivery.properties;
        let headers = properties.headers().as_ref();
        let envelope: Option<Envelope> = serde_json::from_slice(&message.delivery.data).ok();
        let id = properties
            .message_id()
            .as_ref()
            .map(|m| m.to_string())
            .or_else(|| envelope.as_ref().map(|e| e.id.to_string()));
        let death = retry::broker_death(headers);
        let death_reason = death
            .as_ref()
            .map(|(reason, _)| format!("broker: {reason}"));
        let death_time = death
            .and_then(|(_, time)| time)
            .and_then(|t| chrono::DateTime::from_timestamp(i64::try_from(t).ok()?, 0))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let publisher = match retry::text(headers, retry::PUBLISHER) {
            Some(original) => (!original.is_empty()).then_some(original),
            None => properties.user_id().as_ref().map(|u| u.to_string()),
        };
        Self {
            id,
            event_type: envelope
                .as_ref()
                .map(|e| e.event_type.clone())
                .or_else(|| properties.kind().as_ref().map(|k| k.to_string())),
            version: envelope.as_ref().map(|e| e.version),
            source: envelope.as_ref().map(|e| e.source.clone()),
            occurred_at: envelope.as_ref().map(|e| {
                e.occurred_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }),
            correlation_id: envelope
                .as_ref()
                .and_then(|e| e.correlation_id.map(|c| c.to_string())),
            publisher,
            attempts: retry::attempts(headers),
            replays: retry::count(headers, retry::REPLAYS).unwrap_or(0),
            first_failure: retry::text(headers, retry::FIRST_FAILURE).or(death_reason.clone()),
            first_failed_at: retry::text(headers, retry::FIRST_FAILED_AT).or(death_time.clone()),
            last_failure: retry::text(headers, retry::LAST_FAILURE).or(death_reason),
            last_failed_at: retry::text(headers, retry::LAST_FAILED_AT).or(death_time),
            headers: headers
                .map(|h| {
                    h.inner()
                        .iter()
                        .map(|(k, v)| (k.to_string(), render(v)))
                        .collect()
                })
                .unwrap_or_default(),
            body: message.delivery.data.clone(),
        }
    }

    /// The event's `data`, pretty-printed (the raw body if it is not an envelope).
    pub fn payload(&self) -> String {
        match serde_json::from_slice::<Envelope>(&self.body) {
            Ok(e) => serde_json::to_string_pretty(&e.data).unwrap_or_default(),
            Err(_) => String::from_utf8_lossy(&self.body).into_owned(),
        }
    }
}

/// A header value as text (tables and arrays in brackets, recursively).
pub fn render(value: &AMQPValue) -> String {
    match value {
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Float(n) => n.to_string(),
        AMQPValue::Double(n) => n.to_string(),
        AMQPValue::DecimalValue(d) => format!("{}e-{}", d.value, d.scale),
        AMQPValue::ShortString(s) => s.to_string(),
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::FieldArray(a) => format!(
            "[{}]",
            a.as_slice()
                .iter()
                .map(render)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        AMQPValue::Timestamp(t) => {
            chrono::DateTime::from_timestamp(i64::try_from(*t).unwrap_or(0), 0)
                .map_or_else(|| t.to_string(), |d| d.to_rfc3339())
        }
        AMQPValue::FieldTable(t) => format!(
            "{{{}}}",
            t.inner()
                .iter()
                .map(|(k, v)| format!("{k}: {}", render(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        AMQPValue::ByteArray(b) => format!("<{} bytes>", b.len()),
        AMQPValue::Void => String::new(),
    }
}

/// Messages in `queue` (passive declare); an error if it does not exist.
async fn depth(broker: &Broker, queue: &str) -> Result<u32, DlqError> {
    // A passive declare of a missing queue closes its channel: use one of its own.
    let channel = broker.channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        durable: true,
        ..Default::default()
    };
    let declared = channel
        .queue_declare(queue, passive, FieldTable::default())
        .await;
    let _ = channel.close(200, "counted").await;
    declared
        .map(|q| q.message_count())
        .map_err(|_| DlqError::NoQueue(queue.to_owned()))
}

/// Take up to `limit` messages of `queue` without acknowledging them; they go
/// back when `channel` closes.
/// Close a reading channel and wait (briefly) until the broker has put back
/// what it held: the queue holds at least `expected` again. The broker
/// requeues after the close completes, so without this an operator's next
/// command (a replay straight after a list) could miss letters.
async fn give_back(broker: &Broker, channel: Channel, dlq: &str, expected: u32, why: &str) {
    let _ = channel.close(200, why).await;
    let deadline = tokio::time::Instant::now() + GIVE_BACK_WAIT;
    while tokio::time::Instant::now() < deadline {
        match depth(broker, dlq).await {
            Ok(n) if n < expected => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            _ => return,
        }
    }
    tracing::warn!(queue = dlq, "dead letters not yet back in their queue");
}

/// How long [`give_back`] waits for the broker to requeue.
const GIVE_BACK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn take(
    channel: &Channel,
    queue: &str,
    limit: usize,
) -> Result<Vec<BasicGetMessage>, DlqError> {
    let mut taken = Vec::new();
    while taken.len() < limit {
        match channel
            .basic_get(queue, BasicGetOptions { no_ack: false })
            .await?
        {
            Some(message) => taken.push(message),
            None => break,
        }
    }
    Ok(taken)
}

/// How many messages the dead-letter queue of `queue` holds, and the first
/// `limit` of them, left in place.
pub async fn list(
    broker: &Broker,
    queue: &str,
    limit: usize,
) -> Result<(u32, Vec<DeadLetter>), DlqError> {
    let dlq = retry::dead_letter_queue(queue);
    let count = depth(broker, &dlq).await?;
    let channel = broker.channel().await?;
    let taken = take(&channel, &dlq, limit.min(count as usize)).await;
    let letters = taken.map(|messages| messages.iter().map(DeadLetter::read).collect());
    give_back(broker, channel, &dlq, count, "listed").await;
    Ok((count, letters?))
}

/// The dead letter of `queue` with event id `id`, left in place.
pub async fn find(broker: &Broker, queue: &str, id: &str) -> Result<Option<DeadLetter>, DlqError> {
    let dlq = retry::dead_letter_queue(queue);
    let count = depth(broker, &dlq).await?;
    let channel = broker.channel().await?;
    let taken = take(&channel, &dlq, count as usize).await;
    let found = taken.map(|messages| {
        messages
            .iter()
            .map(DeadLetter::read)
            .find(|letter| letter.id.as_deref() == Some(id))
    });
    give_back(broker, channel, &dlq, count, "looked").await;
    found
}

/// Send the dead letters of `queue` (only the copies of event `id`, if
/// given) back to `queue`, through the retry exchange, each with a fresh run
/// of retries. A message leaves the dead-letter queue only once the broker
/// confirmed its copy. Returns how many were sent back.
pub async fn replay(broker: &Broker, queue: &str, id: Option<&str>) -> Result<usize, DlqError> {
    let dlq = retry::dead_letter_queue(queue);
    // Only what is there now: a message that fails again and comes back while
    // we replay is not sent around a second time.
    let count = depth(broker, &dlq).await?;
    let reader = broker.channel().await?;
    let publisher = broker.channel().await?;
    let result = replay_on(broker, &reader, &publisher, queue, &dlq, count as usize, id).await;
    // Unacknowledged messages (the ones not asked for) go back to the queue.
    let _ = publisher.close(200, "replayed").await;
    let kept = count.saturating_sub(result.as_ref().map_or(0, |n| *n as u32));
    give_back(broker, reader, &dlq, kept, "replayed").await;
    result
}

async fn replay_on(
    broker: &Broker,
    reader: &Channel,
    publisher: &Channel,
    queue: &str,
    dlq: &str,
    count: usize,
    id: Option<&str>,
) -> Result<usize, DlqError> {
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut replayed = 0;
    for _ in 0..count {
        let Some(message) = reader
            .basic_get(dlq, BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        let letter = DeadLetter::read(&message);
        if id.is_some() && letter.id.as_deref() != id {
            continue;
        }
        let properties = &message.delivery.properties;
        let headers = properties.headers().as_ref();
        let publisher_user = retry::trusted_publisher(
            properties.user_id().as_ref().map(|u| u.as_str()),
            headers,
            broker.user(),
        );
        let copy = properties
            .clone()
            .with_headers(retry::replay_headers(headers, publisher_user.as_deref()))
            .with_delivery_mode(2)
            .with_user_id(broker.user().into());
        let published = publish_confirmed(
            publisher,
            &broker.retry_exchange(),
            queue,
            &message.delivery.data,
            copy,
            broker.settings().confirm_timeout,
        )
        .await?;
        if published != Published::Confirmed {
            return Err(DlqError::NotRepublished(queue.to_owned()));
        }
        message.delivery.ack(BasicAckOptions::default()).await?;
        tracing::info!(
            queue,
            event_id = letter.id.as_deref().unwrap_or("unknown"),
            "dead letter replayed"
        );
        replayed += 1;
    }
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_render_as_text() {
        let mut death = FieldTable::default();
        death.insert("reason".into(), AMQPValue::LongString("rejected".into()));
        death.insert("count".into(), AMQPValue::LongLongInt(1));
        let deaths = AMQPValue::FieldArray(vec![AMQPValue::FieldTable(death)].into());
        assert_eq!(render(&deaths), "[{count: 1, reason: rejected}]");
        assert_eq!(
            render(&AMQPValue::Timestamp(0)),
            "1970-01-01T00:00:00+00:00"
        );
    }
}

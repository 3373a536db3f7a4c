//! The RabbitMQ connection: declares the topology and hands out channels,
//! reconnecting after the broker goes away.
//!
//! Topology (`<ex>` is `CAREBOOK_EVENTS_EXCHANGE`, `<q>` a consumer's queue):
//! - `<ex>` (topic): every event, routing key = its type; unroutable ones go to
//!   its alternate exchange `<ex>.unrouted` (fanout) and queue `<ex>.unrouted`.
//! - `<q>` (quorum), bound to `<ex>` by the consumer's routing keys and to
//!   `<ex>.retry` by its own name; it dead-letters (delivery limit, a rejected
//!   message) to `<ex>.dlx` with its own name as key.
//! - `<ex>.retry` (direct): `<q>.retry.<delay>` (quorum, message TTL = delay,
//!   dead-lettering at-least-once back to `<ex>.retry` with key `<q>`), each
//!   bound by its own name; a consumer publishes a failed delivery there.
//! - `<ex>.dlx` (direct): `<q>.dlq` (quorum), bound by `<q>`.
//!
//! Everything is declared idempotently by every consumer at start and by
//! `carebook migrate`.

use std::{sync::Arc, time::Duration};

use lapin::{
    options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable, ShortString},
    uri::AMQPUri,
    Channel, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::sync::Mutex;

use super::{retry, EventSettings};
use crate::{
    config::{CommonConfig, EventPublishers},
    tls::TlsIdentity,
};

/// Shared handle to the broker. Cheap to clone.
#[derive(Clone)]
pub struct Broker {
    uri: AMQPUri,
    exchange: String,
    connection: Arc<Mutex<Option<Connection>>>,
    /// The CA an `amqps://` broker's certificate must chain to.
    tls: Option<Arc<TlsIdentity>>,
    /// Who publishes each service's events (consumers check `user-id` against it).
    publishers: EventPublishers,
    /// Retry delays, retention, lease and confirm timeout.
    settings: Arc<EventSettings>,
}

/// Frames RabbitMQ may send us unless the URL says otherwise. Our events are a
/// few hundred bytes; the broker's default (128 KiB) only sizes buffers every
/// connection keeps for its lifetime.
const FRAME_MAX: u32 = 16 * 1024;

/// The URL as lapin reads it, with our frame size unless it sets one. The error
/// never repeats the URL: it holds the password.
fn parse_uri(url: &str) -> lapin::Result<AMQPUri> {
    let mut uri: AMQPUri = url.parse().map_err(|_| {
        lapin::Error::IOError(Arc::new(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the AMQP URL is not valid",
        )))
    })?;
    uri.query.frame_max.get_or_insert(FRAME_MAX);
    Ok(uri)
}

/// How a consumer's queue is declared.
pub struct QueueTopology<'a> {
    pub queue: &'a str,
    pub bindings: &'a [String],
    /// Redeliveries before a message is dead-lettered (quorum `x-delivery-limit`):
    /// at most `delivery_limit + 1` attempts.
    pub delivery_limit: u32,
}

impl Broker {
    /// Connect as the service `config` describes and declare the events
    /// exchange and its dead-letter exchange.
    pub async fn connect(config: &CommonConfig) -> lapin::Result<Self> {
        let broker = Self {
            uri: parse_uri(&config.amqp_url)?,
            exchange: config.events_exchange.clone(),
            connection: Arc::new(Mutex::new(None)),
            tls: config.tls.clone(),
            publishers: config.event_publishers.clone(),
            settings: Arc::new(config.events.clone()),
        };
        let channel = broker.channel().await?;
        broker.declare_exchanges(&channel).await?;
        Ok(broker)
    }

    /// The broker user this connection publishes as: RabbitMQ refuses an
    /// event whose `user-id` is any other.
    pub fn user(&self) -> &str {
        &self.uri.authority.userinfo.username
    }

    /// The broker user allowed to publish `producer`'s events.
    pub fn publisher_of(&self, producer: contracts::Service) -> String {
        self.publishers.user_of(producer)
    }

    pub fn exchange(&self) -> &str {
        &self.exchange
    }

    /// Where events no queue is bound for go, so they are kept, not dropped.
    pub fn unrouted_exchange(&self) -> String {
        format!("{}.unrouted", self.exchange)
    }

    /// Where messages go after their last failed delivery.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.exchange)
    }

    /// Where failed deliveries wait out their delay (`<q>.retry.<delay>`, keyed
    /// by the queue's name) and come back from (to `<q>`, keyed `<q>`).
    pub fn retry_exchange(&self) -> String {
        format!("{}.retry", self.exchange)
    }

    /// The event pipeline's settings (retry delays, retention, lease).
    pub fn settings(&self) -> &EventSettings {
        &self.settings
    }

    /// The retry queues of `queue`, shortest delay first.
    pub fn retry_queues(&self, queue: &str) -> Vec<String> {
        self.settings
            .retry_delays
            .iter()
            .map(|d| retry::retry_queue(queue, *d))
            .collect()
    }

    /// A new channel, reconnecting first if the connection was lost.
    pub async fn channel(&self) -> lapin::Result<Channel> {
        let mut guard = self.connection.lock().await;
        if let Some(conn) = guard.as_ref() {
            if conn.status().connected() {
                return conn.create_channel().await;
            }
        }
        let properties = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio)
            .with_connection_name(format!("carebook-{}", std::process::id()).into());
        // `amqps://` is verified against the internal CA (from the files in use now).
        let tls = lapin::tcp::OwnedTLSConfig {
            identity: None,
            cert_chain: self.tls.as_ref().map(|t| t.ca_pem()),
        };
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            Connection::connect_uri_with_config(self.uri.clone(), properties, tls),
        )
        .await
        .map_err(|_| lapin::Error::IOError(Arc::new(std::io::ErrorKind::TimedOut.into())))??;
        let channel = conn.create_channel().await?;
        *guard = Some(conn);
        Ok(channel)
    }

    /// True when the connection is up (used by `/readyz`).
    pub async fn is_connected(&self) -> bool {
        match self.connection.lock().await.as_ref() {
            Some(conn) => conn.status().connected(),
            None => false,
        }
    }

    async fn declare_exchanges(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        // Events published before any consumer declared its queue would be confirmed
        // and silently dropped; the alternate exchange keeps them in a queue an
        // operator can inspect and replay.
        let unrouted = self.unrouted_exchange();
        channel
            .exchange_declare(
                &unrouted,
                ExchangeKind::Fanout,
                durable,
                FieldTable::default(),
            )
            .await?;
        let mut quorum = FieldTable::default();
        quorum.insert("x-queue-type".into(), long_string("quorum"));
        let durable_queue = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .queue_declare(&unrouted, durable_queue, quorum)
            .await?;
        channel
            .queue_bind(
                &unrouted,
                &unrouted,
                "",
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut args = FieldTable::default();
        args.insert("alternate-exchange".into(), long_string(&unrouted));
        channel
            .exchange_declare(&self.exchange, ExchangeKind::Topic, durable, args)
            .await?;
        for direct in [self.dead_letter_exchange(), self.retry_exchange()] {
            channel
                .exchange_declare(
                    &direct,
                    ExchangeKind::Direct,
                    durable,
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }

    /// Declare a durable quorum queue bound to the events exchange, with its
    /// retry queues and bounded redelivery into `<queue>.dlq`. The queue's own
    /// arguments never change (RabbitMQ refuses to redeclare a queue with
    /// others): retry queues and bindings are only ever added.
    pub async fn declare_queue(
        &self,
        channel: &Channel,
        t: &QueueTopology<'_>,
    ) -> lapin::Result<()> {
        self.declare_exchanges(channel).await?;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let dlq = retry::dead_letter_queue(t.queue);
        let mut dlq_args = FieldTable::default();
        dlq_args.insert("x-queue-type".into(), long_string("quorum"));
        channel.queue_declare(&dlq, durable, dlq_args).await?;
        channel
            .queue_bind(
                &dlq,
                &self.dead_letter_exchange(),
                t.queue,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;

        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), long_string("quorum"));
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(t.delivery_limit as i32),
        );
        args.insert(
            "x-dead-letter-exchange".into(),
            long_string(&self.dead_letter_exchange()),
        );
        args.insert("x-dead-letter-routing-key".into(), long_string(t.queue));
        channel.queue_declare(t.queue, durable, args).await?;
        for key in t.bindings {
            channel
                .queue_bind(
                    t.queue,
                    &self.exchange,
                    key,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        self.declare_retry_queues(channel, t.queue).await
    }

    /// `<queue>.retry.<delay>` for every delay, each holding a message for its
    /// delay and then dead-lettering it back to `<queue>` through the retry
    /// exchange. At-least-once dead-lettering (quorum queues, RabbitMQ 3.10+):
    /// a message leaves a retry queue only once `<queue>` has it.
    async fn declare_retry_queues(&self, channel: &Channel, queue: &str) -> lapin::Result<()> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let exchange = self.retry_exchange();
        for delay in &self.settings.retry_delays {
            let name = retry::retry_queue(queue, *delay);
            let mut args = FieldTable::default();
            args.insert("x-queue-type".into(), long_string("quorum"));
            args.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
            );
            args.insert("x-dead-letter-exchange".into(), long_string(&exchange));
            args.insert("x-dead-letter-routing-key".into(), long_string(queue));
            args.insert(
                "x-dead-letter-strategy".into(),
                long_string("at-least-once"),
            );
            args.insert("x-overflow".into(), long_string("reject-publish"));
            channel.queue_declare(&name, durable, args).await?;
            channel
                .queue_bind(
                    &name,
                    &exchange,
                    &name,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        channel
            .queue_bind(
                queue,
                &exchange,
                queue,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
    }

    /// Close the connection (shutdown).
    pub async fn close(&self) {
        if let Some(conn) = self.connection.lock().await.take() {
            let _ = conn.close(200, "shutdown").await;
        }
    }
}

/// What the broker did with a message published with `mandatory` and confirms.
#[derive(Debug, PartialEq, Eq)]
pub enum Published {
    /// Confirmed and routed to a queue.
    Confirmed,
    /// Confirmed, but no queue is bound for its key: it was returned, not kept.
    Unroutable,
    /// The broker refused it (a queue refused more, an internal error).
    Refused,
}

/// Publish on a channel in confirm mode and wait up to `timeout` for the
/// broker's answer. A timeout is an error: whether the broker has the message
/// is unknown, so the caller must treat the channel as broken and keep its own
/// copy (the original delivery, the outbox row) unsettled.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: lapin::BasicProperties,
    timeout: Duration,
) -> lapin::Result<Published> {
    let options = lapin::options::BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let confirm = channel
        .basic_publish(exchange, routing_key, options, body, properties)
        .await?;
    let confirmation = tokio::time::timeout(timeout, confirm)
        .await
        .map_err(|_| lapin::Error::IOError(Arc::new(std::io::ErrorKind::TimedOut.into())))??;
    Ok(match confirmation {
        lapin::publisher_confirm::Confirmation::Ack(None) => Published::Confirmed,
        lapin::publisher_confirm::Confirmation::Ack(Some(_)) => Published::Unroutable,
        _ => Published::Refused,
    })
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

/// Name for a short string field (lapin's type for names and message ids).
pub fn short(s: &str) -> ShortString {
    s.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_frame_size_applies_unless_the_url_sets_one() {
        let ours = parse_uri("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(ours.query.frame_max, Some(FRAME_MAX));
        let theirs = parse_uri("amqp://guest:guest@127.0.0.1:5672/%2f?frame_max=65536").unwrap();
        assert_eq!(theirs.query.frame_max, Some(65536));
    }

    #[test]
    fn an_invalid_url_is_refused_without_repeating_it() {
        let err = parse_uri("amqp://guest:s3cret@[bad")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }
}

//! A tap on the test's events exchange: what a service actually relayed to the
//! broker (the outbox shows only what it wrote).

use std::time::Duration;

use futures_util::StreamExt;
use lapin::{
    options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions},
    types::FieldTable,
    Consumer,
};

use super::{TestBacking, WAIT};
use crate::events::Envelope;

/// An exclusive, auto-deleted queue bound to `routing_keys` on the test's exchange.
pub struct EventTap {
    consumer: Consumer,
}

impl EventTap {
    pub async fn bind(backing: &TestBacking, routing_keys: &[&str]) -> Self {
        let broker = backing.broker().await;
        let channel = broker.channel().await.expect("a channel");
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        let queue = channel
            .queue_declare("", exclusive, FieldTable::default())
            .await
            .expect("declare the tap");
        for key in routing_keys {
            channel
                .queue_bind(
                    queue.name().as_str(),
                    broker.exchange(),
                    key,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bind the tap");
        }
        let consumer = channel
            .basic_consume(
                queue.name().as_str(),
                "tap",
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume the tap");
        Self { consumer }
    }

    /// The next event and the routing key it was published under, within [`WAIT`].
    pub async fn next_with_key(&mut self) -> (String, Envelope) {
        let delivery = tokio::time::timeout(WAIT, self.consumer.next())
            .await
            .expect("an event in time")
            .expect("the tap is open")
            .expect("a delivery");
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        let event = serde_json::from_slice(&delivery.data).expect("an envelope");
        (delivery.routing_key.to_string(), event)
    }

    /// The next event, within [`WAIT`].
    pub async fn next(&mut self) -> Envelope {
        self.next_with_key().await.1
    }

    /// Nothing more arrives within half a second.
    pub async fn assert_quiet(&mut self) {
        if let Ok(Some(Ok(d))) =
            tokio::time::timeout(Duration::from_millis(500), self.consumer.next()).await
        {
            panic!("unexpected event: {}", String::from_utf8_lossy(&d.data));
        }
    }
}

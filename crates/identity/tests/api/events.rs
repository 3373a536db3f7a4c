//! `user.registered` leaves through the outbox and reaches the broker once.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::{
    options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions},
    types::FieldTable,
};
use platform::events::{Broker, Envelope};
use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn registration_publishes_user_registered() {
    let app = spawn_app().await;
    let cfg = &app.backing.config;
    let broker = Broker::connect(&cfg.amqp_url, &cfg.events_exchange)
        .await
        .unwrap();
    let channel = broker.channel().await.unwrap();
    let queue = channel
        .queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.name().as_str(),
            &cfg.events_exchange,
            "user.#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut consumer = channel
        .basic_consume(
            queue.name().as_str(),
            "test",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let r = app.register("paula@example.org").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let account: serde_json::Value = r.json().await.unwrap();

    let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
        .await
        .expect("event within 10 s")
        .unwrap()
        .unwrap();
    delivery.ack(BasicAckOptions::default()).await.unwrap();
    let event: Envelope = serde_json::from_slice(&delivery.data).unwrap();
    assert_eq!(event.event_type, "user.registered");
    assert_eq!(event.source, "identity");
    assert_eq!(event.version, 1);
    assert_eq!(event.data["user_id"], account["id"]);
    assert_eq!(event.data["role"], "patient");
    assert_eq!(delivery.routing_key.as_str(), "user.registered");

    // Nothing more: one registration, one event; and the outbox row is marked sent.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), consumer.next())
            .await
            .is_err()
    );
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(unsent, 0);
}

#[tokio::test]
async fn a_failed_registration_publishes_nothing() {
    let app = spawn_app().await;
    app.register("paula@example.org").await;
    app.register("paula@example.org").await;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(events, 1);
}
